package chaos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// buildRaftmq builds cmd/raftmq (without -race: the nodes are the system
// under test, not the harness) into a temporary directory.
func buildRaftmq(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), "raftmq")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/raftmq")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runShort runs a short scenario. It fails (never skips) when the network
// namespaces cannot be created: the suite needs root, ip and iptables
// (.ci/run installs them).
func runShort(t *testing.T, cfg Config) *Report {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process fault-injection run (go test -short skips it; make test runs it)")
	}
	cfg.Bin = buildRaftmq(t)
	cfg.OutDir = t.TempDir()
	cfg.Log = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("the run could not be carried out: %v", err)
	}
	v := rep.Verdict
	t.Logf("%s seed %d: %.0fs, %d faults, produced %d ok / %d unknown, %d deliveries; lost %d, unexpected %d, acked twice %d, redelivered after ack %d, duplicates %d explained / %d unexplained, replicas compared %d, recovery p50 %.2fs p99 %.2fs",
		rep.Scenario, rep.Seed, rep.DurationS, rep.Faults, v.ProducedOK, v.ProducedUnknown, v.Deliveries, v.Lost, v.Unexpected,
		v.AckedTwice, v.RedeliveredAfterAck, v.DupExplained, v.DupUnexplained, rep.ReplicasCompared, rep.RecoveryP50S, rep.RecoveryP99S)
	if !rep.Passed() {
		for _, e := range v.Examples {
			t.Log(e)
		}
		for _, s := range append(append(rep.DrainLeft, rep.DigestMismatches...), rep.NemesisErrors...) {
			t.Log(s)
		}
		keep, err := os.MkdirTemp("", "raftmq-chaos-failed-")
		if err == nil {
			os.CopyFS(keep, os.DirFS(rep.Dir))
		}
		t.Errorf("%s seed %d failed; history, logs and data kept in %s", rep.Scenario, rep.Seed, keep)
	}
	return rep
}

// TestChaos_ShortT1 is the short variant of the suite that runs in make
// test: T1 (kill -9 a partition leader's node every 10 s) for 40 s, then
// heal, drain and every checker.
func TestChaos_ShortT1(t *testing.T) {
	runShort(t, ShortConfig("T1"))
}

// TestChaos_NegativeControl runs T1 against nodes started with
// --unsafe-ack-before-commit: the checker must report loss, or it is blind.
func TestChaos_NegativeControl(t *testing.T) {
	cfg := ShortConfig("T1")
	cfg.Duration = 25 * time.Second
	cfg.UnsafeAckBeforeCommit = true
	rep := runShort(t, cfg)
	if rep.Verdict.Lost == 0 {
		t.Fatal("negative control: the checker saw no loss")
	}
}
