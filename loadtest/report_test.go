package loadtest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sampleReport builds a w1-shaped report from synthetic phase data, through
// the same phaseRun bookkeeping the workers use.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	start := time.Unix(1_700_000_000, 0)
	cfg := Config{Targets: []string{"http://127.0.0.1:9000"}, Workload: WorkloadW1, NoWarmup: true, Now: func() time.Time { return start }}.Resolved()
	rep := &Report{Tool: "raftmq loadtest", RunID: "abc", Started: start, Finished: start.Add(70 * time.Second),
		ElapsedS: 70, Phases: []PhaseReport{}, Fatal: []string{}, Warnings: []string{}}
	offset := time.Duration(0)
	for i, spec := range cfg.Plan() {
		ph := newPhaseRun(spec, i, start.Add(offset), cfg)
		d := 5 * time.Second
		if spec.Kind == KindMixed {
			d = spec.Duration
		}
		for s := range int(d / time.Second) {
			at := ph.start.Add(time.Duration(s)*time.Second + 500*time.Millisecond)
			n := int64(1000 + 100*s)
			if spec.Kind != KindDrain {
				ph.produced.Add(n)
				storeMax(&ph.lastProduced, at.UnixNano())
				ph.series.add(at, func(p *SecondPoint) { p.Produced += n })
				ph.hist[OpProduce].Record(time.Duration(s+1) * time.Millisecond)
			}
			if spec.Kind != KindProduce {
				ph.consumed.Add(n)
				ph.acked.Add(n)
				storeMax(&ph.lastConsumed, at.UnixNano())
				storeMax(&ph.lastAcked, at.UnixNano())
				ph.series.add(at, func(p *SecondPoint) { p.Consumed += n; p.Acked += n })
				ph.hist[OpConsume].Record(2 * time.Millisecond)
				ph.hist[OpAck].Record(3 * time.Millisecond)
				ph.hist[OpE2E].Record(time.Duration(10+s) * time.Millisecond)
			}
		}
		ph.end = ph.start.Add(d)
		if spec.Name == PhaseMixed {
			ph.errs.add(ErrorKey{Op: OpProduce, Status: 503, Code: "10250005"})
		}
		rep.Phases = append(rep.Phases, ph.report(start))
		offset += d
	}
	rep.Errors = mergeErrors(rep.Phases[2].Errors)
	rep.ErrorTotal = 1
	rep.Verification = Verification{Complete: true, Confirmed: 10, Delivered: 10, Deliveries: 10, GroupAvailable: 0, GroupConsumed: 10}
	rep.Warnings = append(rep.Warnings, `queue <q> not deleted: "boom" & more`)
	rep.Summary = summarise(rep)
	return rep
}

func TestSummary_LineAddsThePrefillOnlyWhenOneRan(t *testing.T) {
	s := Summary{ProduceMsgsPerS: NaN(), ProduceP99Ms: NaN(), ConsumeAckMsgsPerS: NaN(), ConsumeP99Ms: NaN(),
		MixedE2EMsgsPerS: NaN(), MixedE2EP99Ms: NaN(), FixedE2EP50Ms: NaN(), FixedE2EP99Ms: NaN(),
		PrefillProduceMsgsPerS: NaN(), PrefillDrainMsgsPerS: NaN()}
	if got := s.Line(); !strings.HasSuffix(got, " lost=0 duplicates=0") {
		t.Errorf("without prefill: %q", got)
	}
	s.PrefillProduceMsgsPerS, s.PrefillDrainMsgsPerS, s.Retained = 20000.4, 9000.6, 1_000_000
	want := " lost=0 duplicates=0 prefill_produce_msgs_per_s=20000 prefill_drain_msgs_per_s=9001 retained=1000000"
	if got := s.Line(); !strings.HasSuffix(got, want) {
		t.Errorf("with prefill: %q, want suffix %q", got, want)
	}
}

