package loadtest

import (
	"errors"
	"testing"
	"time"
)

func TestConfig_ResolvedTakesWorkloadDefaults(t *testing.T) {
	c := Config{Targets: []string{"http://127.0.0.1:1"}, Workload: WorkloadW1}.Resolved()
	if c.Messages != W1Messages || c.Duration != W1Duration || c.Rate != W1Rate ||
		c.Producers != 8 || c.Consumers != 8 || c.Size != 1024 || c.Batch != 10 || c.QueueMode != "NORMAL" {
		t.Fatalf("w1 resolved to %+v", c)
	}
	c = Config{Workload: WorkloadMixed, Messages: 5, Rate: 0, QueueMode: "fifo"}.Resolved()
	if c.Messages != 5 || c.Rate != 0 || c.Duration != DefaultDuration || c.QueueMode != "FIFO" {
		t.Fatalf("mixed resolved to %+v", c)
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
