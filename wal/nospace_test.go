package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/sys/unix"
)

// smallFS mounts a tmpfs of size bytes under a temporary directory for the
// test (root only; skipped elsewhere) and unmounts it afterwards.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill stores entries of size bytes from index from on until the log
// refuses one; it returns the last index stored and the refusal.
func fill(t *testing.T, g *Group, from uint64, size int) (uint64, error) {
	t.Helper()
	for i := from; i < from+100000; i++ {
		if err := g.StoreLogs([]*raft.Log{entry(i, size)}); err != nil {
			return i - 1, err
		}
	}
	t.Fatal("the file system never filled")
	return 0, nil
}

func TestLog_FullFileSystemRefusesEntriesAndRecovers(t *testing.T) {
	dir := smallFS(t, "4m")
	l := open(t, dir, Options{SegmentSize: 512 << 10})
	g := group(t, l, "a")
	last, err := fill(t, g, 1, 4000)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("a write on a full file system: %v, want ErrNoSpace", err)
	}
	// The log did not fail: the reserve takes term and vote, and the
	// truncation that frees space.
	if err := g.SetUint64([]byte("CurrentTerm"), 9); err != nil {
		t.Fatalf("term on a full file system: %v", err)
	}
	if err := g.StoreLogs([]*raft.Log{entry(last+1, 4000)}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("a second write: %v, want ErrNoSpace again", err)
	}
	if err := g.DeleteRange(1, last-10); err != nil {
		t.Fatalf("truncation on a full file system: %v", err)
	}
	// Reclaimed segments free space; the preparer retries and the log grows.
	deadline := time.Now().Add(20 * time.Second)
	for err = errNotFound; err != nil; {
		if time.Now().After(deadline) {
			t.Fatalf("no write succeeded after space was freed: %v", err)
		}
		err = g.StoreLogs([]*raft.Log{entry(last+1, 4000)})
		if err != nil && !errors.Is(err, ErrNoSpace) {
			t.Fatalf("write after freeing space: %v", err)
		}
		if err != nil {
			time.Sleep(50 * time.Millisecond) // the preparer retries once a second
		}
	}
	store(t, g, last+2, last+20, 4000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "spare-*")); len(matches) != 0 {
		t.Fatalf("spare files left behind: %v", matches)
	}
	l2 := open(t, dir, Options{SegmentSize: 512 << 10})
	g2 := group(t, l2, "a")
	wantRange(t, g2, last-9, last+20, 4000)
	if v, err := g2.GetUint64([]byte("CurrentTerm")); err != nil || v != 9 {
		t.Fatalf("term after reopening: %d, %v", v, err)
	}
}

// TestLog_FailedWriteStopsTheLog: a write that fails for another reason
// than a missing segment (here the segment's file is closed under the
// writer, as a dead disk would answer) fails that write and every later
// one, calls OnFail once, and the log reopens with every acknowledged
// entry.
func TestLog_FailedWriteStopsTheLog(t *testing.T) {
	dir := t.TempDir()
	fails := make(chan error, 4)
	l, err := Open(dir, Options{OnFail: func(err error) { fails <- err }})
	if err != nil {
		t.Fatal(err)
	}
	g := group(t, l, "a")
	store(t, g, 1, 20, 100)
	l.mu.RLock()
	l.active.f.Close()
	l.mu.RUnlock()
	if err := g.StoreLogs([]*raft.Log{entry(21, 100)}); err == nil || errors.Is(err, ErrNoSpace) {
		t.Fatalf("a write to a closed segment: %v", err)
	}
	if err := g.SetUint64([]byte("CurrentTerm"), 3); err == nil {
		t.Fatal("a write after the failure succeeded")
	}
	select {
	case <-fails:
	default:
		t.Fatal("OnFail was not called")
	}
	if len(fails) != 0 {
		t.Fatal("OnFail called twice")
	}
	l.Close()
	l2 := open(t, dir, Options{})
	wantRange(t, group(t, l2, "a"), 1, 20, 100)
}

// TestLog_WritePastTheSegmentOnAFullFileSystem: a write larger than a
// fresh segment extends its file and meets ENOSPC; it is cut back (the
// file to its preallocated length, the rest zeroed), answered ErrNoSpace,
// and neither a later write nor recovery sees any of it.
func TestLog_WritePastTheSegmentOnAFullFileSystem(t *testing.T) {
	dir := smallFS(t, "1m")
	opts := Options{SegmentSize: 64 << 10}
	l := open(t, dir, opts)
	g := group(t, l, "a")
	store(t, g, 1, 3, 1000)
	for deadline := time.Now().Add(10 * time.Second); len(l.spares) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no spare segment prepared in 10 s")
		}
		time.Sleep(10 * time.Millisecond) // polling the preparer against a deadline
	}
	f, err := os.Create(filepath.Join(dir, "ballast"))
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 1000; k++ {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	big := entry(4, 200<<10)
	if err := g.StoreLogs([]*raft.Log{big}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("a write past a fresh segment on a full file system: %v, want ErrNoSpace", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, segName(2))); err != nil || fi.Size() != 64<<10 {
		t.Fatalf("the fresh segment after the failed write: %v, %v; want its 64 KiB", fi.Size(), err)
	}
	if err := os.Remove(filepath.Join(dir, "ballast")); err != nil {
		t.Fatal(err)
	}
	if err := g.StoreLogs([]*raft.Log{big}); err != nil {
		t.Fatalf("the same write once space is back: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := open(t, dir, opts)
	g2 := group(t, l2, "a")
	for i := uint64(1); i <= 4; i++ {
		want := entry(i, 1000)
		if i == 4 {
			want = big
		}
		var got raft.Log
		if err := g2.GetLog(i, &got); err != nil || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("entry %d after reopening: %d bytes, %v", i, len(got.Data), err)
		}
	}
	if last, _ := g2.LastIndex(); last != 4 {
		t.Fatalf("last index %d after reopening, want 4", last)
	}
}
