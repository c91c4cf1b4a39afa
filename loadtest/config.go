package loadtest

import (
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Workload names.
const (
	WorkloadProduce = "produce" // N messages from P producers, then a verification drain
	WorkloadDrain   = "drain"   // fill N messages (not summarised), then C consumers drain and ack
	WorkloadMixed   = "mixed"   // producers and consumers together for a duration; closed loop, or open loop at Rate
	WorkloadW1      = "w1"      // produce 100,000; drain; 30 s mixed at max; 30 s mixed at 2,000 msg/s
	WorkloadW2      = "w2"      // w1's phases and totals over 12 queues, 24 producers, 24 consumers
)

// Phase names. The summary line reads its figures from the phases with
// these names; a workload that has no such phase prints NaN there.
const (
	PhaseWarmup  = "warmup"       // one batch per producer (so at least one per queue): pays the new queues' leader elections
	PhaseWarmupD = "warmup-drain" // consumes the warm-up batches
	PhaseProduce = "produce"      // summary: produce_msgs_per_s, produce_p99_ms
	PhaseFill    = "fill"         // the produce that sets up a drain workload
	PhaseDrain   = "drain"        // summary: consume_ack_msgs_per_s, consume_p99_ms
	PhaseMixed   = "mixed"        // summary: mixed_e2e_msgs_per_s, mixed_e2e_p99_ms
	PhaseSettle  = "settle"       // drains the backlog a closed-loop mixed phase left, before the next phase
	PhaseFixed   = "mixed-fixed"  // summary: fixed_e2e_p50_ms, fixed_e2e_p99_ms
	PhaseVerify  = "verify"       // drains what is left and checks for late duplicates
	PhasePrefill = "prefill"      // --prefill: produces N messages per queue, then drains and acks them; they stay retained
)

// Phase kinds.
const (
	KindProduce = "produce"
	KindDrain   = "drain"
	KindMixed   = "mixed"
	KindPrefill = "prefill" // produce the phase's messages, then drain them: one phase, two rates
)

// W1 shape (issue 4): 100,000 messages, two 30 s mixed phases, the second at
// 2,000 msg/s; 1 KiB bodies, 8 producers, 8 consumers. Between the two mixed
// phases a settle phase drains what the first left.
const (
	W1Messages = 100_000
	W1Duration = 30 * time.Second
	W1Rate     = 2000
)

// W2 shape: W1's phases and totals (100,000 messages, 2,000 msg/s in all)
// spread over 12 queues, each with 2 producers and 2 consumers, so that the
// broker serves 12 × its default partition count of Raft groups at once.
const (
	W2Queues  = 12
	W2Workers = 24 // producers, and consumers
)

// Defaults of the fields left zero.
const (
	DefaultMessages         = 10_000
	DefaultDuration         = 30 * time.Second
	DefaultWorkers          = 8
	MaxQueues               = 64 // a node allows 30 queues per project unless --max-queues-per-project says more
	DefaultSize             = 1024
	DefaultBatch            = 10
	DefaultPhaseTimeout     = 5 * time.Minute
	DefaultRequestTimeout   = 10 * time.Second
	DefaultMaxMixedMessages = 2_000_000
	DefaultAckWait          = 30 // s, the DMS default lease
	DefaultPrefillTimeout   = 30 * time.Minute
	MaxPrefillMessages      = 20_000_000 // over all queues: the ledger keeps a few dozen bytes a message
	minSize                 = 64         // room for the body's id and timestamp
	maxSize                 = 52_428     // ten messages per request stay within 524,288 bytes
)

// Config describes one run. Zero numeric fields take the workload's
// defaults (see Resolved); Targets and Workload are required.
type Config struct {
	Targets   []string      // base URLs of raftmq nodes; requests are spread over them
	Workload  string        // produce, drain, mixed, w1 or w2
	Messages  int           // produce and drain: message count over all queues (w1, w2: 100,000)
	Duration  time.Duration // each mixed phase (w1, w2: 30 s)
	Queues    int           // queues the run creates, each with the run's group (default 1, w2: 12); worker k uses queue k mod Queues
	Producers int           // default 8 (w2: 24); at least Queues
	Consumers int           // default 8 (w2: 24); at least Queues
	Size      int           // bytes of each message body's JSON text
	Batch     int           // messages per produce request and max_msgs per consume, 1–10
	Rate      float64       // mixed: msg/s offered open loop over all queues, 0 for closed loop at maximum; w1, w2: the fixed phase's rate (2,000)
	QueueMode string        // NORMAL or FIFO
	Project   string        // DMS project; default lt-<run id>, a project of the run's own

	// CAFile is a PEM bundle that verifies https:// targets; empty: the
	// system pool.
	CAFile string
	// AccessKey and SecretKey, when set, sign every request
	// (SDK-HMAC-SHA256, API.md section 5): a node with --credentials
	// refuses unsigned ones. The key must be allowed on Project (or be a *
	// key, since the default project is a new one per run).
	AccessKey, SecretKey string

	// Prefill, when above zero, is the number of messages produced to each
	// queue and then consumed and acked by the run's group before the
	// measured phases, in a phase of its own (PhasePrefill). Acked messages
	// stay retained (retention is time-based), so the measured phases run on
	// queues that retain Prefill messages each. The ledger tracks them like
	// any other message: the loss and duplicate check covers them.
	Prefill int
	// PrefillTimeout bounds each half (produce, drain) of the prefill phase.
	PrefillTimeout time.Duration

	// PhaseTimeout bounds each count-bounded phase (produce, drain, verify).
	PhaseTimeout time.Duration
	// MaxMixedMessages bounds the messages one mixed phase produces.
	MaxMixedMessages int
	// RequestTimeout bounds one HTTP request, long polls included.
	RequestTimeout time.Duration
	// NoWarmup leaves out the warm-up phases. They produce one batch per
	// producer (every queue has one) and drain it before the measured
	// phases, so that the new queues' partition leader elections (the first
	// produce to a new queue waits for them) are not measured.
	NoWarmup bool
	// DedupIDs gives every message a dedup_id (unique to the run, producer
	// and sequence number), so that produces retried after an unknown
	// outcome are stored once (loadtest/dedup.go).
	DedupIDs bool

	// Progress receives a live progress line (carriage returns, no
	// newlines) about once a second; nil for none.
	Progress io.Writer
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults that do not depend on the workload:
// produce workload, 1 KiB bodies, batches of 10, a NORMAL queue. Targets is
// empty; Messages, Duration, Rate, Queues, Producers and Consumers are zero,
// which Resolved turns into the workload's shape.
func DefaultConfig() Config {
	return Config{
		Workload:         WorkloadProduce,
		Size:             DefaultSize,
		Batch:            DefaultBatch,
		QueueMode:        "NORMAL",
		PhaseTimeout:     DefaultPhaseTimeout,
		PrefillTimeout:   DefaultPrefillTimeout,
		MaxMixedMessages: DefaultMaxMixedMessages,
		RequestTimeout:   DefaultRequestTimeout,
	}
}

// shape is what a workload's zero fields resolve to.
type shape struct {
	messages             int
	duration             time.Duration
	rate                 float64
	queues               int
	producers, consumers int
}

// shapeOf returns the workload's preset: w1 and w2 are the benchmark
// workloads, every other workload takes the general defaults.
func shapeOf(workload string) shape {
	s := shape{messages: DefaultMessages, duration: DefaultDuration, queues: 1,
		producers: DefaultWorkers, consumers: DefaultWorkers}
	switch workload {
	case WorkloadW1:
		s.messages, s.duration, s.rate = W1Messages, W1Duration, W1Rate
	case WorkloadW2:
		s.messages, s.duration, s.rate = W1Messages, W1Duration, W1Rate
		s.queues, s.producers, s.consumers = W2Queues, W2Workers, W2Workers
	}
	return s
}

// Resolved returns c with every zero field set to its default for the
// workload.
func (c Config) Resolved() Config {
	d, w := DefaultConfig(), shapeOf(c.Workload)
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&c.Messages, w.messages)
	setInt(&c.Queues, w.queues)
	setInt(&c.Producers, w.producers)
	setInt(&c.Consumers, w.consumers)
	if c.Duration == 0 {
		c.Duration = w.duration
	}
	if c.Rate == 0 {
		c.Rate = w.rate
	}
	setInt(&c.Size, d.Size)
	setInt(&c.Batch, d.Batch)
	setInt(&c.MaxMixedMessages, d.MaxMixedMessages)
	if c.QueueMode == "" {
		c.QueueMode = d.QueueMode
	}
	c.QueueMode = strings.ToUpper(c.QueueMode)
	if c.PhaseTimeout == 0 {
		c.PhaseTimeout = d.PhaseTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.PrefillTimeout == 0 {
		c.PrefillTimeout = d.PrefillTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

var projectRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks the resolved config. Errors match ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.Resolved()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if len(c.Targets) == 0 {
		return bad("no target")
	}
	for _, t := range c.Targets {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return bad("target %q is not an http://host:port URL", t)
		}
	}
	switch c.Workload {
	case WorkloadProduce, WorkloadDrain, WorkloadMixed, WorkloadW1, WorkloadW2:
	default:
		return bad("unknown workload %q (produce, drain, mixed, w1, w2)", c.Workload)
	}
	switch {
	case c.Messages < 1:
		return bad("messages %d: want at least 1", c.Messages)
	case c.Duration < 100*time.Millisecond:
		return bad("duration %v: want at least 100ms", c.Duration)
	case c.Queues < 1 || c.Queues > MaxQueues:
		return bad("queues %d: want 1-%d", c.Queues, MaxQueues)
	case c.Producers < 1 || c.Producers > 1024:
		return bad("producers %d: want 1-1024", c.Producers)
	case c.Consumers < 1 || c.Consumers > 1024:
		return bad("consumers %d: want 1-1024", c.Consumers)
	case c.Producers < c.Queues:
		return bad("producers %d for %d queues: every queue needs a producer (want producers >= queues)", c.Producers, c.Queues)
	case c.Consumers < c.Queues:
		return bad("consumers %d for %d queues: every queue needs a consumer (want consumers >= queues)", c.Consumers, c.Queues)
	case c.Size < minSize || c.Size > maxSize:
		return bad("size %d: want %d-%d bytes", c.Size, minSize, maxSize)
	case c.Batch < 1 || c.Batch > 10:
		return bad("batch %d: want 1-10", c.Batch)
	case c.Rate < 0:
		return bad("rate %v: want 0 (closed loop) or more", c.Rate)
	case c.QueueMode != "NORMAL" && c.QueueMode != "FIFO":
		return bad("queue mode %q: want NORMAL or FIFO", c.QueueMode)
	case c.Project != "" && !projectRE.MatchString(c.Project):
		return bad("project %q: want 1-64 characters of [A-Za-z0-9_-]", c.Project)
	case (c.AccessKey == "") != (c.SecretKey == ""):
		return bad("access key and secret key go together")
	case c.PhaseTimeout < time.Second:
		return bad("phase timeout %v: want at least 1s", c.PhaseTimeout)
	case c.Prefill < 0:
		return bad("prefill %d: want 0 (none) or more messages per queue", c.Prefill)
	case int64(c.Prefill)*int64(c.Queues) > MaxPrefillMessages:
		return bad("prefill %d x %d queues: want at most %d messages in all", c.Prefill, c.Queues, MaxPrefillMessages)
	case c.Prefill > 0 && c.PrefillTimeout < time.Second:
		return bad("prefill timeout %v: want at least 1s", c.PrefillTimeout)
	case c.MaxMixedMessages < 1:
		return bad("max mixed messages %d: want at least 1", c.MaxMixedMessages)
	case c.RequestTimeout < 2*time.Second:
		return bad("request timeout %v: want at least 2s (long polls wait 1 s)", c.RequestTimeout)
	}
	return nil
}

// PhaseSpec is one step of a workload.
type PhaseSpec struct {
	Name     string
	Kind     string        // produce, drain or mixed
	Messages int           // produce: how many
	Duration time.Duration // mixed: how long
	Rate     float64       // mixed: msg/s offered, 0 for closed loop
	PerQueue int           // prefill: messages to each queue (Messages is the total)
}

// produces reports whether the phase runs producers.
func (s PhaseSpec) produces() bool {
	return s.Kind == KindProduce || s.Kind == KindMixed || s.Kind == KindPrefill
}

// counted reports whether the phase's producers stop at a message count
// (and its time bound is a failure), rather than at the end of a duration.
func (s PhaseSpec) counted() bool { return s.Kind == KindProduce || s.Kind == KindPrefill }

// drains reports whether the phase's consumers stop once their queue is
// drained (and its time bound is a failure).
func (s PhaseSpec) drains() bool { return s.Kind == KindDrain || s.Kind == KindPrefill }

// Plan returns the phases of the resolved config's workload, after the
// warm-up phases unless NoWarmup, and after the prefill phase when Prefill
// is set. Every plan ends with messages consumed: a final verify phase
// drains what the last phase left, so the loss check sees every message.
func (c Config) Plan() []PhaseSpec {
	c = c.Resolved()
	p := c.workloadPlan()
	if p == nil {
		return nil
	}
	var pre []PhaseSpec
	if !c.NoWarmup {
		pre = append(pre, PhaseSpec{Name: PhaseWarmup, Kind: KindProduce, Messages: c.Producers * c.Batch},
			PhaseSpec{Name: PhaseWarmupD, Kind: KindDrain})
	}
	if c.Prefill > 0 {
		pre = append(pre, PhaseSpec{Name: PhasePrefill, Kind: KindPrefill, Messages: c.Prefill * c.Queues, PerQueue: c.Prefill})
	}
	return append(pre, p...)
}

func (c Config) workloadPlan() []PhaseSpec {
	verify := PhaseSpec{Name: PhaseVerify, Kind: KindDrain}
	switch c.Workload {
	case WorkloadProduce:
		return []PhaseSpec{{Name: PhaseProduce, Kind: KindProduce, Messages: c.Messages}, verify}
	case WorkloadDrain:
		return []PhaseSpec{{Name: PhaseFill, Kind: KindProduce, Messages: c.Messages}, {Name: PhaseDrain, Kind: KindDrain}, verify}
	case WorkloadMixed:
		if c.Rate > 0 {
			return []PhaseSpec{{Name: PhaseFixed, Kind: KindMixed, Duration: c.Duration, Rate: c.Rate}, verify}
		}
		return []PhaseSpec{{Name: PhaseMixed, Kind: KindMixed, Duration: c.Duration}, verify}
	case WorkloadW1, WorkloadW2:
		return []PhaseSpec{
			{Name: PhaseProduce, Kind: KindProduce, Messages: c.Messages},
			{Name: PhaseDrain, Kind: KindDrain},
			{Name: PhaseMixed, Kind: KindMixed, Duration: c.Duration},
			// Producers at maximum outpace consumers; the fixed-rate phase
			// starts on empty queues, or its e2e latency would measure the
			// backlog instead of the broker.
			{Name: PhaseSettle, Kind: KindDrain},
			{Name: PhaseFixed, Kind: KindMixed, Duration: c.Duration, Rate: c.Rate},
			verify,
		}
	}
	return nil
}

// queueOf is the index of the queue that worker k (producer or consumer)
// uses: round robin, so that with at least as many workers as queues every
// queue has one, and no queue has more than one above another.
func queueOf(worker, queues int) int { return worker % queues }

// workersPerQueue returns how many of n workers queueOf gives each queue.
func workersPerQueue(n, queues int) []int {
	out := make([]int, queues)
	for k := range n {
		out[queueOf(k, queues)]++
	}
	return out
}
