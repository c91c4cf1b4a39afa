package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// binPath is the raftmq binary, built once for the tests that run against a
// real node.
var binPath string

func TestMain(m *testing.M) { os.Exit(clustertest.MainWithBinary(m, &binPath)) }

// startNode starts a one-node raftmq cluster as a process (fsync on, the
// defaults) and returns its URL.
func startNode(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a raftmq process")
	}
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	return p.URL()
}

// mustRun runs cfg and fails the test unless the run passed with no error
// at all, nothing lost and nothing delivered twice.
func mustRun(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	t.Logf("report:\n%s%s", text.String(), rep.Summary.Line())
	if !rep.OK() || len(rep.Fatal) > 0 {
		t.Errorf("run failed: %v", rep.Fatal)
	}
	if rep.ErrorTotal != 0 || len(rep.Errors) != 0 {
		t.Errorf("errors: %+v", rep.Errors)
	}
	v := rep.Verification
	if !v.Complete || v.Lost != 0 || v.Undelivered != 0 || v.Duplicates != 0 || v.Unconfirmed != 0 || v.Foreign != 0 || v.Misrouted != 0 {
		t.Errorf("verification %+v", v)
	}
	checkQueues(t, rep)
	if v.Confirmed == 0 || v.Delivered != v.Confirmed || v.Deliveries != v.Confirmed {
		t.Errorf("confirmed %d, delivered %d, deliveries %d", v.Confirmed, v.Delivered, v.Deliveries)
	}
	if v.GroupAvailable != 0 || v.GroupConsumed != v.Confirmed || v.FinalPollDeliveries != 0 {
		t.Errorf("group at the end: available %d consumed %d, final poll %d", v.GroupAvailable, v.GroupConsumed, v.FinalPollDeliveries)
	}
	for _, w := range rep.Warnings {
		// A producer slowed by the race detector may miss a send slot of
		// an open-loop phase; that is the machine, not the broker.
		if !strings.Contains(w, "send slots missed") {
			t.Errorf("warning: %s", w)
		}
	}
	return rep
}

// checkNodes checks the per-node figures of an error-free run against one
// node: every produce and ack request of the measured phases went to it
// once, none failed, and each has a latency.
func checkNodes(t *testing.T, rep *Report, url string) {
	t.Helper()
	if len(rep.Nodes) != 1 || rep.Nodes[0].Target != url || rep.Nodes[0].Errors != 0 {
		t.Fatalf("nodes %+v, want one, %s, without errors", rep.Nodes, url)
	}
	var produce, ack int64
	for _, p := range rep.Phases {
		if !IsWarmup(p.Name) {
			produce, ack = produce+p.ProduceRequests, ack+p.AckRequests
		}
	}
	want := map[string]int64{OpProduce: produce, OpAck: ack}
	for _, o := range rep.Nodes[0].Ops {
		if n, ok := want[o.Op]; ok && (o.Requests != n || o.Latency.Count != n || !o.Latency.P99.Valid()) {
			t.Errorf("node %s op %s: %d requests, %d latencies, p99 %v; the measured phases made %d", url, o.Op, o.Requests, o.Latency.Count, o.Latency.P99, n)
		}
		delete(want, o.Op)
	}
	if len(want) != 0 {
		t.Errorf("no per-node figures for %v: %+v", want, rep.Nodes[0].Ops)
	}
}

// checkQueues checks each queue's report: as many as configured, each used
// by its share of the workers, every message produced to it delivered from
// it exactly once, its group drained, and together the run's totals.
func checkQueues(t *testing.T, rep *Report) {
	t.Helper()
	c := rep.Config
	if len(rep.Queues) != c.Queues {
		t.Fatalf("%d queue reports, want %d", len(rep.Queues), c.Queues)
	}
	if rep.Queues[0].ID != c.QueueID || rep.Queues[0].GroupID != c.GroupID {
		t.Errorf("first queue %s/%s, config says %s/%s", rep.Queues[0].ID, rep.Queues[0].GroupID, c.QueueID, c.GroupID)
	}
	var confirmed, producers, consumers int64
	for i, q := range rep.Queues {
		if q.ID == "" || q.GroupID == "" || q.Producers < 1 || q.Consumers < 1 {
			t.Errorf("queue %d: %+v", i, q)
		}
		if q.Confirmed == 0 || q.Delivered != q.Confirmed || q.Deliveries != q.Confirmed || q.Lost != 0 || q.Duplicates != 0 {
			t.Errorf("queue %d %s: produced with 201 %d, delivered %d in %d deliveries, lost %d", i, q.ID, q.Confirmed, q.Delivered, q.Deliveries, q.Lost)
		}
		if q.GroupAvailable != 0 || q.GroupConsumed != q.Confirmed || q.FinalPollDeliveries != 0 {
			t.Errorf("queue %d %s: group available %d consumed %d, final poll %d", i, q.ID, q.GroupAvailable, q.GroupConsumed, q.FinalPollDeliveries)
		}
		confirmed += q.Confirmed
		producers += int64(q.Producers)
		consumers += int64(q.Consumers)
	}
	if confirmed != rep.Verification.Confirmed || producers != int64(c.Producers) || consumers != int64(c.Consumers) {
		t.Errorf("queues add up to %d confirmed, %d producers, %d consumers; the run: %d, %d, %d",
			confirmed, producers, consumers, rep.Verification.Confirmed, c.Producers, c.Consumers)
	}
}

