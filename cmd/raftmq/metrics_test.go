package main

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"raftmq/cluster/clustertest"
)

// scrape fetches and parses a node's /metrics.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// labelNames returns the sorted label names of a family's first series.
func labelNames(f *dto.MetricFamily) []string {
	var out []string
	for _, l := range f.GetMetric()[0].GetLabel() {
		out = append(out, l.GetName())
	}
	slices.Sort(out)
	return out
}

// TestMetrics_FamiliesOfAPI runs a real node, drives messages through the
// CLI, and checks that every family API.md names is served with its labels.
func TestMetrics_FamiliesOfAPI(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	srv := "--server=" + p.URL()
	mustRun(t, "", "queue", "create", "mq", "--redrive", "2", srv)
	mustRun(t, "", "group", "create", "mq", "g", srv)
	mustRun(t, "", "send", "mq", "1", "2", "3", srv)
	mustRun(t, "", "receive", "mq", "g", "--max", "1", "--wait", "2", srv)
	// A partition that no request has needed yet may still be electing
	// its first leader (production timings): wait until all three lead.
	waitAllLeaders(t, p.URL(), 3)

	fams := scrape(t, p.URL())
	want := map[string]struct {
		typ    dto.MetricType
		labels string
	}{
		"raftmq_queue_messages":                 {dto.MetricType_GAUGE, "group,partition,project,queue,state"},
		"raftmq_queue_oldest_ready_age_seconds": {dto.MetricType_GAUGE, "group,partition,project,queue"},
		"raftmq_messages_produced_total":        {dto.MetricType_COUNTER, "project,queue"},
		"raftmq_messages_delivered_total":       {dto.MetricType_COUNTER, "group,project,queue"},
		"raftmq_messages_acked_total":           {dto.MetricType_COUNTER, "group,project,queue,status"},
		"raftmq_messages_deadlettered_total":    {dto.MetricType_COUNTER, "group,project,queue"},
		"raftmq_http_request_duration_seconds":  {dto.MetricType_HISTOGRAM, "code,door,op"},
		"raftmq_raft_leader":                    {dto.MetricType_GAUGE, "group"},
		"raftmq_raft_term":                      {dto.MetricType_GAUGE, "group"},
		"raftmq_raft_commit_index":              {dto.MetricType_GAUGE, "group"},
		"raftmq_raft_applied_index":             {dto.MetricType_GAUGE, "group"},
		"raftmq_log_fsync_duration_seconds":     {dto.MetricType_HISTOGRAM, ""},
		"raftmq_cluster_nodes":                  {dto.MetricType_GAUGE, "state"},
		"raftmq_disk_free_bytes":                {dto.MetricType_GAUGE, ""},
		"raftmq_disk_low":                       {dto.MetricType_GAUGE, ""},
		"raftmq_body_cache_hits_total":          {dto.MetricType_COUNTER, ""},
		"raftmq_body_cache_misses_total":        {dto.MetricType_COUNTER, ""},
		"raftmq_body_cache_bytes":               {dto.MetricType_GAUGE, ""},
	}
	for name, w := range want {
		f, ok := fams[name]
		if !ok {
			t.Errorf("family %s missing", name)
			continue
		}
		if f.GetType() != w.typ || strings.Join(labelNames(f), ",") != w.labels {
			t.Errorf("family %s: type %v labels %v, want %v %q", name, f.GetType(), labelNames(f), w.typ, w.labels)
		}
	}
	if t.Failed() {
		return
	}
	// The figures agree with what the CLI did: 3 produced, 1 delivered and
	// acknowledged, 2 ready, 0 in flight; this single node leads everything.
	sum := func(name string, match map[string]string) float64 {
		var total float64
	series:
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := match[l.GetName()]; ok && v != l.GetValue() {
					continue series
				}
			}
			total += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		return total
	}
	q := map[string]string{"project": "default", "queue": "mq"}
	checks := []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"raftmq_messages_produced_total", q, 3},
		{"raftmq_messages_delivered_total", q, 1},
		{"raftmq_messages_acked_total", map[string]string{"queue": "mq", "status": "success"}, 1},
		{"raftmq_queue_messages", map[string]string{"queue": "mq", "group": "g", "state": "ready"}, 2},
		{"raftmq_queue_messages", map[string]string{"queue": "mq", "group": "g", "state": "inflight"}, 0},
		{"raftmq_raft_leader", map[string]string{"group": "meta"}, 1},
		{"raftmq_raft_leader", map[string]string{"group": "default/mq/0"}, 1},
		{"raftmq_cluster_nodes", map[string]string{"state": "alive"}, 1},
	}
	for _, c := range checks {
		if got := sum(c.name, c.match); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.match, got, c.want)
		}
	}
	if n := fams["raftmq_log_fsync_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); n == 0 {
		t.Errorf("no fsync observed after produce")
	}
	if free := fams["raftmq_disk_free_bytes"].GetMetric()[0].GetGauge().GetValue(); free <= 0 {
		t.Errorf("raftmq_disk_free_bytes = %v", free)
	}
	if low := fams["raftmq_disk_low"].GetMetric()[0].GetGauge().GetValue(); low != 0 {
		t.Errorf("raftmq_disk_low = %v on a roomy disk", low)
	}
}

// waitAllLeaders polls GET /v1/cluster until n partitions have a leader.
func waitAllLeaders(t *testing.T, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var cv clusterView
		call(t, "GET", base+"/v1/cluster", nil, 200, &cv)
		led := 0
		for _, p := range cv.Partitions {
			if p.Leader != "" {
				led++
			}
		}
		if led == n && len(cv.Partitions) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d partitions have a leader after 20 s: %+v", led, n, cv.Partitions)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition against a deadline
	}
}
