package powerfs

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// mount mounts a fresh FS for t; it fails (never skips) where FUSE cannot run.
func mount(t *testing.T) (*FS, string, string) {
	t.Helper()
	backing, mnt := t.TempDir(), t.TempDir()
	f, err := Mount(backing, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return f, backing, mnt
}

func noProcess() error { return nil }

func writeFile(t *testing.T, p string, off int64, b []byte, sync bool) {
	t.Helper()
	fh, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := fh.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPowerLoss_KeepsSyncedAndDropsUnsynced(t *testing.T) {
	f, _, mnt := mount(t)
	synced := bytes.Repeat([]byte("s"), 3*pageSize+100)
	a := filepath.Join(mnt, "a")
	writeFile(t, a, 0, synced, true)
	writeFile(t, a, pageSize+7, []byte("overwritten, not synced"), false)
	writeFile(t, a, int64(len(synced)), bytes.Repeat([]byte("g"), 2*pageSize), false) // grows it
	b := filepath.Join(mnt, "dir", "b")
	if err := os.MkdirAll(filepath.Dir(b), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, b, 0, []byte("never synced"), false)
	c := filepath.Join(mnt, "c")
	writeFile(t, c, 0, []byte("synced before the truncation"), true)
	if err := os.Truncate(c, 3); err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(mnt, "d")
	writeFile(t, d, 0, []byte("old"), true)
	if err := os.WriteFile(d, []byte("replaced by O_TRUNC"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := filepath.Join(mnt, "e")
	writeFile(t, e, 0, []byte("first"), false)
	writeFile(t, e, 0, []byte("FIRST, then synced"), true)

	if got := readFile(t, a); len(got) != len(synced)+2*pageSize || !bytes.Contains(got, []byte("overwritten")) {
		t.Fatalf("before the loss the mount must show every write; a has %d bytes", len(got))
	}
	loss, err := f.PowerLoss(nil, noProcess)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, a); !bytes.Equal(got, synced) {
		t.Errorf("a after the loss: %d bytes, want its %d synced bytes", len(got), len(synced))
	}
	if got := readFile(t, b); len(got) != 0 {
		t.Errorf("b was never synced and kept %q", got)
	}
	if got := string(readFile(t, c)); got != "synced before the truncation" {
		t.Errorf("c: an unsynced truncation survived: %q", got)
	}
	if got := string(readFile(t, d)); got != "old" {
		t.Errorf("d: an unsynced O_TRUNC rewrite survived: %q", got)
	}
	if got := string(readFile(t, e)); got != "FIRST, then synced" {
		t.Errorf("e: a synced write was lost: %q", got)
	}
	if loss.Files != 4 || loss.Truncated <= 0 || loss.TornBytes != -1 {
		t.Errorf("loss %+v: want 4 files rolled back, a cut, no tear", loss)
	}
}

func TestPowerLoss_TearsTheLastUnsyncedWrite(t *testing.T) {
	f, _, mnt := mount(t)
	p := filepath.Join(mnt, "t")
	writeFile(t, p, 0, bytes.Repeat([]byte("A"), 1000), true)
	writeFile(t, p, 0, bytes.Repeat([]byte("B"), 1000), false)
	loss, err := f.PowerLoss(rand.New(rand.NewPCG(1, 2)), noProcess)
	if err != nil {
		t.Fatal(err)
	}
	got := readFile(t, p)
	k := bytes.Count(got, []byte("B"))
	if loss.TornOf != 1000 || loss.TornBytes != k || k >= 1000 || !bytes.Equal(got[k:], bytes.Repeat([]byte("A"), 1000-k)) {
		t.Fatalf("torn write: loss %+v, file has %d B then the rest %q...", loss, k, got[k:min(len(got), k+8)])
	}
}

// The child side of TestPowerLoss_RaftBoltStore: it appends Raft log
// entries and prints each index once StoreLogs has returned.
func TestMain(m *testing.M) {
	if path := os.Getenv("POWERFS_BOLT_CHILD"); path != "" {
		os.Exit(boltWriter(path, os.Getenv("POWERFS_NOSYNC") == "1"))
	}
	os.Exit(m.Run())
}

func boltWriter(path string, noSync bool) int {
	st, err := raftboltdb.New(raftboltdb.Options{Path: path, NoSync: noSync})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	for i := uint64(1); i <= 100_000; i++ {
		if err := st.StoreLogs([]*raft.Log{{Index: i, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, 300)}}); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("stored", i)
	}
	return 0
}

// stored runs the writer on the mount, kills it with SIGKILL once it has
// reported n entries, cuts the power and returns the last index the store
// still has.
func storedAfterPowerLoss(t *testing.T, noSync bool, n uint64) (reported, kept uint64) {
	f, backing, mnt := mount(t)
	db := filepath.Join(mnt, "raft.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "POWERFS_BOLT_CHILD="+db, "POWERFS_NOSYNC="+map[bool]string{true: "1", false: "0"}[noSync])
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	sc := bufio.NewScanner(out)
	for reported < n && sc.Scan() {
		line := sc.Text()
		if i, ok := strings.CutPrefix(line, "stored "); ok {
			reported, _ = strconv.ParseUint(i, 10, 64)
		} else {
			t.Fatalf("writer: %s", line)
		}
	}
	loss, err := f.PowerLoss(rand.New(rand.NewPCG(n, 7)), func() error {
		cmd.Process.Kill()
		cmd.Wait()
		return nil
	})
	if reported < n {
		t.Fatalf("the writer reported %d entries before it ended, want %d", reported, n)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("noSync=%v: reported %d, power loss %+v", noSync, reported, loss)
	// Read the backing file, not the mount: bbolt mmaps its file, and a page
	// fault served by FUSE in this very process can deadlock with the Go
	// runtime stopping the world (the faulting thread is not in a syscall).
	kept, err = lastIndex(filepath.Join(backing, "raft.db"), reported)
	if err != nil {
		if !noSync {
			t.Fatalf("the store after the power loss: %v", err)
		}
		t.Logf("without fsync the store is unreadable after the power loss: %v", err)
		return reported, 0
	}
	return reported, kept
}

// lastIndex opens the store at path and checks its entries up to upTo. bbolt
// panics on some corrupt files; that is reported as an error.
func lastIndex(path string, upTo uint64) (last uint64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked: %v", r)
		}
	}()
	st, err := raftboltdb.New(raftboltdb.Options{Path: path, NoSync: true})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if last, err = st.LastIndex(); err != nil {
		return 0, err
	}
	for i := uint64(1); i <= min(last, upTo); i++ {
		var l raft.Log
		if err := st.GetLog(i, &l); err != nil || len(l.Data) != 300 || l.Data[0] != byte(i) {
			return 0, fmt.Errorf("entry %d: %v, %d bytes", i, err, len(l.Data))
		}
	}
	return last, nil
}

// With fsync on, every entry StoreLogs acknowledged survives the power loss.
func TestPowerLoss_RaftBoltStoreKeepsAcknowledgedEntries(t *testing.T) {
	reported, kept := storedAfterPowerLoss(t, false, 300)
	if kept < reported {
		t.Fatalf("acknowledged up to %d, the store kept only %d", reported, kept)
	}
}

// With fsync off the same run loses acknowledged entries: the layer is what
// makes the difference visible (a plain kill -9 would keep them all in the
// page cache).
func TestPowerLoss_RaftBoltStoreWithoutSyncLosesEntries(t *testing.T) {
	reported, kept := storedAfterPowerLoss(t, true, 300)
	if kept >= reported {
		t.Fatalf("without fsync the store still kept %d of %d entries: the power loss dropped nothing", kept, reported)
	}
}

// A copy of the mount in another mount namespace (what `ip netns exec` makes
// for every node of a concurrent chaos run) would keep a plain unmount
// waiting for as long as that namespace lives; Unmount aborts the connection
// instead, and the copy is left with a dead mount.
func TestUnmount_EndsCopiesInOtherNamespaces(t *testing.T) {
	backing, mnt := t.TempDir(), t.TempDir()
	f, err := Mount(backing, mnt)
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "120")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	// The copy exists once the holder runs sleep in its own namespace.
	self, _ := os.Readlink("/proc/self/ns/mnt")
	for k := 0; k < 500; k++ {
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid)); ns != "" && ns != self {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling another process's namespace, bounded
	}
	writeFile(t, filepath.Join(mnt, "x"), 0, []byte("x"), true)
	start := time.Now()
	if err := f.Unmount(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Fatalf("Unmount took %v", d)
	}
	if got := string(readFile(t, filepath.Join(backing, "x"))); got != "x" {
		t.Fatalf("backing file after unmount: %q", got)
	}
}
