package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func open(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func group(t *testing.T, l *Log, name string) *Group {
	t.Helper()
	g, err := l.Group(name)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func entry(i uint64, size int) *raft.Log {
	return &raft.Log{Index: i, Term: 1 + i/100, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, size), AppendedAt: time.Unix(0, int64(i))}
}

func store(t *testing.T, g *Group, from, to uint64, size int) {
	t.Helper()
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, entry(i, size))
	}
	if err := g.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
}

// wantRange checks that g holds exactly first..last and that every entry
// reads back as entry() wrote it.
func wantRange(t *testing.T, g *Group, first, last uint64, size int) {
	t.Helper()
	f, _ := g.FirstIndex()
	l, _ := g.LastIndex()
	if f != first || l != last {
		t.Fatalf("%s: range %d-%d, want %d-%d", g.Name(), f, l, first, last)
	}
	for i := first; i <= last && first > 0; i++ {
		var got raft.Log
		if err := g.GetLog(i, &got); err != nil {
			t.Fatalf("%s: entry %d: %v", g.Name(), i, err)
		}
		want := entry(i, size)
		if got.Index != i || got.Term != want.Term || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) || !got.AppendedAt.Equal(want.AppendedAt) {
			t.Fatalf("%s: entry %d reads back as %+v", g.Name(), i, got)
		}
	}
}

func TestLog_StoresAndRecoversGroups(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	a, b := group(t, l, "a"), group(t, l, "b/1")
	store(t, a, 1, 50, 100)
	store(t, b, 7, 9, 3000)
	if err := a.SetUint64([]byte("CurrentTerm"), 4); err != nil {
		t.Fatal(err)
	}
	if err := b.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("unset key: %v, want hashicorp/raft's \"not found\"", err)
	}
	var missing raft.Log
	if err := a.GetLog(51, &missing); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("entry past the end: %v", err)
	}
	l.Close()

	l = open(t, dir, Options{})
	a, b = group(t, l, "a"), group(t, l, "b/1")
	wantRange(t, a, 1, 50, 100)
	wantRange(t, b, 7, 9, 3000)
	if v, err := a.GetUint64([]byte("CurrentTerm")); err != nil || v != 4 {
		t.Fatalf("term after reopen: %d %v", v, err)
	}
	if v, err := b.Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" {
		t.Fatalf("vote after reopen: %q %v", v, err)
	}
}

func TestLog_DeleteRangeAndOverwrite(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	g := group(t, l, "g")
	store(t, g, 1, 100, 10)
	if err := g.DeleteRange(1, 40); err != nil { // compaction
		t.Fatal(err)
	}
	if err := g.DeleteRange(91, 100); err != nil { // a conflicting suffix
		t.Fatal(err)
	}
	store(t, g, 91, 95, 10)
	store(t, g, 94, 96, 10) // overwrite from 94 without a DeleteRange
	if err := g.StoreLogs([]*raft.Log{entry(99, 10)}); err == nil {
		t.Fatal("a gap after 96 was accepted")
	}
	wantRange(t, g, 41, 96, 10)
	l.Close()
	l = open(t, dir, Options{})
	g = group(t, l, "g")
	wantRange(t, g, 41, 96, 10)

	// After a snapshot restore hashicorp/raft deletes everything and
	// continues past the snapshot.
	if err := g.DeleteRange(41, 96); err != nil {
		t.Fatal(err)
	}
	wantRange(t, g, 0, 0, 10)
	store(t, g, 500, 501, 10)
	l.Close()
	l = open(t, dir, Options{})
	wantRange(t, group(t, l, "g"), 500, 501, 10)
}