func TestSummary_LineFormatAndNaN(t *testing.T) {
	s := Summary{
		ProduceMsgsPerS: 20123.4, ProduceP99Ms: 12.345, ConsumeAckMsgsPerS: NaN(), ConsumeP99Ms: NaN(),
		MixedE2EMsgsPerS: 8000.5, MixedE2EP99Ms: 1, FixedE2EP50Ms: 2.5, FixedE2EP99Ms: Metric(math.Inf(1)),
		Lost: 3, Duplicates: 4,
	}
	want := "produce_msgs_per_s=20123 produce_p99_ms=12.35 consume_ack_msgs_per_s=NaN consume_p99_ms=NaN " +
		"mixed_e2e_msgs_per_s=8000 mixed_e2e_p99_ms=1.00 fixed_e2e_p50_ms=2.50 fixed_e2e_p99_ms=NaN lost=3 duplicates=4"
	if got := s.Line(); got != want {
		t.Fatalf("line\n got %s\nwant %s", got, want)
	}
	if strings.Contains(s.Line(), "\n") {
		t.Fatal("summary line spans lines")
	}
}

func TestSummary_TakesEachFigureFromItsPhase(t *testing.T) {
	rep := sampleReport(t)
	s := rep.Summary
	for name, m := range map[string]Metric{
		"produce rate": s.ProduceMsgsPerS, "produce p99": s.ProduceP99Ms, "consume rate": s.ConsumeAckMsgsPerS,
		"consume p99": s.ConsumeP99Ms, "mixed rate": s.MixedE2EMsgsPerS, "mixed p99": s.MixedE2EP99Ms,
		"fixed p50": s.FixedE2EP50Ms, "fixed p99": s.FixedE2EP99Ms,
	} {
		if !m.Valid() || m <= 0 {
			t.Errorf("%s = %v", name, m)
		}
	}
	// produce: 5 s of 1000..1400 msgs, the last completing at 4.5 s.
	if want := 6000 / 4.5; math.Abs(float64(s.ProduceMsgsPerS)-want) > 0.01 {
		t.Errorf("produce rate %v, want %v", s.ProduceMsgsPerS, want)
	}
	// mixed is measured over its full 30 s.
	if want := float64(30*1000+100*435) / 30; math.Abs(float64(s.MixedE2EMsgsPerS)-want) > 0.01 {
		t.Errorf("mixed rate %v, want %v", s.MixedE2EMsgsPerS, want)
	}
	// A produce-only run measured no consume.
	only := &Report{Phases: []PhaseReport{rep.Phases[0]}}
	if s := summarise(only); s.ConsumeAckMsgsPerS.Valid() || s.MixedE2EP99Ms.Valid() || !s.ProduceP99Ms.Valid() {
		t.Errorf("produce-only summary %+v", s)
	}
}

func TestReport_OK(t *testing.T) {
	r := &Report{}
	if !r.OK() {
		t.Fatal("an empty report failed")
	}
	r.Verification.Lost = 1
	if r.OK() {
		t.Fatal("a run that lost a message passed")
	}
	r = &Report{Fatal: []string{"setup: refused"}}
	if r.OK() {
		t.Fatal("a run with a fatal error passed")
	}
}

func TestReport_JSONHasEveryPartAndNullsForUnmeasured(t *testing.T) {
	rep := sampleReport(t)
	rep.Summary.ConsumeP99Ms = NaN()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	for _, k := range []string{"tool", "run_id", "started", "config", "summary", "phases", "errors", "verification", "fatal", "warnings"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q", k)
		}
	}
	sum := m["summary"].(map[string]any)
	if v, ok := sum["consume_p99_ms"]; !ok || v != nil {
		t.Errorf("unmeasured consume_p99_ms = %v, want null", v)
	}
	phases := m["phases"].([]any)
	if len(phases) != 6 {
		t.Fatalf("%d phases", len(phases))
	}
	p := phases[2].(map[string]any)
	lat := p["latency"].(map[string]any)
	for _, op := range []string{"produce", "consume", "ack", "e2e"} {
		l := lat[op].(map[string]any)
		for _, k := range []string{"count", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms"} {
			if l[k] == nil {
				t.Errorf("mixed %s %s missing", op, k)
			}
		}
	}
	if len(p["series"].([]any)) != 30 {
		t.Errorf("mixed series of %d seconds", len(p["series"].([]any)))
	}
	// Decoding back gives the same summary line.
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary.Line() != rep.Summary.Line() {
		t.Fatalf("round trip\n%s\n%s", back.Summary.Line(), rep.Summary.Line())
	}
}

