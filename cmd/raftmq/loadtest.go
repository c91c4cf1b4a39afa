package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"raftmq/loadtest"
)

// LoadtestCmd is one `raftmq loadtest` run: flags, the workload, the
// reports and the summary line.
type LoadtestCmd struct {
	Config loadtest.Config
	OutDir string // where report.json, report.html and summary.txt go
}

// NewLoadtestCmd returns a LoadtestCmd with the harness's defaults.
func NewLoadtestCmd() *LoadtestCmd {
	return &LoadtestCmd{Config: loadtest.DefaultConfig()}
}

// ParseFlags reads the flags of `raftmq loadtest`. now names the default
// output directory, bench-results/<workload>-<time>.
func (l *LoadtestCmd) ParseFlags(args []string, now time.Time) error {
	fs := flag.NewFlagSet("raftmq loadtest", flag.ContinueOnError)
	c := &l.Config
	var targets string
	fs.StringVar(&targets, "target", "", "base URLs of raftmq nodes, comma separated (required); requests are spread over them")
	fs.StringVar(&c.Workload, "workload", "", "produce, drain, mixed, w1 or w2 (required)")
	fs.IntVar(&c.Messages, "messages", 0, "messages of a produce or drain workload, over all queues (default 10000; w1, w2: 100000)")
	fs.DurationVar(&c.Duration, "duration", 0, "length of each mixed phase (default 30s)")
	// Zero defaults: the workload decides (Config.Resolved), so that w2's
	// shape applies unless a flag says otherwise.
	fs.IntVar(&c.Queues, "queues", 0, fmt.Sprintf("queues, 1-%d, each with the run's group; producer and consumer k use queue k mod N (default 1; w2: 12)", loadtest.MaxQueues))
	fs.IntVar(&c.Producers, "producers", 0, "producers, at least --queues (default 8; w2: 24)")
	fs.IntVar(&c.Consumers, "consumers", 0, "consumers, at least --queues, one group per queue (default 8; w2: 24)")
	fs.IntVar(&c.Size, "size", c.Size, "bytes of each message body (its JSON text)")
	fs.IntVar(&c.Batch, "batch", c.Batch, "messages per produce request and max_msgs per consume, 1-10")
	fs.Float64Var(&c.Rate, "rate", 0, "mixed: msg/s offered open loop over all queues, 0 for closed loop at maximum; w1, w2: the fixed phase's rate (default 2000)")
	fs.StringVar(&c.QueueMode, "queue-mode", c.QueueMode, "NORMAL or FIFO")
	fs.StringVar(&c.Project, "project", "", "DMS project (default: lt-<run id>, one of the run's own)")
	fs.DurationVar(&c.PhaseTimeout, "phase-timeout", c.PhaseTimeout, "bound of each count-bounded phase (produce, drain, verify)")
	fs.IntVar(&c.Prefill, "prefill", 0, "before the measured phases, produce this many messages to each queue, then consume and ack them all (phase prefill); they stay retained, so the measured phases run on a deep queue (default 0: none)")
	fs.DurationVar(&c.PrefillTimeout, "prefill-timeout", c.PrefillTimeout, "bound of each half (produce, drain) of the prefill phase")
	fs.BoolVar(&c.DedupIDs, "dedup-ids", false, "give every message a dedup_id, so that a produce retried after an unknown outcome is stored once (the report's duplicates then count what is left)")
	fs.BoolVar(&c.NoWarmup, "no-warmup", false, "leave out the warm-up (one batch per producer, drained, before the measured phases)")
	fs.StringVar(&c.CAFile, "ca", "", "PEM CA bundle that verifies https:// targets (default: the system pool)")
	fs.StringVar(&c.AccessKey, "access-key", os.Getenv("RAFTMQ_ACCESS_KEY"), "access key that signs every request, for nodes with --credentials; a * key, unless --project names one it may use (or RAFTMQ_ACCESS_KEY)")
	fs.StringVar(&c.SecretKey, "secret-key", "", "secret of --access-key (better: RAFTMQ_SECRET_KEY, which ps does not show)")
	fs.StringVar(&l.OutDir, "out", "", "directory for report.json, report.html and summary.txt (default bench-results/<workload>-<time>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if targets == "" {
		return errors.New("--target is required")
	}
	if c.SecretKey == "" {
		c.SecretKey = os.Getenv("RAFTMQ_SECRET_KEY")
	}
	if c.Workload == "" {
		return errors.New("--workload is required (produce, drain, mixed, w1, w2)")
	}
	c.Targets = nil
	for _, t := range strings.Split(targets, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !strings.Contains(t, "://") {
			t = "http://" + t
		}
		c.Targets = append(c.Targets, strings.TrimRight(t, "/"))
	}
	c.QueueMode = strings.ToUpper(c.QueueMode)
	if l.OutDir == "" {
		l.OutDir = filepath.Join("bench-results", c.Workload+"-"+now.Format("20060102-150405"))
	}
	return c.Validate()
}

// Run runs the workload and writes its reports. stdout gets the human
// summary and, as its last line, the summary line; progress (nil when stdout
// is not a terminal) gets the live progress line. It returns the exit code:
// 0, or 1 when a message was lost, the run had fatal errors or the reports
// could not be written.
func (l *LoadtestCmd) Run(ctx context.Context, stdout, stderr, progress io.Writer) int {
	cfg := l.Config
	cfg.Progress = progress
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "raftmq loadtest:", err)
		return 2
	}
	code := 0
	if !rep.OK() {
		code = 1
	}
	rep.WriteText(stdout)
	if err := rep.WriteFiles(l.OutDir); err != nil {
		fmt.Fprintln(stderr, "raftmq loadtest: writing the report:", err)
		code = 1
	} else {
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(l.OutDir, loadtest.FileHTML))
	}
	fmt.Fprintln(stdout, rep.Summary.Line())
	return code
}

// isTerminal reports whether f is a character device (a terminal), without
// a terminal library.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
