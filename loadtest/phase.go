package loadtest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Operations whose latency is measured.
const (
	OpProduce = "produce" // one produce request, from send to 201
	OpConsume = "consume" // one consume request that returned messages
	OpAck     = "ack"     // one ordered batch ack
	OpE2E     = "e2e"     // one message, from its produce timestamp to its delivery
)

var latencyOps = [...]string{OpProduce, OpConsume, OpAck, OpE2E}

// maxFailures bounds the failure messages kept per phase.
const maxFailures = 10

// phaseRun is the live state of one phase; workers update it concurrently.
type phaseRun struct {
	spec     PhaseSpec
	index    int
	start    time.Time
	deadline time.Time
	pacer    *Pacer // open loop only

	claimed  atomic.Int64   // messages claimed by producers
	claimedQ []atomic.Int64 // prefill: messages claimed by producers, by queue

	// A prefill phase drains once its producers are done: drainStart is
	// then set, and deadline moved, before its consumers start (which
	// orders both before their reads); draining tells the progress line.
	drainStart time.Time
	draining   atomic.Bool

	produced, consumed, acked, ackFailed    atomic.Int64
	produceReqs, consumeReqs, emptyConsumes atomic.Int64
	ackReqs                                 atomic.Int64
	lastProduced, lastConsumed, lastAcked   atomic.Int64 // unix ns of the last completion
	missedSlots                             atomic.Int64 // open-loop slots never sent

	hist   map[string]*Histogram
	series *series
	errs   *errorCounts

	mu       sync.Mutex
	failures []string
	failed   int64
	timedOut bool
	end      time.Time
}

func newPhaseRun(spec PhaseSpec, index int, start time.Time, cfg Config) *phaseRun {
	ph := &phaseRun{spec: spec, index: index, start: start, hist: map[string]*Histogram{}}
	switch spec.Kind {
	case KindMixed:
		ph.deadline = start.Add(spec.Duration)
	case KindPrefill:
		ph.deadline = start.Add(cfg.PrefillTimeout)
		ph.claimedQ = make([]atomic.Int64, cfg.Queues)
	default:
		ph.deadline = start.Add(cfg.PhaseTimeout)
	}
	if spec.Rate > 0 {
		ph.pacer = NewPacer(start, spec.Rate/float64(cfg.Batch))
	}
	for _, op := range latencyOps {
		ph.hist[op] = NewHistogram()
	}
	ph.series = newSeries(start)
	ph.errs = newErrorCounts(func(n int64) {
		ph.series.add(cfg.Now(), func(p *SecondPoint) { p.Errors += n })
	})
	return ph
}

// claim reserves up to n of the phase's messages for a producer of the
// queue; it returns how many it got, 0 when the count is reached. A
// prefill counts by queue, every other phase over all queues; limit is the
// count of phases without one (mixed: the message cap).
func (ph *phaseRun) claim(queue int, n, limit int64) int64 {
	c := &ph.claimed
	switch ph.spec.Kind {
	case KindProduce:
		limit = int64(ph.spec.Messages)
	case KindPrefill:
		c, limit = &ph.claimedQ[queue], int64(ph.spec.PerQueue)
	}
	k := c.Add(n) - n
	if k >= limit {
		return 0
	}
	return min(n, limit-k)
}

// startDrain turns a prefill phase from producing to draining; called
// between its producers' end and its consumers' start.
func (ph *phaseRun) startDrain(now time.Time, timeout time.Duration) {
	ph.mu.Lock()
	ph.drainStart = now
	ph.mu.Unlock()
	ph.deadline = now.Add(timeout)
	ph.draining.Store(true)
}

// fail records an operation that failed for good (after its retries).
func (ph *phaseRun) fail(err error) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	ph.failed++
	if len(ph.failures) < maxFailures {
		ph.failures = append(ph.failures, err.Error())
	}
}

// timeout records that the phase hit its time bound before its count.
func (ph *phaseRun) timeout() {
	ph.mu.Lock()
	ph.timedOut = true
	ph.mu.Unlock()
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// rate is n per second from from (the phase start, or a prefill's drain
// start) to the last completion at lastNs, NaN when nothing completed.
func (ph *phaseRun) rate(n int64, from time.Time, lastNs int64) Metric {
	if n == 0 || lastNs == 0 {
		return NaN()
	}
	d := time.Unix(0, lastNs).Sub(from)
	if ph.spec.Kind == KindMixed {
		// A mixed phase is measured over its whole duration: the load is
		// offered for that long, whenever the last answer came.
		d = max(d, ph.spec.Duration)
	}
	if d <= 0 {
		return NaN()
	}
	return Metric(float64(n) / d.Seconds())
}

// report summarises the finished phase; runStart places it on the run's
// time line.
func (ph *phaseRun) report(runStart time.Time) PhaseReport {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	pr := PhaseReport{
		Name:            ph.spec.Name,
		Kind:            ph.spec.Kind,
		TargetMessages:  ph.spec.Messages,
		TargetDurationS: ph.spec.Duration.Seconds(),
		TargetRate:      ph.spec.Rate,
		OffsetS:         ph.start.Sub(runStart).Seconds(),
		DurationS:       ph.end.Sub(ph.start).Seconds(),
		Produced:        ph.produced.Load(),
		Consumed:        ph.consumed.Load(),
		Acked:           ph.acked.Load(),
		AckFailed:       ph.ackFailed.Load(),
		ProduceRequests: ph.produceReqs.Load(),
		ConsumeRequests: ph.consumeReqs.Load(),
		EmptyConsumes:   ph.emptyConsumes.Load(),
		AckRequests:     ph.ackReqs.Load(),
		MissedSlots:     ph.missedSlots.Load(),
		Latency:         map[string]LatencySummary{},
		Percentiles:     map[string][]PercentilePoint{},
		Series:          ph.series.list(ph.end.Sub(ph.start)),
		Errors:          ph.errs.list(),
		FailedOps:       ph.failed,
		Failures:        append([]string(nil), ph.failures...),
		TimedOut:        ph.timedOut,
	}
	drainFrom := ph.start
	if !ph.drainStart.IsZero() {
		drainFrom = ph.drainStart
		pr.DrainOffsetS = ph.drainStart.Sub(ph.start).Seconds()
	}
	pr.ProduceMsgsPerS = ph.rate(pr.Produced, ph.start, ph.lastProduced.Load())
	pr.ConsumeMsgsPerS = ph.rate(pr.Consumed, drainFrom, ph.lastConsumed.Load())
	pr.AckMsgsPerS = ph.rate(pr.Acked, drainFrom, ph.lastAcked.Load())
	for _, op := range latencyOps {
		pr.Latency[op] = ph.hist[op].Summary()
		if c := ph.hist[op].Curve(); c != nil {
			pr.Percentiles[op] = c
		}
	}
	return pr
}

// describe is the phase's name and bound, for the progress line and the text
// summary.
func (s PhaseSpec) describe() string {
	switch {
	case s.Kind == KindProduce:
		return fmt.Sprintf("%s %d msgs", s.Name, s.Messages)
	case s.Kind == KindPrefill:
		return fmt.Sprintf("%s %d msgs per queue, then drain", s.Name, s.PerQueue)
	case s.Kind == KindMixed && s.Rate > 0:
		return fmt.Sprintf("%s %v at %.0f msg/s", s.Name, s.Duration, s.Rate)
	case s.Kind == KindMixed:
		return fmt.Sprintf("%s %v at max", s.Name, s.Duration)
	}
	return s.Name
}