// checkHTML asserts that page is a complete, self-contained report page.
func checkHTML(t *testing.T, page string, r *Report) {
	t.Helper()
	for _, want := range []string{"<!DOCTYPE html>", "</html>", `aria-label="throughput over time"`,
		`aria-label="e2e latency percentiles"`, r.Summary.Line(), "Verification", "Errors"} {
		if !strings.Contains(page, want) {
			t.Errorf("page has no %q", want)
		}
	}
	// Nothing is loaded from anywhere.
	for _, re := range []string{`(?i)<script[^>]+src=`, `(?i)<link`, `(?i)<img`, `(?i)src=`, `(?i)url\(`, `(?i)@import`, `(?i)<iframe`} {
		if regexp.MustCompile(re).MatchString(page) {
			t.Errorf("page loads an external resource (%s)", re)
		}
	}
	// Every chart is well-formed XML.
	svgs := regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(page, -1)
	if len(svgs) < 2 {
		t.Fatalf("%d charts", len(svgs))
	}
	for i, s := range svgs {
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := d.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("chart %d is not well-formed: %v", i, err)
				}
				break
			}
		}
		if !strings.Contains(s, "<polyline") {
			t.Errorf("chart %d draws no line", i)
		}
	}
}

func TestReport_HTMLIsSelfContainedWithCharts(t *testing.T) {
	rep := sampleReport(t)
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	checkHTML(t, page, rep)
	if strings.Contains(page, `<q>`) || !strings.Contains(page, "&lt;q&gt;") {
		t.Error("a warning was not escaped")
	}
	for _, op := range []string{"produce", "consume", "ack"} {
		if !strings.Contains(page, `aria-label="`+op+` latency percentiles"`) {
			t.Errorf("no %s latency chart", op)
		}
	}
}

func TestReport_HTMLOfAFailedSetupStillRenders(t *testing.T) {
	rep := &Report{RunID: "x", Phases: []PhaseReport{}, Fatal: []string{"setup: connection refused"}}
	rep.Summary = summarise(rep)
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "FAIL") || !strings.Contains(b.String(), "no phase ran") {
		t.Fatalf("page:\n%s", b.String())
	}
}

func TestReport_WriteFilesAndText(t *testing.T) {
	rep := sampleReport(t)
	dir := filepath.Join(t.TempDir(), "out", "run")
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{FileJSON, FileHTML, FileSummary} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v (%d bytes)", f, err, len(b))
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, FileSummary))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if lines[len(lines)-1] != rep.Summary.Line() {
		t.Fatalf("summary.txt ends with %q", lines[len(lines)-1])
	}
	text := string(b)
	for _, want := range []string{"phase mixed-fixed", "p99.9", "produce      status 503  10250005", "result: PASS", "lost 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("text has no %q:\n%s", want, text)
		}
	}
}

// TestReport_ShowsEachQueue: with several queues the text and the page list
// each queue's counts; with one they add nothing.
func TestReport_ShowsEachQueue(t *testing.T) {
	rep := sampleReport(t)
	rep.Config.Queues, rep.Config.QueueMode = 2, "NORMAL"
	rep.Queues = []QueueReport{
		{ID: "q-zero", GroupID: "g0", Producers: 2, Consumers: 1, QueueCounts: QueueCounts{Confirmed: 6, Delivered: 6, Deliveries: 6}},
		{ID: "q-one", GroupID: "g1", Producers: 1, Consumers: 1, QueueCounts: QueueCounts{Confirmed: 4, Delivered: 3, Deliveries: 3, Lost: 1}},
	}
	var text, page bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 NORMAL in project", "queue  0 q-zero: producers 2, consumers 1, produced with 201 6, delivered 6, lost 0",
		"queue  1 q-one: producers 1, consumers 1, produced with 201 4, delivered 3, lost 1"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text has no %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(page.String(), "By queue") || !strings.Contains(page.String(), "<code>q-one</code>") {
		t.Error("the page has no per-queue table")
	}
	var back Report
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || !reflect.DeepEqual(back.Queues, rep.Queues) {
		t.Errorf("queues through JSON: %+v, %v", back.Queues, err)
	}
	if !strings.Contains(js.String(), `"confirmed": 4`) || !strings.Contains(js.String(), `"group_id": "g1"`) {
		t.Error("report.json does not flatten each queue's counts")
	}

	rep.Config.Queues, rep.Queues = 1, rep.Queues[:1]
	text.Reset()
	page.Reset()
	rep.WriteText(&text)
	rep.WriteHTML(&page)
	if strings.Contains(text.String(), "q-zero") || strings.Contains(page.String(), "By queue") {
		t.Error("a one-queue run lists its queue separately")
	}
}

