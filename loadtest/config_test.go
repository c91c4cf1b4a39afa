package loadtest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfig_ResolvedTakesWorkloadDefaults(t *testing.T) {
	c := Config{Targets: []string{"http://127.0.0.1:1"}, Workload: WorkloadW1}.Resolved()
	if c.Messages != W1Messages || c.Duration != W1Duration || c.Rate != W1Rate || c.Queues != 1 ||
		c.Producers != 8 || c.Consumers != 8 || c.Size != 1024 || c.Batch != 10 || c.QueueMode != "NORMAL" {
		t.Fatalf("w1 resolved to %+v", c)
	}
	c = Config{Workload: WorkloadMixed, Messages: 5, Rate: 0, QueueMode: "fifo"}.Resolved()
	if c.Messages != 5 || c.Rate != 0 || c.Duration != DefaultDuration || c.QueueMode != "FIFO" || c.Queues != 1 {
		t.Fatalf("mixed resolved to %+v", c)
	}
	// DefaultConfig leaves the shape to the workload.
	d := DefaultConfig()
	d.Workload = WorkloadW2
	if c := d.Resolved(); c.Queues != 12 || c.Producers != 24 || c.Consumers != 24 {
		t.Fatalf("DefaultConfig with w2 resolved to %+v", c)
	}
}

// TestConfig_W2IsW1OverTwelveQueues: the same totals and phases as w1, with
// 12 queues and 24 producers and consumers; explicit fields still win.
func TestConfig_W2IsW1OverTwelveQueues(t *testing.T) {
	c := Config{Targets: []string{"http://127.0.0.1:1"}, Workload: WorkloadW2}
	r := c.Resolved()
	if r.Queues != W2Queues || r.Producers != W2Workers || r.Consumers != W2Workers ||
		r.Messages != W1Messages || r.Duration != W1Duration || r.Rate != W1Rate || r.Size != 1024 || r.Batch != 10 {
		t.Fatalf("w2 resolved to %+v", r)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("w2 refused: %v", err)
	}
	w1 := Config{Workload: WorkloadW1}.Plan()
	w2 := c.Plan()
	if len(w1) != len(w2) {
		t.Fatalf("w2 plan %+v, w1 plan %+v", w2, w1)
	}
	for i := range w1 {
		if w1[i].Name != w2[i].Name || w1[i].Kind != w2[i].Kind || w1[i].Duration != w2[i].Duration || w1[i].Rate != w2[i].Rate {
			t.Errorf("phase %d: w2 %+v, w1 %+v", i, w2[i], w1[i])
		}
	}
	if w2[0].Name != PhaseWarmup || w2[0].Messages != 24*10 || w2[2].Messages != 100_000 {
		t.Errorf("w2 counts: warm-up %d, produce %d", w2[0].Messages, w2[2].Messages)
	}
	o := Config{Workload: WorkloadW2, Queues: 4, Producers: 8, Consumers: 6, Messages: 10, Rate: 50}.Resolved()
	if o.Queues != 4 || o.Producers != 8 || o.Consumers != 6 || o.Messages != 10 || o.Rate != 50 || o.Duration != W1Duration {
		t.Fatalf("w2 with flags resolved to %+v", o)
	}
}

