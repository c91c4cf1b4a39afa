package httpapi

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetrics_ScrapeDuringTraffic scrapes /metrics of a real single node
// while producers and consumers run (under -race this checks the collector
// against the state machine and the counters), then checks the final figures.
func TestMetrics_ScrapeDuringTraffic(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.Registry = prometheus.NewRegistry() })
	e.waitReady()
	q := e.createQueue("mp", `{"name":"metered"}`)
	g := e.createGroup("mp", q, "readers")

	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for range 10 {
			e.produce("mp", q, `1`, `2`)
		}
	}()
	go func() {
		defer wg.Done()
		for range 5 {
			e.consume("mp", q, g, "messages", "max_msgs=2&time_wait=1&ack_wait=300")
		}
	}()
	go func() {
		defer wg.Done()
		for range 20 {
			e.ok("GET", "/metrics", "", 200, nil)
		}
	}()
	wg.Wait()

	// A partition may still be electing (produces go to those that lead):
	// on a single node each of them leads once elected.
	leads := `raftmq_raft_leader{group="mp/metered/0"} 1`
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		body = string(e.ok("GET", "/metrics", "", 200, nil))
		if strings.Contains(body, leads) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling a condition against a deadline
	}
	for _, want := range []string{
		`raftmq_messages_produced_total{project="mp",queue="metered"} 20`,
		leads,
		`raftmq_http_request_duration_seconds_count{code="201",door="dms",op="produce"} 10`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Every message is either still ready or in flight (none acknowledged).
	var ready, inflight float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, `raftmq_queue_messages{group="readers"`) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(line, `state="ready"`):
			ready += v
		case strings.Contains(line, `state="inflight"`):
			inflight += v
		}
	}
	if ready+inflight != 20 || inflight == 0 {
		t.Errorf("ready %v + in flight %v, want 20 with some in flight", ready, inflight)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// TestMetrics_MessageSeriesAreBounded: past maxMessageSeries label sets,
// deliveries of new groups are counted under "_other" rather than in a new
// series each.
func TestMetrics_MessageSeriesAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.series.max = 3
	for i := range 10 {
		p, q, g := m.series.labels("p", "q", fmt.Sprint("g", i))
		m.delivered.WithLabelValues(p, q, g).Inc()
	}
	if p, q, g := m.series.labels("p", "q", "g1"); g != "g1" || p != "p" || q != "q" {
		t.Fatalf("an admitted label set became %s %s %s", p, q, g)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series int
	var other float64
	for _, f := range fams {
		if f.GetName() != "raftmq_messages_delivered_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			series++
			if s.GetLabel()[0].GetValue() == otherSeries {
				other = s.GetCounter().GetValue()
			}
		}
	}
	if series != 4 || other != 7 {
		t.Fatalf("%d series, _other counted %v; want 3 and _other with 7", series, other)
	}
}
