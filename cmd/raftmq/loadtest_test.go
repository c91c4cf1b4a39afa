package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
	"raftmq/loadtest"
)

func TestLoadtestFlags_DefaultsAndTargets(t *testing.T) {
	l := NewLoadtestCmd()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := l.ParseFlags([]string{"--target", "127.0.0.1:9000, http://127.0.0.1:9010/,https://h:1", "--workload", "w1"}, now); err != nil {
		t.Fatal(err)
	}
	c := l.Config
	want := []string{"http://127.0.0.1:9000", "http://127.0.0.1:9010", "https://h:1"}
	if strings.Join(c.Targets, " ") != strings.Join(want, " ") {
		t.Errorf("targets %q, want %q", c.Targets, want)
	}
	if c.Workload != "w1" || c.Messages != 0 || c.Duration != 0 || c.Rate != 0 || c.Queues != 0 || c.Producers != 0 || c.Consumers != 0 ||
		c.Size != 1024 || c.Batch != 10 || c.QueueMode != "NORMAL" || c.NoWarmup {
		t.Errorf("config %+v", c)
	}
	if r := c.Resolved(); r.Messages != 100_000 || r.Duration != 30*time.Second || r.Rate != 2000 || r.Queues != 1 || r.Producers != 8 || r.Consumers != 8 {
		t.Errorf("w1 resolved to %d messages, %v, %v msg/s, %d queues, %d/%d workers", r.Messages, r.Duration, r.Rate, r.Queues, r.Producers, r.Consumers)
	}
	if l.OutDir != filepath.Join("bench-results", "w1-20260102-030405") {
		t.Errorf("out dir %q", l.OutDir)
	}
}