// TestConfig_ValidateWantsAWorkerOfEachKindPerQueue: producers and
// consumers at least as many as queues, and the queue count bounded.
func TestConfig_ValidateWantsAWorkerOfEachKindPerQueue(t *testing.T) {
	base := Config{Targets: []string{"http://127.0.0.1:9000"}, Workload: WorkloadMixed}
	for _, c := range []struct {
		queues, producers, consumers int
		want                         string // in the error; "" for valid
	}{
		{1, 1, 1, ""},
		{3, 3, 3, ""},
		{3, 7, 4, ""},
		{MaxQueues, MaxQueues, MaxQueues, ""},
		{8, 0, 0, ""}, // default 8 and 8
		{9, 0, 9, "producers 8 for 9 queues"},
		{3, 2, 3, "producers 2 for 3 queues: every queue needs a producer"},
		{3, 3, 2, "consumers 2 for 3 queues: every queue needs a consumer"},
		{MaxQueues + 1, 100, 100, "queues 65: want 1-64"},
		{-1, 1, 1, "queues -1"},
	} {
		cfg := base
		cfg.Queues, cfg.Producers, cfg.Consumers = c.queues, c.producers, c.consumers
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%d queues, %d producers, %d consumers refused: %v", c.queues, c.producers, c.consumers, err)
		case c.want != "" && (!errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%d queues, %d producers, %d consumers: %v, want ErrInvalidConfig with %q", c.queues, c.producers, c.consumers, err, c.want)
		}
	}
	if err := (Config{Targets: base.Targets, Workload: WorkloadW2, Producers: 8}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "producers 8 for 12 queues") {
		t.Errorf("w2 with 8 producers: %v", err)
	}
}

// TestSpread_EveryQueueGetsWorkersEvenly: worker k uses queue k mod N, so
// with at least N workers every queue has one, and counts differ by at most
// one.
func TestSpread_EveryQueueGetsWorkersEvenly(t *testing.T) {
	if queueOf(0, 12) != 0 || queueOf(11, 12) != 11 || queueOf(12, 12) != 0 || queueOf(25, 12) != 1 || queueOf(5, 1) != 0 {
		t.Fatal("queueOf is not worker mod queues")
	}
	for queues := 1; queues <= MaxQueues; queues++ {
		for _, workers := range []int{queues, queues + 1, 2*queues - 1, 24, 1024} {
			if workers < queues {
				continue
			}
			per := workersPerQueue(workers, queues)
			lo, hi, sum := per[0], per[0], 0
			for _, n := range per {
				lo, hi, sum = min(lo, n), max(hi, n), sum+n
			}
			if lo < 1 || hi-lo > 1 || sum != workers {
				t.Fatalf("%d workers over %d queues: %v", workers, queues, per)
			}
		}
	}
	if got := workersPerQueue(24, 12); got[0] != 2 || got[11] != 2 {
		t.Errorf("w2: %v, want 2 per queue", got)
	}
}

func TestConfig_PlanOfEachWorkload(t *testing.T) {
	names := func(w string, rate float64) []string {
		var out []string
		for _, p := range (Config{Workload: w, Rate: rate, NoWarmup: true}).Plan() {
			out = append(out, p.Name)
		}
		return out
	}
	for _, c := range []struct {
		w    string
		rate float64
		want []string
	}{
		{WorkloadProduce, 0, []string{"produce", "verify"}},
		{WorkloadDrain, 0, []string{"fill", "drain", "verify"}},
		{WorkloadMixed, 0, []string{"mixed", "verify"}},
		{WorkloadMixed, 100, []string{"mixed-fixed", "verify"}},
		{WorkloadW1, 0, []string{"produce", "drain", "mixed", "settle", "mixed-fixed", "verify"}},
		{WorkloadW2, 0, []string{"produce", "drain", "mixed", "settle", "mixed-fixed", "verify"}},
	} {
		got := names(c.w, c.rate)
		if len(got) != len(c.want) {
			t.Errorf("%s rate %v: %v, want %v", c.w, c.rate, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s rate %v: %v, want %v", c.w, c.rate, got, c.want)
				break
			}
		}
	}
	w1 := Config{Workload: WorkloadW1, NoWarmup: true}.Plan()
	if w1[0].Messages != 100_000 || w1[2].Duration != 30*time.Second || w1[2].Rate != 0 || w1[4].Rate != 2000 {
		t.Fatalf("w1 plan %+v", w1)
	}
	warm := Config{Workload: WorkloadProduce, Producers: 3, Batch: 4}.Plan()
	if len(warm) != 4 || warm[0].Name != PhaseWarmup || warm[0].Messages != 12 || warm[1].Name != PhaseWarmupD || warm[2].Name != PhaseProduce {
		t.Fatalf("plan with warm-up %+v", warm)
	}
}

