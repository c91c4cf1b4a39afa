package bodystore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func payload(off uint64) []byte {
	return []byte(fmt.Sprintf("body-%d-%s", off, bytes.Repeat([]byte("x"), int(off%7))))
}

func fill(t *testing.T, st *Store, from, to uint64) {
	t.Helper()
	for o := from; o < to; o++ {
		if err := st.Append(o, payload(o)); err != nil {
			t.Fatalf("append %d: %v", o, err)
		}
	}
}

func check(t *testing.T, st *Store, from, to uint64) {
	t.Helper()
	for o := from; o < to; o++ {
		b, err := st.Get(o)
		if err != nil || !bytes.Equal(b, payload(o)) {
			t.Fatalf("get %d = %q, %v; want %q", o, b, err, payload(o))
		}
	}
}

func open(t *testing.T, dir string, seg int64) *Store {
	t.Helper()
	st, err := Open(dir, Options{SegmentBytes: seg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestStore_AppendGetReopen(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, 256)
	fill(t, st, 10, 100)
	check(t, st, 10, 100) // read back from the write buffer's flush
	if _, err := st.Get(9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get below the store: %v", err)
	}
	if st.Segments() < 3 {
		t.Fatalf("%d segments: the store did not roll", st.Segments())
	}
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = open(t, dir, 256)
	if first, end := st.Range(); first != 10 || end != 100 {
		t.Fatalf("range after reopen [%d, %d)", first, end)
	}
	check(t, st, 10, 100)
	if !st.Covers(10, 100) || st.Covers(5, 20) {
		t.Fatal("covers wrong after reopen")
	}
}

// A torn last record (a crash in the middle of a write) is cut on open; the
// next append continues from there.
func TestStore_TornTail(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, 1<<20)
	fill(t, st, 0, 50)
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	path := filepath.Join(dir, fmt.Sprintf("%020d.seg", 0))
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	st = open(t, dir, 1<<20)
	if _, end := st.Range(); end != 49 {
		t.Fatalf("end after a torn record = %d, want 49", end)
	}
	check(t, st, 0, 49)
	fill(t, st, 49, 60)
	check(t, st, 0, 60)
}

// A corrupt record in the middle cuts the store there, later segments
// included: replaying the log writes them again.
func TestStore_CorruptionCutsTheRest(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, 200)
	fill(t, st, 0, 40)
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	segs := st.Segments()
	st.Close()
	path := filepath.Join(dir, fmt.Sprintf("%020d.seg", 0))
	b, _ := os.ReadFile(path)
	b[headerLen+2] ^= 0xff // first record's payload
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	st = open(t, dir, 200)
	if first, end := st.Range(); first != 0 || end != 0 || st.Segments() != 1 || segs < 2 {
		t.Fatalf("after corruption: range [%d, %d), %d segments (of %d)", first, end, st.Segments(), segs)
	}
	fill(t, st, 0, 40)
	check(t, st, 0, 40)
}

// Get checks the record it reads: damage after open is reported, not served.
func TestStore_GetDetectsCorruption(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, 1<<20)
	fill(t, st, 0, 3)
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", 0)), os.O_RDWR, 0)
	f.WriteAt([]byte{'!'}, headerLen)
	f.Close()
	if _, err := st.Get(0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("get of a damaged record: %v", err)
	}
	check(t, st, 1, 3)
}

// Appending below the end (a replayed log) replaces the tail.
func TestStore_AppendBelowEndCuts(t *testing.T) {
	st := open(t, t.TempDir(), 150)
	fill(t, st, 0, 30)
	if err := st.Append(12, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if _, end := st.Range(); end != 13 {
		t.Fatalf("end = %d, want 13", end)
	}
	check(t, st, 0, 12)
	if b, _ := st.Get(12); string(b) != "new" {
		t.Fatalf("get 12 = %q", b)
	}
	fill(t, st, 13, 20)
	check(t, st, 13, 20)
}

// Reclaim deletes whole segments below the floor and below every pin, never
// the active one.
func TestStore_Reclaim(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, 100)
	fill(t, st, 0, 60)
	before := st.Segments()
	unpin := st.Pin(10)
	if n, err := st.Reclaim(50); err != nil || n == 0 {
		t.Fatalf("reclaim under a pin: %d, %v", n, err)
	}
	if first, _ := st.Range(); first > 10 {
		t.Fatalf("pinned offset 10 reclaimed (first %d)", first)
	}
	check(t, st, 10, 60)
	unpin()
	if _, err := st.Reclaim(50); err != nil {
		t.Fatal(err)
	}
	first, _ := st.Range()
	if first > 50 || first < 40 {
		t.Fatalf("first after reclaim to 50 = %d", first)
	}
	if _, err := st.Get(first - 1); !errors.Is(err, ErrNotFound) {
		t.Fatal("a reclaimed record is still served")
	}
	check(t, st, first, 60)
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(files) != st.Segments() || st.Segments() >= before {
		t.Fatalf("%d files, %d segments, %d before", len(files), st.Segments(), before)
	}
	if n, _ := st.Reclaim(1000); n != st.Segments() && st.Segments() != 1 {
		t.Fatalf("the active segment was reclaimed")
	}
	check(t, st, 59, 60)
}

// A gap (a restored snapshot's records start above what was held) starts a
// new segment; Covers sees the hole.
func TestStore_GapAndReset(t *testing.T) {
	st := open(t, t.TempDir(), 1<<20)
	fill(t, st, 0, 5)
	fill(t, st, 8, 10)
	if st.Covers(0, 10) || !st.Covers(0, 5) || !st.Covers(8, 10) {
		t.Fatal("covers wrong around a gap")
	}
	if err := st.Reset(); err != nil {
		t.Fatal(err)
	}
	if first, end := st.Range(); first != end || st.Segments() != 0 {
		t.Fatal("reset left records")
	}
	fill(t, st, 100, 103)
	check(t, st, 100, 103)
}

// A write error is sticky until the store is reopened.
func TestStore_WriteErrorIsSticky(t *testing.T) {
	st := open(t, t.TempDir(), 1<<20)
	fill(t, st, 0, 2)
	st.segs[0].f.Close() // the next flush fails
	if err := st.Sync(); err == nil {
		t.Fatal("sync on a closed file succeeded")
	}
	if err := st.Append(2, []byte("x")); err == nil {
		t.Fatal("append after a write error succeeded")
	}
}

func TestStore_HeldAndNext(t *testing.T) {
	st := open(t, t.TempDir(), 100)
	fill(t, st, 0, 20)
	fill(t, st, 30, 40)
	n, b := st.Held(5, 35)
	var want int64
	for _, r := range [][2]uint64{{5, 20}, {30, 35}} {
		for o := r[0]; o < r[1]; o++ {
			want += int64(len(payload(o)))
		}
	}
	if n != 20 || b != want {
		t.Fatalf("held = %d, %d; want 20, %d", n, b, want)
	}
	for _, c := range []struct {
		off, hi, want uint64
		ok            bool
	}{{3, 40, 3, true}, {20, 40, 30, true}, {25, 30, 0, false}, {40, 50, 0, false}} {
		got, ok := st.Next(c.off, c.hi)
		if ok != c.ok || (ok && got != c.want) {
			t.Fatalf("next(%d, %d) = %d %v", c.off, c.hi, got, ok)
		}
	}
}