// TestReport_HumanTablesSayNotMeasured: a produce-only run has no consume
// or ack rate and read no group counters; the text and the page say so in
// words, and NaN appears only in the machine-read summary line.
func TestReport_HumanTablesSayNotMeasured(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	cfg := Config{Targets: []string{"http://127.0.0.1:9000"}, Workload: WorkloadProduce, NoWarmup: true,
		Now: func() time.Time { return start }}.Resolved()
	ph := newPhaseRun(cfg.Plan()[0], 0, start, cfg)
	ph.produced.Add(10)
	ph.produceReqs.Add(1)
	storeMax(&ph.lastProduced, start.Add(time.Second).UnixNano())
	ph.hist[OpProduce].Record(3 * time.Millisecond)
	ph.end = start.Add(time.Second)
	rep := &Report{RunID: "r", Started: start, Config: ConfigReport{Workload: WorkloadProduce, Queues: 1},
		Phases: []PhaseReport{ph.report(start)}, Verification: Verification{GroupAvailable: -1, GroupConsumed: -1}}
	rep.Summary = summarise(rep)
	if !strings.Contains(rep.Summary.Line(), "NaN") {
		t.Fatalf("the summary line lost its NaN: %s", rep.Summary.Line())
	}
	var text, page bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"text": text.String(), "page": strings.ReplaceAll(page.String(), rep.Summary.Line(), "")} {
		if strings.Contains(s, "NaN") {
			t.Errorf("the %s shows NaN:\n%s", name, s)
		}
		for _, want := range []string{"not measured", "not read"} {
			if !strings.Contains(s, want) {
				t.Errorf("the %s does not say %q:\n%s", name, want, s)
			}
		}
	}
}

// TestReport_LatencyChartsLeaveOutTheWarmup: the warm-up's latencies (leader
// elections, seconds) are in the table, marked, but in no chart: no curve,
// no legend, no axis stretched to reach them.
func TestReport_LatencyChartsLeaveOutTheWarmup(t *testing.T) {
	rep := sampleReport(t)
	start := rep.Started
	cfg := Config{Targets: []string{"http://127.0.0.1:9000"}, Workload: WorkloadW1, Now: func() time.Time { return start }}.Resolved()
	warm := newPhaseRun(cfg.Plan()[0], 0, start, cfg)
	if warm.spec.Name != PhaseWarmup {
		t.Fatalf("first phase %s", warm.spec.Name)
	}
	warm.hist[OpProduce].Record(1500 * time.Millisecond)
	warm.end = start.Add(2 * time.Second)
	rep.Phases = append([]PhaseReport{warm.report(start)}, rep.Phases...)

	chart := percentileChart(rep, OpProduce)
	if chart == "" || strings.Contains(chart, ">"+PhaseWarmup+"<") {
		t.Errorf("the produce chart draws the warm-up:\n%s", chart)
	}
	if !strings.Contains(chart, ">"+PhaseProduce+"<") {
		t.Errorf("the produce chart lacks phase produce:\n%s", chart)
	}
	// sampleReport's produce latencies stay under 100 ms: the axis ends there.
	if strings.Contains(chart, ">1000<") {
		t.Errorf("the axis reaches the warm-up's 1.5 s:\n%s", chart)
	}
	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "<td>warmup <span class=\"muted\">(warm-up: not charted)</span></td>") {
		t.Error("the latency table does not mark the warm-up row")
	}
	if !IsWarmup(PhaseWarmup) || !IsWarmup(PhaseWarmupD) || IsWarmup(PhaseProduce) {
		t.Error("IsWarmup")
	}
}