// Appends of different groups that arrive together share one write and one
// fdatasync.
func TestLog_GroupCommit(t *testing.T) {
	var syncs atomic.Int64
	l := open(t, t.TempDir(), Options{OnSync: func(time.Duration) { syncs.Add(1) }})
	const groups, rounds = 16, 20
	gs := make([]*Group, groups)
	for i := range gs {
		gs[i] = group(t, l, fmt.Sprintf("g%d", i))
	}
	before := syncs.Load()
	var wg sync.WaitGroup
	for _, g := range gs {
		wg.Go(func() {
			for r := range uint64(rounds) {
				store(t, g, r+1, r+1, 1000)
			}
		})
	}
	wg.Wait()
	n := syncs.Load() - before
	t.Logf("%d appends, %d fdatasyncs", groups*rounds, n)
	if n >= groups*rounds {
		t.Fatalf("%d fdatasyncs for %d concurrent appends: nothing was shared", n, groups*rounds)
	}
	for _, g := range gs {
		wantRange(t, g, 1, rounds, 1000)
	}
}

// Old segments go once every group has truncated past them; an idle group's
// few entries are copied forward rather than pinning the disk.
func TestLog_ReclaimsSegmentsPinnedByIdleGroup(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentSize: 64 << 10})
	idle, busy := group(t, l, "idle"), group(t, l, "busy")
	store(t, idle, 1, 3, 200)
	if err := idle.SetUint64([]byte("CurrentTerm"), 9); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 2000; i++ {
		store(t, busy, i, i, 1000)
		if i%100 == 0 {
			if err := busy.DeleteRange(1, i-50); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := l.Stats()
	t.Logf("after 2 MB through 64 KiB segments: %+v", st)
	if st.Segments > 6 {
		t.Fatalf("%d segments (%d bytes) kept for ~100 KB of live data", st.Segments, st.Bytes)
	}
	wantRange(t, idle, 1, 3, 200)
	l.Close()
	l = open(t, dir, Options{SegmentSize: 64 << 10})
	wantRange(t, group(t, l, "idle"), 1, 3, 200)
	wantRange(t, group(t, l, "busy"), 1951, 2000, 1000)
	if v, err := group(t, l, "idle").GetUint64([]byte("CurrentTerm")); err != nil || v != 9 {
		t.Fatalf("idle group's term after its segment was reclaimed: %d %v", v, err)
	}
}

// An idle group whose entries were copied forward twice, in two different
// reclamations, still recovers whole (the later copy holds higher indexes).
func TestLog_RecoversEntriesCopiedForwardTwice(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentSize: 32 << 10})
	slow, busy := group(t, l, "slow"), group(t, l, "busy")
	next := uint64(1)
	for round := uint64(0); round < 6; round++ {
		store(t, slow, round*2+1, round*2+2, 300)
		for range 100 {
			store(t, busy, next, next, 1000)
			next++
		}
		if err := busy.DeleteRange(1, next-20); err != nil {
			t.Fatal(err)
		}
	}
	wantRange(t, slow, 1, 12, 300)
	l.Close()
	l = open(t, dir, Options{SegmentSize: 32 << 10})
	wantRange(t, group(t, l, "slow"), 1, 12, 300)
}

func TestLog_Drop(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	g := group(t, l, "q/0")
	store(t, g, 1, 5, 10)
	if err := l.Drop("q/0"); err != nil {
		t.Fatal(err)
	}
	if err := g.StoreLogs([]*raft.Log{entry(6, 10)}); !errors.Is(err, ErrDropped) {
		t.Fatalf("write to a dropped group: %v", err)
	}
	l.Close()
	l = open(t, dir, Options{})
	if l.Has("q/0") {
		t.Fatal("a dropped group came back after reopen")
	}
	wantRange(t, group(t, l, "q/0"), 0, 0, 10)
}

// dataEnd is where the last whole write of the segment at path ends (the
// rest is the preallocated zeros).
func dataEnd(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := segHeaderLen
	for {
		_, end, err := readWrite(data, off, 0)
		if err != nil {
			return off
		}
		off = end
	}
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	nums, err := segmentNumbers(dir)
	if err != nil || len(nums) == 0 {
		t.Fatalf("segments: %v %v", nums, err)
	}
	return filepath.Join(dir, segName(nums[len(nums)-1]))
}

