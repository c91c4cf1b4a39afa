package loadtest

import (
	"math"
	"testing"
	"time"
)

// near reports whether m is want within the histograms' 0.1 % resolution.
func near(m Metric, want float64) bool { return math.Abs(float64(m)-want) <= want/500 }

func TestSeries_BucketsBySecondAndPadsToTheDuration(t *testing.T) {
	start := time.Unix(100, 0)
	s := newSeries(start)
	s.add(start.Add(300*time.Millisecond), func(p *SecondPoint) { p.Produced += 5 })
	s.add(start.Add(999*time.Millisecond), func(p *SecondPoint) { p.Produced += 1 })
	s.add(start.Add(1500*time.Millisecond), func(p *SecondPoint) { p.Acked += 2; p.Errors++ })
	s.add(start.Add(-time.Second), func(p *SecondPoint) { p.Consumed++ }) // before the start: second 0
	got := s.list(3200 * time.Millisecond)
	want := []SecondPoint{{T: 0, Produced: 6, Consumed: 1}, {T: 1, Acked: 2, Errors: 1}, {T: 2}, {T: 3}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		g := got[i]
		if g.E2EP50Ms.Valid() || g.E2EP99Ms.Valid() {
			t.Fatalf("second %d: e2e %v/%v without deliveries", i, g.E2EP50Ms, g.E2EP99Ms)
		}
		g.E2EP50Ms, g.E2EP99Ms = 0, 0
		if g != want[i] {
			t.Fatalf("second %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if l := newSeries(start).list(0); l == nil || len(l) != 0 {
		t.Fatalf("empty series %#v, want an empty slice", l)
	}
}

// TestNodeTally_CountsTriesByNodeAndOp: every try counts on the node it was
// sent to; failed ones as errors; only answered ones in the latency; the
// list follows the targets' order, with a target never tried at zero.
func TestNodeTally_CountsTriesByNodeAndOp(t *testing.T) {
	n := newNodeTally()
	a, b, c := "http://a:9000", "http://b:9000", "http://c:9000"
	n.record(a, OpProduce, 2*time.Millisecond, true, false)
	n.record(a, OpProduce, 4*time.Millisecond, true, true) // answered 503
	n.record(a, OpProduce, 10*time.Second, false, true)    // no answer: not a latency
	n.record(a, OpAck, 1*time.Millisecond, true, false)
	n.record(b, OpConsume, 1000*time.Millisecond, true, false)
	n.record("http://elsewhere:1", OpConsume, time.Millisecond, true, false)

	got := n.list([]string{a, b, c})
	if len(got) != 4 {
		t.Fatalf("%d nodes: %+v", len(got), got)
	}
	if got[0].Target != a || got[0].Requests != 4 || got[0].Errors != 2 {
		t.Errorf("node a: %+v", got[0])
	}
	if len(got[0].Ops) != 2 || got[0].Ops[0].Op != OpAck || got[0].Ops[1].Op != OpProduce {
		t.Fatalf("node a's ops, want ack then produce: %+v", got[0].Ops)
	}
	p := got[0].Ops[1]
	if p.Requests != 3 || p.Errors != 2 || p.Latency.Count != 2 || !near(p.Latency.Max, 4) {
		t.Errorf("node a produce: %+v", p)
	}
	if got[1].Target != b || got[1].Requests != 1 || got[1].Errors != 0 || !near(got[1].Ops[0].Latency.P50, 1000) {
		t.Errorf("node b: %+v", got[1])
	}
	if got[2].Target != c || got[2].Requests != 0 || len(got[2].Ops) != 0 {
		t.Errorf("node c, never tried: %+v", got[2])
	}
	if got[3].Target != "http://elsewhere:1" || got[3].Requests != 1 {
		t.Errorf("a target outside the list: %+v", got[3])
	}

	var none *nodeTally
	none.record(a, OpProduce, time.Millisecond, true, false) // a phase without a tally
	if l := none.list([]string{a}); l == nil || len(l) != 0 {
		t.Errorf("nil tally lists %+v", l)
	}
}

func TestSeries_E2ELatencyBySecond(t *testing.T) {
	start := time.Unix(100, 0)
	s := newSeries(start)
	for k := range 100 { // second 0: 1..100 ms
		s.recordE2E(start.Add(500*time.Millisecond), time.Duration(k+1)*time.Millisecond)
	}
	s.recordE2E(start.Add(2100*time.Millisecond), 7*time.Second) // second 2: one slow message
	got := s.list(3 * time.Second)
	nearPct := func(m Metric, want float64) bool { return math.Abs(float64(m)-want) <= want/50 }
	if !nearPct(got[0].E2EP50Ms, 50) || !nearPct(got[0].E2EP99Ms, 99) {
		t.Errorf("second 0: p50 %v p99 %v, want 50 and 99", got[0].E2EP50Ms, got[0].E2EP99Ms)
	}
	if got[1].E2EP99Ms.Valid() || !nearPct(got[2].E2EP99Ms, 7000) {
		t.Errorf("second 1: %v (want NaN); second 2: %v (want 7000)", got[1].E2EP99Ms, got[2].E2EP99Ms)
	}
}
