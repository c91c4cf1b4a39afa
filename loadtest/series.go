package loadtest

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// seriesDigits is the precision of the per-second e2e histograms: two
// significant digits (1 %) keep each to a few dozen KiB.
const seriesDigits = 2

// SecondPoint is what happened in one second of a phase: messages answered
// 201, delivered, acknowledged with success, and errors counted, and the
// end-to-end latency of the messages delivered in it (so that a change
// during a long phase, a node replaced under load, shows).
type SecondPoint struct {
	T        int    `json:"t"` // seconds since the phase started
	Produced int64  `json:"produced"`
	Consumed int64  `json:"consumed"`
	Acked    int64  `json:"acked"`
	Errors   int64  `json:"errors"`
	E2EP50Ms Metric `json:"e2e_p50_ms"` // of the deliveries in this second; NaN (null) when none
	E2EP99Ms Metric `json:"e2e_p99_ms"`
}

// series is a concurrency-safe per-second time series of one phase.
type series struct {
	mu     sync.Mutex
	start  time.Time
	points []SecondPoint
	e2e    []*hdrhistogram.Histogram // by second; nil where nothing was delivered
}

func newSeries(start time.Time) *series { return &series{start: start} }

// add applies f to the point of the second that holds at.
func (s *series) add(at time.Time, f func(*SecondPoint)) {
	i := max(0, int(at.Sub(s.start)/time.Second))
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.points) <= i {
		s.points = append(s.points, SecondPoint{T: len(s.points)})
	}
	f(&s.points[i])
}

// recordE2E adds the end-to-end latency of one message delivered at at.
func (s *series) recordE2E(at time.Time, d time.Duration) {
	i := max(0, int(at.Sub(s.start)/time.Second))
	us := max(0, min(int64(d/time.Microsecond), histHighestUS))
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.e2e) <= i {
		s.e2e = append(s.e2e, nil)
	}
	if s.e2e[i] == nil {
		s.e2e[i] = hdrhistogram.New(histLowestUS, histHighestUS, seriesDigits)
	}
	_ = s.e2e[i].RecordValue(us) // in range by construction
}

// list returns a copy of the points, one per second (started) of a phase
// that lasted d: seconds in which nothing happened are zero points.
func (s *series) list(d time.Duration) []SecondPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := max(len(s.points), int((d+time.Second-1)/time.Second))
	out := make([]SecondPoint, n)
	copy(out, s.points)
	for i := range out {
		out[i].T = i
		out[i].E2EP50Ms, out[i].E2EP99Ms = NaN(), NaN()
		if i < len(s.e2e) && s.e2e[i] != nil {
			out[i].E2EP50Ms = Metric(float64(s.e2e[i].ValueAtQuantile(50)) / 1000)
			out[i].E2EP99Ms = Metric(float64(s.e2e[i].ValueAtQuantile(99)) / 1000)
		}
	}
	return out
}

// NodeReport is what the run's clients saw of one target node: the tries
// sent to it, those that failed, and by operation the latency of the tries
// it answered. Warm-up phases are left out, as from the latency charts.
type NodeReport struct {
	Target   string         `json:"target"`
	Requests int64          `json:"requests"` // tries sent to the node, retries included
	Errors   int64          `json:"errors"`   // tries without an answer or answered with an error status
	Ops      []NodeOpReport `json:"ops"`      // by operation, in name order
}

// NodeOpReport is one operation's tries on one node. Latency is that of each
// try the node answered, from send to answer; for consume it includes the
// long polls that came back empty.
type NodeOpReport struct {
	Op       string         `json:"op"`
	Requests int64          `json:"requests"`
	Errors   int64          `json:"errors"`
	Latency  LatencySummary `json:"latency"`
}

// nodeTally counts tries by target node and operation; concurrency-safe. A
// nil *nodeTally records nothing.
type nodeTally struct {
	mu sync.Mutex
	m  map[nodeOpKey]*nodeOpTally
}

type nodeOpKey struct{ target, op string }

type nodeOpTally struct {
	requests, errors int64
	hist             *Histogram
}

func newNodeTally() *nodeTally { return &nodeTally{m: map[nodeOpKey]*nodeOpTally{}} }

// record adds one try of op sent to target that took d; answered says the
// node answered (its latency is recorded), failed that the try counts as an
// error (no answer, or another status than the one wanted).
func (t *nodeTally) record(target, op string, d time.Duration, answered, failed bool) {
	if t == nil {
		return
	}
	k := nodeOpKey{target, op}
	t.mu.Lock()
	o := t.m[k]
	if o == nil {
		o = &nodeOpTally{hist: NewHistogram()}
		t.m[k] = o
	}
	o.requests++
	if failed {
		o.errors++
	}
	t.mu.Unlock()
	if answered {
		o.hist.Record(d)
	}
}

// list returns one NodeReport per target, in the order of targets (a
// target no try went to has zero counts), then any other target tried.
func (t *nodeTally) list(targets []string) []NodeReport {
	out := []NodeReport{}
	if t == nil {
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	index := map[string]int{}
	for _, target := range targets {
		index[target] = len(out)
		out = append(out, NodeReport{Target: target, Ops: []NodeOpReport{}})
	}
	keys := make([]nodeOpKey, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b nodeOpKey) int { return strings.Compare(a.op, b.op) })
	for _, k := range keys {
		i, ok := index[k.target]
		if !ok {
			i = len(out)
			index[k.target] = i
			out = append(out, NodeReport{Target: k.target, Ops: []NodeOpReport{}})
		}
		o := t.m[k]
		n := &out[i]
		n.Requests += o.requests
		n.Errors += o.errors
		n.Ops = append(n.Ops, NodeOpReport{Op: k.op, Requests: o.requests, Errors: o.errors, Latency: o.hist.Summary()})
	}
	return out
}