// TestLoadtestFlags_W2 takes w2's shape unless a flag overrides it.
func TestLoadtestFlags_W2(t *testing.T) {
	l := NewLoadtestCmd()
	if err := l.ParseFlags([]string{"--target", "127.0.0.1:1", "--workload", "w2"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := l.Config.Resolved(); r.Queues != 12 || r.Producers != 24 || r.Consumers != 24 || r.Messages != 100_000 || r.Rate != 2000 {
		t.Errorf("w2 resolved to %+v", r)
	}
	l = NewLoadtestCmd()
	if err := l.ParseFlags([]string{"--target", "127.0.0.1:1", "--workload", "w2", "--queues", "6", "--producers", "12"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := l.Config.Resolved(); r.Queues != 6 || r.Producers != 12 || r.Consumers != 24 {
		t.Errorf("w2 --queues 6 --producers 12 resolved to %+v", r)
	}
	err := NewLoadtestCmd().ParseFlags([]string{"--target", "127.0.0.1:1", "--workload", "w2", "--producers", "8"}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "every queue needs a producer") {
		t.Errorf("w2 with 8 producers: %v", err)
	}
}

func TestLoadtestFlags_EveryFlag(t *testing.T) {
	l := NewLoadtestCmd()
	err := l.ParseFlags([]string{"--target=http://127.0.0.1:1", "--workload=mixed", "--messages=5", "--duration=1m30s",
		"--queues=3", "--producers=3", "--consumers=4", "--size=200", "--batch=7", "--rate=2500.5", "--queue-mode=fifo",
		"--project=p_1", "--phase-timeout=2m", "--no-warmup", "--out=/tmp/x"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	if c.Messages != 5 || c.Duration != 90*time.Second || c.Queues != 3 || c.Producers != 3 || c.Consumers != 4 || c.Size != 200 ||
		c.Batch != 7 || c.Rate != 2500.5 || c.QueueMode != "FIFO" || c.Project != "p_1" || c.PhaseTimeout != 2*time.Minute ||
		!c.NoWarmup || l.OutDir != "/tmp/x" {
		t.Errorf("config %+v out %q", c, l.OutDir)
	}
}

func TestLoadtestFlags_Refused(t *testing.T) {
	for name, args := range map[string][]string{
		"no target":          {"--workload", "w1"},
		"no workload":        {"--target", "127.0.0.1:1"},
		"bad workload":       {"--target", "127.0.0.1:1", "--workload", "soak"},
		"batch":              {"--target", "127.0.0.1:1", "--workload", "produce", "--batch", "11"},
		"queue mode":         {"--target", "127.0.0.1:1", "--workload", "produce", "--queue-mode", "KAFKA_HA"},
		"negative rate":      {"--target", "127.0.0.1:1", "--workload", "mixed", "--rate", "-1"},
		"bad duration":       {"--target", "127.0.0.1:1", "--workload", "mixed", "--duration", "ten"},
		"unknown flag":       {"--target", "127.0.0.1:1", "--workload", "mixed", "--threads", "4"},
		"extra argument":     {"--target", "127.0.0.1:1", "--workload", "mixed", "now"},
		"bad target":         {"--target", "ftp://h:1", "--workload", "mixed"},
		"too many queues":    {"--target", "127.0.0.1:1", "--workload", "mixed", "--queues", "65"},
		"queues > consumers": {"--target", "127.0.0.1:1", "--workload", "mixed", "--queues", "4", "--producers", "4", "--consumers", "3"},
	} {
		if err := NewLoadtestCmd().ParseFlags(args, time.Now()); err == nil {
			t.Errorf("%s: accepted %q", name, args)
		}
	}
	if code := run([]string{"loadtest", "--workload", "w1"}); code != 2 {
		t.Errorf("raftmq loadtest without --target exited %d, want 2", code)
	}
}

var summaryLine = regexp.MustCompile(`^produce_msgs_per_s=(\d+|NaN) produce_p99_ms=(\d+\.\d\d|NaN) consume_ack_msgs_per_s=(\d+|NaN) ` +
	`consume_p99_ms=(\d+\.\d\d|NaN) mixed_e2e_msgs_per_s=(\d+|NaN) mixed_e2e_p99_ms=(\d+\.\d\d|NaN) ` +
	`fixed_e2e_p50_ms=(\d+\.\d\d|NaN) fixed_e2e_p99_ms=(\d+\.\d\d|NaN) lost=(\d+) duplicates=(\d+)$`)

// TestLoadtest_CommandPrintsSummaryLast runs the binary's loadtest
// subcommand against a one-node cluster: exit 0, the summary line last on
// stdout, the three report files, no progress line when stdout is a pipe.
func TestLoadtest_CommandPrintsSummaryLast(t *testing.T) {
	if testing.Short() {
		t.Skip("starts raftmq processes")
	}
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	out := filepath.Join(t.TempDir(), "report")
	cmd := exec.Command(binPath, "loadtest", "--target", p.URL(), "--workload", "produce", "--messages", "300",
		"--producers", "2", "--consumers", "2", "--size", "256", "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("raftmq loadtest: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	text := stdout.String()
	if strings.Contains(text, "\r") {
		t.Error("progress line written to a pipe")
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	last := lines[len(lines)-1]
	m := summaryLine.FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last line is not the summary line: %q\n%s", last, text)
	}
	if m[1] == "NaN" || m[2] == "NaN" || m[3] != "NaN" || m[9] != "0" || m[10] != "0" {
		t.Errorf("summary of a produce run: %s", last)
	}
	if !strings.Contains(text, "result: PASS") || !strings.Contains(text, "errors: none") {
		t.Errorf("summary text:\n%s", text)
	}
	for _, f := range []string{loadtest.FileJSON, loadtest.FileHTML, loadtest.FileSummary} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestLoadtest_CommandFailsWhenTargetIsDown: fatal errors give exit 1, and
// the summary line is still the last line.
func TestLoadtest_CommandFailsWhenTargetIsDown(t *testing.T) {
	addr := clustertest.FreePort(t)
	cmd := exec.Command(binPath, "loadtest", "--target", addr, "--workload", "produce", "--messages", "10",
		"--out", filepath.Join(t.TempDir(), "r"))
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, stdout.String())
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if !summaryLine.MatchString(lines[len(lines)-1]) || !strings.Contains(stdout.String(), "FATAL: setup") {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
}