func TestConfig_ValidateRefusesBadFields(t *testing.T) {
	ok := Config{Targets: []string{"http://127.0.0.1:9000"}, Workload: WorkloadProduce}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no target":     func(c *Config) { c.Targets = nil },
		"bad target":    func(c *Config) { c.Targets = []string{"ftp://x"} },
		"target path":   func(c *Config) { c.Targets = []string{"http://127.0.0.1:9000/v1.0"} },
		"workload":      func(c *Config) { c.Workload = "soak" },
		"messages":      func(c *Config) { c.Messages = -1 },
		"producers":     func(c *Config) { c.Producers = -2 },
		"queues":        func(c *Config) { c.Queues = 65 },
		"size small":    func(c *Config) { c.Size = 10 },
		"size big":      func(c *Config) { c.Size = 600_000 },
		"batch":         func(c *Config) { c.Batch = 11 },
		"rate":          func(c *Config) { c.Rate = -1 },
		"queue mode":    func(c *Config) { c.QueueMode = "KAFKA_HA" },
		"project":       func(c *Config) { c.Project = "a/b" },
		"duration":      func(c *Config) { c.Duration = time.Millisecond },
		"phase timeout": func(c *Config) { c.PhaseTimeout = time.Millisecond },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestConfig_PrefillComesAfterTheWarmupAndCountsByQueue(t *testing.T) {
	plan := Config{Workload: WorkloadW2, Prefill: 500}.Plan()
	if len(plan) < 3 || plan[0].Name != PhaseWarmup || plan[1].Name != PhaseWarmupD || plan[2].Name != PhasePrefill {
		t.Fatalf("plan %+v", plan)
	}
	if p := plan[2]; p.Kind != KindPrefill || p.PerQueue != 500 || p.Messages != 500*W2Queues {
		t.Fatalf("prefill phase %+v", p)
	}
	if p := (Config{Workload: WorkloadW1, Prefill: 10, NoWarmup: true}).Plan(); p[0].Name != PhasePrefill || p[1].Name != PhaseProduce {
		t.Fatalf("plan without warm-up %+v", p)
	}
	for _, p := range (Config{Workload: WorkloadW1}).Plan() {
		if p.Kind == KindPrefill {
			t.Fatalf("prefill phase without --prefill: %+v", p)
		}
	}
}

func TestConfig_ValidatePrefill(t *testing.T) {
	base := Config{Targets: []string{"http://127.0.0.1:9000"}, Workload: WorkloadW1}
	for _, c := range []struct {
		name    string
		mut     func(*Config)
		invalid bool
	}{
		{"none", func(c *Config) {}, false},
		{"a million", func(c *Config) { c.Prefill = 1_000_000 }, false},
		{"negative", func(c *Config) { c.Prefill = -1 }, true},
		{"too many in all", func(c *Config) { c.Prefill, c.Queues = MaxPrefillMessages/2+1, 2 }, true},
		{"at the bound", func(c *Config) { c.Prefill, c.Queues = MaxPrefillMessages/2, 2 }, false},
		{"timeout", func(c *Config) { c.Prefill, c.PrefillTimeout = 10, time.Millisecond }, true},
		{"timeout without prefill", func(c *Config) { c.PrefillTimeout = time.Millisecond }, false},
	} {
		cfg := base
		c.mut(&cfg)
		err := cfg.Validate()
		if got := errors.Is(err, ErrInvalidConfig); got != c.invalid {
			t.Errorf("%s: Validate = %v, want invalid %v", c.name, err, c.invalid)
		}
	}
	if r := base.Resolved(); r.PrefillTimeout != DefaultPrefillTimeout {
		t.Errorf("default prefill timeout %v", r.PrefillTimeout)
	}
}