// A write cut short at any byte (power loss during the last write) is cut
// off on open; everything acknowledged before it stays.
func TestLog_TornTailIsCutBack(t *testing.T) {
	opts := Options{SegmentSize: 1 << 20}
	base := t.TempDir()
	l := open(t, base, opts)
	g := group(t, l, "g")
	store(t, g, 1, 10, 500)
	l.Close()
	path := lastSegment(t, base)
	good, _ := os.ReadFile(path)
	end := dataEnd(t, path)

	// The next write, as the writer would put it on disk.
	last := make([]byte, batchHeadLen)
	for i := uint64(11); i <= 13; i++ {
		last = appendEntry(last, kindEntry, g.id, entry(i, 500))
	}
	putBatch(last)
	for _, keep := range []int{1, 8, batchHeadLen - 1, batchHeadLen, batchHeadLen + 30, len(last) - 1} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			dir := t.TempDir()
			b := bytes.Clone(good)
			copy(b[end:], last[:keep])
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644); err != nil {
				t.Fatal(err)
			}
			l := open(t, dir, opts)
			g := group(t, l, "g")
			wantRange(t, g, 1, 10, 500)
			store(t, g, 11, 12, 500) // and the log goes on from there
			l.Close()
			wantRange(t, group(t, open(t, dir, opts), "g"), 1, 12, 500)
		})
	}
	t.Run("pages of the write missing", func(t *testing.T) {
		dir := t.TempDir()
		b := bytes.Clone(good)
		copy(b[end+1000:], last[1000:]) // its start never reached the disk
		os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
		wantRange(t, group(t, open(t, dir, opts), "g"), 1, 10, 500)
	})
}

// A flipped bit inside a write that is whole on disk is corruption, in the
// newest segment as in an older one: the log refuses to open.
func TestLog_CorruptionRefusesToOpen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentSize: 16 << 10})
	g := group(t, l, "g")
	for i := uint64(1); i <= 40; i++ {
		store(t, g, i, i, 1000)
	}
	l.Close()
	nums, _ := segmentNumbers(dir)
	if len(nums) < 2 {
		t.Fatalf("want several segments, have %d", len(nums))
	}
	for _, tc := range []struct {
		name string
		seg  uint32
		at   func(size int) int
	}{
		{"sealed segment, middle", nums[0], func(n int) int { return n / 2 }},
		{"sealed segment, last byte", nums[0], func(n int) int { return n - 1 }},
		{"newest segment, first write", nums[len(nums)-1], func(n int) int { return segHeaderLen + 20 }},
		{"segment header", nums[0], func(int) int { return 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := t.TempDir()
			for _, n := range nums {
				b, _ := os.ReadFile(filepath.Join(dir, segName(n)))
				if n == tc.seg {
					b[tc.at(len(b))] ^= 0x10
				}
				os.WriteFile(filepath.Join(cp, segName(n)), b, 0o644)
			}
			_, err := Open(cp, Options{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open after a flipped bit: %v, want ErrCorrupt", err)
			}
		})
	}
}

// A sealed segment cut short is corruption, not a torn write.
func TestLog_SealedSegmentCutShortRefuses(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentSize: 16 << 10})
	g := group(t, l, "g")
	for i := uint64(1); i <= 40; i++ {
		store(t, g, i, i, 1000)
	}
	l.Close()
	nums, _ := segmentNumbers(dir)
	p := filepath.Join(dir, segName(nums[0]))
	os.Truncate(p, int64(dataEnd(t, p)-100))
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a sealed segment cut short: %v", err)
	}
}

// After a clean Close, a flipped bit in the final write is corruption: the
// empty write Close ends with shows that write was complete.
func TestLog_DamageBeforeACleanCloseIsCorruption(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	store(t, group(t, l, "g"), 1, 1, 2000)
	l.Close()
	p := lastSegment(t, dir)
	b, _ := os.ReadFile(p)
	b[dataEnd(t, p)-batchHeadLen-1000] ^= 1
	os.WriteFile(p, b, 0o644)
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open after damage before a clean close: %v", err)
	}
}