// TestConfigReport_ItemsApplyToTheWorkload: each workload shows the
// settings it uses and no other.
func TestConfigReport_ItemsApplyToTheWorkload(t *testing.T) {
	names := func(c ConfigReport) map[string]string {
		m := map[string]string{}
		for _, it := range c.Items() {
			m[it.Name] = it.Value
		}
		return m
	}
	base := ConfigReport{Targets: []string{"http://a"}, Queues: 1, QueueMode: "NORMAL", Project: "p", QueueID: "q1",
		Messages: 500, DurationS: 30, Producers: 8, Consumers: 8, Size: 1024, Batch: 10, AckWaitS: 30}
	for _, tc := range []struct {
		workload   string
		rate       float64
		has, hasnt []string
		rateWant   string
	}{
		{WorkloadProduce, 0, []string{"messages"}, []string{"duration of each timed phase", "offered rate"}, ""},
		{WorkloadDrain, 0, []string{"messages"}, []string{"duration of each timed phase", "offered rate"}, ""},
		{WorkloadMixed, 0, []string{"duration of each timed phase", "offered rate"}, []string{"messages"}, "closed loop, at maximum"},
		{WorkloadMixed, 700, []string{"duration of each timed phase", "offered rate"}, []string{"messages"}, "700 msg/s, open loop"},
		{WorkloadW1, 2000, []string{"messages", "duration of each timed phase", "offered rate"}, nil, "2000 msg/s in phase mixed-fixed; phase mixed closed loop"},
	} {
		c := base
		c.Workload, c.Rate = tc.workload, tc.rate
		got := names(c)
		for _, n := range append(tc.has, "targets", "queues", "producers / consumers", "body size / batch", "lease (ack_wait)") {
			if _, ok := got[n]; !ok {
				t.Errorf("%s rate %v: no %q in %v", tc.workload, tc.rate, n, got)
			}
		}
		for _, n := range tc.hasnt {
			if _, ok := got[n]; ok {
				t.Errorf("%s rate %v: shows %q, which does not apply", tc.workload, tc.rate, n)
			}
		}
		if tc.rateWant != "" && got["offered rate"] != tc.rateWant {
			t.Errorf("%s rate %v: offered rate %q, want %q", tc.workload, tc.rate, got["offered rate"], tc.rateWant)
		}
		if got["queues"] != "1 NORMAL in project p: q1" {
			t.Errorf("queues %q", got["queues"])
		}
	}
}

// TestReport_ShowsEachNode: the text and the page have a row per node and
// per operation, and report.json keeps them.
func TestReport_ShowsEachNode(t *testing.T) {
	rep := sampleReport(t)
	n := newNodeTally()
	n.record("http://n1:9000", OpProduce, 2*time.Millisecond, true, false)
	n.record("http://n2:9000", OpProduce, 0, false, true)
	rep.Nodes = n.list([]string{"http://n1:9000", "http://n2:9000"})
	var text, page, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^  http://n1:9000\s+all\s+1\s+0$`, `(?m)^\s+produce\s+1\s+0\s+2\.00\s+2\.00\s+2\.00$`,
		`(?m)^  http://n2:9000\s+all\s+1\s+1$`, `(?m)^\s+produce\s+1\s+1\s+not measured\s+not measured\s+not measured$`} {
		if !regexp.MustCompile(re).MatchString(text.String()) {
			t.Errorf("text lacks %s:\n%s", re, text.String())
		}
	}
	if !strings.Contains(page.String(), "<h2>By node</h2>") || !strings.Contains(page.String(), "<td><b>http://n2:9000</b></td><td class=\"l\">all</td><td>1</td><td>1</td>") {
		t.Errorf("the page has no per-node table")
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Nodes) != 2 || back.Nodes[1].Errors != 1 || back.Nodes[0].Ops[0].Latency.Count != 1 {
		t.Errorf("nodes through JSON: %+v, %v", back.Nodes, err)
	}
}

// TestThroughputChart_TickLabelsAreDistinct: a short run has ticks a
// fraction of a second apart and a small rate; every label must still be
// its own value (no "0 0 1 2 2" from rounding).
func TestThroughputChart_TickLabelsAreDistinct(t *testing.T) {
	rep := &Report{Phases: []PhaseReport{{Name: PhaseProduce, DurationS: 2.6,
		Series: []SecondPoint{{T: 0, Produced: 3}, {T: 1, Produced: 7}, {T: 2, Produced: 5}}}}}
	svg := throughputChart(rep)
	for _, anchor := range []string{`text-anchor="middle">`, `text-anchor="end">`} {
		seen := map[string]bool{}
		for _, m := range regexp.MustCompile(regexp.QuoteMeta(anchor)+`([^<]*)</text>`).FindAllStringSubmatch(svg, -1) {
			if m[1] == "" || seen[m[1]] {
				t.Errorf("tick label %q empty or repeated in:\n%s", m[1], svg)
			}
			seen[m[1]] = true
		}
		if len(seen) < 3 {
			t.Errorf("%d tick labels (%s) in:\n%s", len(seen), anchor, svg)
		}
	}
}