// checkFiles writes the report files and checks them: JSON that decodes to
// the same summary with every phase, and a complete self-contained page.
func checkFiles(t *testing.T, rep *Report) {
	t.Helper()
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if back.Summary.Line() != rep.Summary.Line() || len(back.Phases) != len(rep.Phases) || back.Verification.Confirmed != rep.Verification.Confirmed {
		t.Fatalf("report.json does not hold the run")
	}
	for _, p := range back.Phases {
		if len(p.Series) == 0 && p.Name != PhaseVerify && p.Name != PhaseSettle && p.Name != PhaseWarmupD {
			t.Errorf("phase %s has no time series", p.Name)
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, FileHTML))
	if err != nil {
		t.Fatal(err)
	}
	checkHTML(t, string(page), rep)
}

// queuesLeft counts the queues of the run's project.
func queuesLeft(t *testing.T, url, project string) int {
	t.Helper()
	resp, err := http.Get(url + "/v1.0/" + project + "/queues")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var q struct {
		Total int `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil {
		t.Fatal(err)
	}
	return q.Total
}

// TestLoadtest_ShortW1OnOneNode runs every phase of w1, shrunk: produce
// 2,000 and drain them, 2 s mixed at maximum, settle, 2 s mixed at 500
// msg/s, verify.
func TestLoadtest_ShortW1OnOneNode(t *testing.T) {
	url := startNode(t)
	var progress bytes.Buffer
	rep := mustRun(t, Config{
		Targets: []string{url}, Workload: WorkloadW1, Messages: 2000, Duration: 2 * time.Second, Rate: 500,
		Producers: 4, Consumers: 4, Size: 512, Progress: &progress,
	})
	want := []string{PhaseWarmup, PhaseWarmupD, PhaseProduce, PhaseDrain, PhaseMixed, PhaseSettle, PhaseFixed, PhaseVerify}
	if len(rep.Phases) != len(want) {
		t.Fatalf("%d phases", len(rep.Phases))
	}
	for i, p := range rep.Phases {
		if p.Name != want[i] || p.TimedOut || p.FailedOps != 0 {
			t.Errorf("phase %d: %s timed out %v, failed %d", i, p.Name, p.TimedOut, p.FailedOps)
		}
	}
	if p := rep.Phase(PhaseProduce); p.Produced != 2000 || p.ProduceRequests != 200 {
		t.Errorf("produce phase produced %d in %d requests", p.Produced, p.ProduceRequests)
	}
	if p := rep.Phase(PhaseDrain); p.Acked != 2000 || p.Consumed != 2000 {
		t.Errorf("drain phase consumed %d acked %d", p.Consumed, p.Acked)
	}
	fixed := rep.Phase(PhaseFixed)
	if fixed.Produced < 600 || fixed.Produced > 1000 {
		t.Errorf("fixed phase at 500 msg/s for 2 s produced %d", fixed.Produced)
	}
	s := rep.Summary
	for name, m := range map[string]Metric{
		"produce_msgs_per_s": s.ProduceMsgsPerS, "produce_p99_ms": s.ProduceP99Ms, "consume_ack_msgs_per_s": s.ConsumeAckMsgsPerS,
		"consume_p99_ms": s.ConsumeP99Ms, "mixed_e2e_msgs_per_s": s.MixedE2EMsgsPerS, "mixed_e2e_p99_ms": s.MixedE2EP99Ms,
		"fixed_e2e_p50_ms": s.FixedE2EP50Ms, "fixed_e2e_p99_ms": s.FixedE2EP99Ms,
	} {
		if !m.Valid() || m <= 0 {
			t.Errorf("%s = %v", name, m)
		}
	}
	checkNodes(t, rep, url)
	checkFiles(t, rep)
	if !strings.Contains(progress.String(), "\r") || !strings.Contains(progress.String(), "msg/s") {
		t.Errorf("no progress line: %q", progress.String())
	}
	if n := queuesLeft(t, url, rep.Config.Project); n != 0 {
		t.Errorf("%d queues left in the run's project", n)
	}
}

// TestLoadtest_PrefillIsDrainedRetainedAndChecked: a produce run over two
// queues with --prefill 3000 (enough that the prefill phase
// lasts more than half a second, which the throughput chart needs to draw it): the prefill phase produces 3000 to each queue,
// then drains them (its drain rate measured from its drain start), and the
// loss and duplicate check covers the prefilled messages with the rest.
func TestLoadtest_PrefillIsDrainedRetainedAndChecked(t *testing.T) {
	url := startNode(t)
	rep := mustRun(t, Config{
		Targets: []string{url}, Workload: WorkloadProduce, Messages: 300, Prefill: 3000, Queues: 2,
		Producers: 3, Consumers: 2, Size: 256,
	})
	want := []string{PhaseWarmup, PhaseWarmupD, PhasePrefill, PhaseProduce, PhaseVerify}
	if len(rep.Phases) != len(want) {
		t.Fatalf("%d phases", len(rep.Phases))
	}
	for i, p := range rep.Phases {
		if p.Name != want[i] || p.TimedOut || p.FailedOps != 0 {
			t.Errorf("phase %d: %s timed out %v, failed %d", i, p.Name, p.TimedOut, p.FailedOps)
		}
	}
	pre := rep.Phase(PhasePrefill)
	if pre.Kind != KindPrefill || pre.Produced != 6000 || pre.Consumed != 6000 || pre.Acked != 6000 {
		t.Errorf("prefill produced %d, consumed %d, acked %d, want 6000 each", pre.Produced, pre.Consumed, pre.Acked)
	}
	if pre.DrainOffsetS <= 0 || pre.DrainOffsetS >= pre.DurationS || !pre.AckMsgsPerS.Valid() || !pre.ProduceMsgsPerS.Valid() {
		t.Errorf("prefill drain from %.3fs of %.3fs, produce %v ack %v msg/s", pre.DrainOffsetS, pre.DurationS, pre.ProduceMsgsPerS, pre.AckMsgsPerS)
	}
	if p := rep.Phase(PhaseProduce); p.Produced != 300 {
		t.Errorf("produce phase produced %d", p.Produced)
	}
	warm := rep.Phase(PhaseWarmup).Produced
	if v := rep.Verification; v.Confirmed != warm+6000+300 {
		t.Errorf("confirmed %d, want the warm-up's %d + 6000 + 300", v.Confirmed, warm)
	}
	for i, q := range rep.Queues {
		if q.Confirmed < 3000 {
			t.Errorf("queue %d: %d confirmed, want at least its 3000 prefilled", i, q.Confirmed)
		}
	}
	s := rep.Summary
	if s.Retained != 6000 || s.PrefillDrainMsgsPerS != pre.AckMsgsPerS || s.PrefillProduceMsgsPerS != pre.ProduceMsgsPerS {
		t.Errorf("summary %+v", s)
	}
	if line := s.Line(); !strings.HasSuffix(line, " retained=6000") || !strings.Contains(line, " lost=0 duplicates=0 prefill_produce_msgs_per_s=") {
		t.Errorf("summary line %q", line)
	}
	if rep.Config.Prefill != 3000 {
		t.Errorf("config prefill %d", rep.Config.Prefill)
	}
	checkFiles(t, rep)
	var page, text bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	rep.WriteText(&text)
	if !strings.Contains(page.String(), "Prefill: 6000 messages") || !strings.Contains(page.String(), "drain from") {
		t.Errorf("report.html shows no prefill")
	}
	if !strings.Contains(text.String(), "6000 messages retained from here on") || !strings.Contains(text.String(), "3000 per queue") {
		t.Errorf("text summary shows no prefill:\n%s", text.String())
	}
}

// TestLoadtest_ShortW2OnOneNode runs every phase of w2 over 3 queues instead
// of 12, shrunk: 5 producers and 4 consumers (so queue 0 has two of each, and
// queues 1 and 2 one or two), produce 900, 1 s mixed at maximum (at most
// 3,000 messages, so that settle is short), 1 s at 300 msg/s in all. Every queue must get and give back its messages (checked by
// mustRun), the counts are totals over the queues, and teardown deletes
// every queue.
func TestLoadtest_ShortW2OnOneNode(t *testing.T) {
	url := startNode(t)
	rep := mustRun(t, Config{
		Targets: []string{url}, Workload: WorkloadW2, Queues: 3, Producers: 5, Consumers: 4,
		Messages: 900, Duration: time.Second, Rate: 300, Size: 256, MaxMixedMessages: 3000,
	})
	if rep.Config.Queues != 3 || len(rep.Phases) != 8 {
		t.Fatalf("%d queues, %d phases", rep.Config.Queues, len(rep.Phases))
	}
	if p := rep.Phase(PhaseProduce); p.Produced != 900 || p.ProduceRequests != 90 {
		t.Errorf("produce phase produced %d in %d requests, want 900 in 90 over all queues", p.Produced, p.ProduceRequests)
	}
	if p := rep.Phase(PhaseDrain); p.Acked != 900 {
		t.Errorf("drain phase acked %d of the 900", p.Acked)
	}
	// The open-loop rate is the total over the queues: 300 msg/s for 1 s.
	if p := rep.Phase(PhaseFixed); p.Produced < 200 || p.Produced > 400 {
		t.Errorf("fixed phase at 300 msg/s for 1 s produced %d", p.Produced)
	}
	for i, want := range [][2]int{{2, 2}, {2, 1}, {1, 1}} {
		if q := rep.Queues[i]; q.Producers != want[0] || q.Consumers != want[1] {
			t.Errorf("queue %d: %d producers, %d consumers, want %v", i, q.Producers, q.Consumers, want)
		}
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, q := range rep.Queues {
		if !strings.Contains(text.String(), q.ID) || !strings.Contains(page.String(), q.ID) {
			t.Errorf("queue %s is not in the text or page report", q.ID)
		}
	}
	checkFiles(t, rep)
	if n := queuesLeft(t, url, rep.Config.Project); n != 0 {
		t.Errorf("%d queues left in the run's project", n)
	}
}

// TestLoadtest_QueueQuotaStopsSetupAndCleansUp: a node that allows 2 queues
// per project refuses the third of --queues 3; setup is fatal, names the
// queue and the answer, and the two queues it created are deleted.
func TestLoadtest_QueueQuotaStopsSetupAndCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a raftmq process")
	}
	p := clustertest.NewProcess(t, binPath, "n1", "--max-queues-per-project", "2")
	p.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{Targets: []string{p.URL()}, Workload: WorkloadProduce, Queues: 3, Messages: 30})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Fatal) == 0 || !strings.HasPrefix(rep.Fatal[0], "setup: queue 3 of 3:") ||
		!strings.Contains(rep.Fatal[0], "quota") || len(rep.Phases) != 0 {
		t.Fatalf("fatal %v, phases %d", rep.Fatal, len(rep.Phases))
	}
	if len(rep.Queues) != 2 || rep.Queues[0].ID == "" || rep.Queues[1].ID == "" {
		t.Errorf("queues in the report: %+v", rep.Queues)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings %v", rep.Warnings)
	}
	if n := queuesLeft(t, p.URL(), rep.Config.Project); n != 0 {
		t.Errorf("%d queues left in the run's project", n)
	}
}

// TestLoadtest_FIFODrainAndMixed runs a FIFO queue: fill 500 and drain them,
// then a separate 2 s open-loop mixed run.
func TestLoadtest_FIFODrainAndMixed(t *testing.T) {
	url := startNode(t)
	rep := mustRun(t, Config{Targets: []string{url}, Workload: WorkloadDrain, Messages: 500, QueueMode: "FIFO",
		Producers: 2, Consumers: 3})
	if rep.Config.QueueMode != "FIFO" || rep.Phase(PhaseDrain).Acked != 500 {
		t.Fatalf("mode %s, drained %d", rep.Config.QueueMode, rep.Phase(PhaseDrain).Acked)
	}
	if s := rep.Summary; !s.ConsumeAckMsgsPerS.Valid() || s.ProduceMsgsPerS.Valid() || s.MixedE2EP99Ms.Valid() {
		t.Errorf("drain summary: %s", s.Line())
	}
	rep = mustRun(t, Config{Targets: []string{url, url}, Workload: WorkloadMixed, Duration: 2 * time.Second, Rate: 200,
		QueueMode: "FIFO", Producers: 2, Consumers: 2})
	if s := rep.Summary; !s.FixedE2EP99Ms.Valid() || s.MixedE2EMsgsPerS.Valid() {
		t.Errorf("open-loop mixed summary: %s", s.Line())
	}
	checkFiles(t, rep)
}

// TestLoadtest_UnreachableTargetIsFatal needs no node: nothing listens on
// the target, so setup fails, and the report says so.
func TestLoadtest_UnreachableTargetIsFatal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rep, err := Run(context.Background(), Config{Targets: []string{"http://" + addr}, Workload: WorkloadProduce, Messages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Fatal) == 0 || !strings.HasPrefix(rep.Fatal[0], "setup:") || len(rep.Phases) != 0 {
		t.Fatalf("fatal %v, phases %d", rep.Fatal, len(rep.Phases))
	}
	if rep.Verification.Complete {
		t.Error("verification of a run that never started is complete")
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Op != "create-queue" || rep.Errors[0].Count != maxAttempts {
		t.Fatalf("errors %+v", rep.Errors)
	}
	if s := rep.Summary.Line(); !strings.HasPrefix(s, "produce_msgs_per_s=NaN ") || !strings.HasSuffix(s, " lost=0 duplicates=0") {
		t.Fatalf("summary %s", s)
	}
}

func TestLoadtest_InvalidConfigIsRefused(t *testing.T) {
	if _, err := Run(context.Background(), Config{Workload: "w1"}); err == nil {
		t.Fatal("Run accepted a config without targets")
	}
}

// TestLoadtest_CancelStopsTheRunAndCleansUp: cancelling the context ends a
// 60 s mixed run at once; the run is failed, loss is not judged, and the
// queue is still deleted.
func TestLoadtest_CancelStopsTheRunAndCleansUp(t *testing.T) {
	url := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, Config{Targets: []string{url}, Workload: WorkloadMixed, Duration: time.Minute, Producers: 2, Consumers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("cancelled run took %v", d)
	}
	if rep.OK() || rep.Verification.Complete || rep.Verification.Lost != 0 {
		t.Errorf("ok %v, verification %+v", rep.OK(), rep.Verification)
	}
	if !strings.Contains(strings.Join(rep.Fatal, "\n"), "interrupted") {
		t.Errorf("fatal %v", rep.Fatal)
	}
	if n := queuesLeft(t, url, rep.Config.Project); n != 0 {
		t.Errorf("%d queues left in the run's project", n)
	}
}

// TestLoadtest_HTTPSWithCredentials runs against a node that serves HTTPS
// only and requires signed requests: --ca verifies it, the admin key signs
// (a run's project is its own, so a project key would not do). Without the
// key every request is refused (401), and without the CA no request gets
// through the handshake.
func TestLoadtest_HTTPSWithCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a raftmq process")
	}
	pki := clustertest.NewTestPKI(t)
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("LT_ADMIN LT_SECRET *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := clustertest.NewProcess(t, binPath, "n1", "--credentials", creds,
		"--tls-cert", pki.CertFile, "--tls-key", pki.KeyFile)
	p.TLS = pki.ClientTLS()
	p.Start(t)
	base := Config{Targets: []string{p.URL()}, Workload: WorkloadDrain, Messages: 200, CAFile: pki.CAFile}
	ok := base
	ok.AccessKey, ok.SecretKey = "LT_ADMIN", "LT_SECRET"
	mustRun(t, ok)

	for name, c := range map[string]struct {
		cfg  Config
		want string // in the fatal error
	}{
		"unsigned":   {base, "401"},
		"wrong key":  {func() Config { c := ok; c.SecretKey = "nope"; return c }(), "401"},
		"without CA": {func() Config { c := ok; c.CAFile = ""; return c }(), "certificate"},
	} {
		cfg := c.cfg
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		rep, err := Run(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.OK() || len(rep.Fatal) == 0 || !strings.Contains(strings.Join(rep.Fatal, " "), c.want) {
			t.Fatalf("%s: ok %v, fatal %v, want a fatal error with %q", name, rep.OK(), rep.Fatal, c.want)
		}
	}
}
