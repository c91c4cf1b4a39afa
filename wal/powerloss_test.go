package wal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/chaos/powerfs"
)

// The child side of the power-loss tests: four groups append entries of
// varying sizes concurrently (so writes are shared) and each prints
// "stored GROUP INDEX" once StoreLogs has returned. With WAL_TEAR=N each
// group stops after N entries; then one more write goes out without
// fdatasync and the child prints "unsynced" and waits for the power loss,
// which tears that write.
func TestMain(m *testing.M) {
	if dir := os.Getenv("WAL_POWERLOSS_CHILD"); dir != "" {
		tear, _ := strconv.ParseUint(os.Getenv("WAL_TEAR"), 10, 64)
		os.Exit(powerLossWriter(dir, os.Getenv("WAL_NOSYNC") == "1", tear))
	}
	os.Exit(m.Run())
}

func powerLossWriter(dir string, noSync bool, tear uint64) int {
	l, err := Open(dir, Options{NoSync: noSync, SegmentSize: 256 << 10})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	limit := uint64(100_000)
	if tear > 0 {
		limit = tear
	}
	for gi := range 4 {
		g, err := l.Group(fmt.Sprintf("g%d", gi))
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		wg.Go(func() {
			for i := uint64(1); i <= limit; i++ {
				if err := g.StoreLogs(entriesFor(gi, i)); err != nil {
					mu.Lock()
					fmt.Println("error", err)
					mu.Unlock()
					return
				}
				if i%50 == 0 {
					g.DeleteRange(1, i-20)
				}
				mu.Lock()
				fmt.Println("stored", gi, i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if tear == 0 {
		return 0
	}
	// One more write, not synced: the last write, which the power loss
	// tears. It must be the only unsynced one (as every write but the last
	// is synced in production): let the writer finish any reclamation and
	// make room first, so that the write neither rolls nor reclaims.
	if err := settle(l); err != nil {
		fmt.Println("error", err)
		return 1
	}
	l.noSync.Store(true)
	g, err := l.Group("g0")
	if err == nil {
		err = g.StoreLogs(entriesFor(0, tear+1))
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("unsynced")
	time.Sleep(time.Minute) // the parent kills this process
	return 0
}

// settle leaves the writer idle, with nothing left to reclaim and room in
// the active segment for a small write: an empty write is answered before
// the writer reclaims, so the second one waits for the first's reclaiming.
func settle(l *Log) error {
	idle := func() error {
		for range 2 {
			if err := l.submit(nil, func(uint32, uint32) {}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := idle(); err != nil {
		return err
	}
	if room := l.opts.segmentSize() - l.active.size; room < 64<<10 {
		g, err := l.Group("filler")
		if err == nil {
			err = g.StoreLogs([]*raft.Log{entry(1, int(room))}) // does not fit: rolls
		}
		if err != nil {
			return err
		}
		return idle()
	}
	return nil
}

func entriesFor(g int, i uint64) []*raft.Log { return []*raft.Log{entry(i, sizeOf(g, i))} }

func sizeOf(g int, i uint64) int { return 100 + int(i*7+uint64(g)*131)%3000 }

// afterPowerLoss runs the writer on a powerfs mount until it has reported
// n entries, cuts the power, and returns what each group reported and the
// log as it opens afterwards.
func afterPowerLoss(t *testing.T, noSync bool, tear uint64, n int, seed uint64) (map[int]uint64, *Log, error) {
	backing, mnt := t.TempDir(), t.TempDir()
	f, err := powerfs.Mount(backing, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Unmount(); err != nil {
			t.Error(err)
		}
	})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WAL_POWERLOSS_CHILD="+mnt, "WAL_NOSYNC="+map[bool]string{true: "1", false: "0"}[noSync], fmt.Sprint("WAL_TEAR=", tear))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	reported := map[int]uint64{}
	sc := bufio.NewScanner(out)
	for seen := 0; seen < n && sc.Scan(); seen++ {
		fields := strings.Fields(sc.Text())
		if sc.Text() == "unsynced" {
			break
		}
		if len(fields) != 3 || fields[0] != "stored" {
			t.Fatalf("writer: %s", sc.Text())
		}
		g, _ := strconv.Atoi(fields[1])
		i, _ := strconv.ParseUint(fields[2], 10, 64)
		reported[g] = max(reported[g], i)
	}
	loss, err := f.PowerLoss(rand.New(rand.NewPCG(seed, 11)), func() error {
		cmd.Process.Kill()
		cmd.Wait()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("noSync=%v seed %d: reported %v, power loss %+v", noSync, seed, reported, loss)
	l, err := Open(backing, Options{})
	if err == nil {
		t.Cleanup(func() { l.Close() })
	}
	return reported, l, err
}

// With fdatasync, every entry StoreLogs acknowledged survives a power loss
// that tears the last (unsynced) write at a random byte, through segment
// rolls and reclamation; the torn tail is cut off and the log opens.
func TestPowerLoss_KeepsAcknowledgedEntries(t *testing.T) {
	for seed := range uint64(4) {
		reported, l, err := afterPowerLoss(t, false, 600, 1<<30, seed)
		if err != nil {
			t.Fatalf("seed %d: the log does not open after the power loss: %v", seed, err)
		}
		for gi, last := range reported {
			g, err := l.Group(fmt.Sprintf("g%d", gi))
			if err != nil {
				t.Fatal(err)
			}
			kept, _ := g.LastIndex()
			first, _ := g.FirstIndex()
			if kept < last {
				t.Fatalf("seed %d: group %d acknowledged up to %d, kept %d", seed, gi, last, kept)
			}
			for i := first; i <= kept; i++ {
				var got raft.Log
				if err := g.GetLog(i, &got); err != nil || len(got.Data) != sizeOf(gi, i) || got.Data[0] != byte(i) {
					t.Fatalf("seed %d: group %d entry %d: %v, %d bytes", seed, gi, i, err, len(got.Data))
				}
			}
		}
	}
}

// Without fdatasync the same power loss loses acknowledged entries: the
// layer is what makes the difference visible.
func TestPowerLoss_WithoutSyncLosesEntries(t *testing.T) {
	reported, l, err := afterPowerLoss(t, true, 0, 3000, 1)
	if err != nil {
		t.Logf("without fdatasync the log does not even open: %v", err)
		return
	}
	for gi, last := range reported {
		g, err := l.Group(fmt.Sprintf("g%d", gi))
		if err != nil {
			t.Fatal(err)
		}
		if kept, _ := g.LastIndex(); kept < last {
			return
		}
	}
	t.Fatalf("without fdatasync every acknowledged entry survived: the power loss dropped nothing")
}
