package bodystore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func openCached(t *testing.T, dir string, seg int64, c *Cache) *Store {
	t.Helper()
	st, err := Open(dir, Options{SegmentBytes: seg, Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// reopenCached syncs and closes st, and opens its directory again with c:
// what c then holds was read, not appended.
func reopenCached(t *testing.T, st *Store, seg int64, c *Cache) *Store {
	t.Helper()
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	return openCached(t, st.dir, seg, c)
}

// cached lists the offsets the cache holds for st, in order.
func cached(st *Store) []uint64 {
	st.cache.c.mu.Lock()
	defer st.cache.c.mu.Unlock()
	var offs []uint64
	for o := range st.cache.m {
		offs = append(offs, o)
	}
	slices.Sort(offs)
	return offs
}

func span(lo, hi uint64) []uint64 {
	var s []uint64
	for o := lo; o < hi; o++ {
		s = append(s, o)
	}
	return s
}

func stats(t *testing.T, c *Cache, hits, misses uint64) {
	t.Helper()
	if s := c.Stats(); s.Hits != hits || s.Misses != misses {
		t.Fatalf("hits, misses = %d, %d; want %d, %d", s.Hits, s.Misses, hits, misses)
	}
}

// Appended records are served from memory; a miss away from the previous
// Get reads one record, a miss right after it reads ahead.
func TestCache_HitMissAndReadAhead(t *testing.T) {
	c := NewCache(1 << 20)
	st := openCached(t, t.TempDir(), 1<<20, c)
	fill(t, st, 0, 20)
	check(t, st, 0, 20)
	stats(t, c, 20, 0)

	c = NewCache(1 << 20)
	st = reopenCached(t, st, 1<<20, c)
	check(t, st, 5, 6) // not after the previous Get: one record
	stats(t, c, 0, 1)
	if got := cached(st); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("cached after a single read: %v", got)
	}
	check(t, st, 5, 6)
	stats(t, c, 1, 1)
	check(t, st, 6, 7) // sequential miss: reads the rest of the segment
	stats(t, c, 1, 2)
	if got := cached(st); !slices.Equal(got, span(5, 20)) {
		t.Fatalf("cached after read-ahead: %v", got)
	}
	check(t, st, 7, 20)
	stats(t, c, 14, 2)
	if s := c.Stats(); s.Entries != 15 || s.Bytes != 15*minSlot || s.Budget != 1<<20 {
		t.Fatalf("stats %+v", s)
	}
}

// Read-ahead stays within ReadAheadBytes and within the segment: the next
// segment is read by a read of its own.
func TestCache_ReadAheadBoundedBySegmentAndBytes(t *testing.T) {
	st := openCached(t, t.TempDir(), 300, nil)
	fill(t, st, 0, 60)
	c := NewCache(1 << 20)
	st = reopenCached(t, st, 300, c)
	segEnd := st.segs[0].end()
	check(t, st, 0, 1) // offset 0 follows the initial position: reads ahead
	if got := cached(st); !slices.Equal(got, span(0, segEnd)) {
		t.Fatalf("cached %v; want the first segment [0, %d)", got, segEnd)
	}
	check(t, st, 1, 60)
	if s := c.Stats(); s.Misses != uint64(st.Segments()) {
		t.Fatalf("%d misses reading %d segments", s.Misses, st.Segments())
	}

	big := bytes.Repeat([]byte("b"), 100<<10)
	st = openCached(t, t.TempDir(), 64<<20, nil)
	for o := range uint64(8) {
		if err := st.Append(o, big); err != nil {
			t.Fatal(err)
		}
	}
	c = NewCache(64 << 20)
	st = reopenCached(t, st, 64<<20, c)
	if b, err := st.Get(0); err != nil || !bytes.Equal(b, big) {
		t.Fatalf("get 0: %v", err)
	}
	if got := cached(st); !slices.Equal(got, []uint64{0, 1}) {
		t.Fatalf("cached %v; want the records within %d bytes", got, ReadAheadBytes)
	}
}

// At a torn tail (cut on open), read-ahead ends at the last whole record;
// what is written again at the cut is what is served.
func TestCache_ReadAheadAtTornTail(t *testing.T) {
	dir := t.TempDir()
	st := openCached(t, dir, 1<<20, nil)
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
	st = openCached(t, dir, 1<<20, NewCache(1<<20))
	check(t, st, 0, 49)
	if got := cached(st); !slices.Equal(got, span(0, 49)) {
		t.Fatalf("cached %v", got)
	}
	if _, err := st.Get(49); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get of the torn record: %v", err)
	}
	if err := st.Append(49, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Get(49); err != nil || string(b) != "again" {
		t.Fatalf("get 49 = %q, %v", b, err)
	}
}

// Read-ahead checks every record: damage after open ends what is cached,
// and the damaged record is reported, never served.
func TestCache_ReadAheadChecksEachRecord(t *testing.T) {
	dir := t.TempDir()
	st := openCached(t, dir, 1<<20, nil)
	fill(t, st, 0, 20)
	c := NewCache(1 << 20)
	st = reopenCached(t, st, 1<<20, c)
	damage := func(off uint64) {
		f, _ := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", 0)), os.O_RDWR, 0)
		f.WriteAt([]byte{'!'}, int64(st.segs[0].pos[off])+headerLen)
		f.Close()
	}
	damage(8)
	check(t, st, 0, 1)
	if got := cached(st); !slices.Equal(got, span(0, 8)) {
		t.Fatalf("cached %v; want [0, 8)", got)
	}
	check(t, st, 1, 8)
	if _, err := st.Get(8); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("get of the damaged record: %v", err)
	}
	check(t, st, 9, 20)
	damage(15)
	st.cache.dropAll()
	check(t, st, 14, 15)
	if _, err := st.Get(15); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read-ahead from a damaged record: %v", err)
	}
}

// TruncateFrom, an Append below the end, Reclaim, Reset and Close drop what
// they cut: a truncated-then-rewritten offset returns the new bytes.
func TestCache_Invalidation(t *testing.T) {
	c := NewCache(1 << 20)
	st := openCached(t, t.TempDir(), 200, nil)
	fill(t, st, 0, 60)
	st = reopenCached(t, st, 200, c)
	check(t, st, 0, 60) // all cached, by read-ahead

	if err := st.TruncateFrom(40); err != nil {
		t.Fatal(err)
	}
	if got := cached(st); !slices.Equal(got, span(0, 40)) {
		t.Fatalf("cached after truncate: %v", got)
	}
	for o := uint64(40); o < 45; o++ {
		if err := st.Append(o, []byte(fmt.Sprint("new-", o))); err != nil {
			t.Fatal(err)
		}
	}
	for o := uint64(40); o < 45; o++ {
		if b, err := st.Get(o); err != nil || string(b) != fmt.Sprint("new-", o) {
			t.Fatalf("get %d after truncate and rewrite = %q, %v", o, b, err)
		}
	}
	if err := st.Append(30, []byte("cut")); err != nil { // below the end
		t.Fatal(err)
	}
	if b, err := st.Get(30); err != nil || string(b) != "cut" {
		t.Fatalf("get 30 = %q, %v", b, err)
	}
	if got := cached(st); !slices.Equal(got, span(0, 31)) {
		t.Fatalf("cached after an append below the end: %v", got)
	}

	if n, err := st.Reclaim(25); err != nil || n == 0 {
		t.Fatalf("reclaim: %d, %v", n, err)
	}
	first, _ := st.Range()
	if got := cached(st); got[0] != first {
		t.Fatalf("cached %v after reclaim to first %d", got, first)
	}
	if _, err := st.Get(first - 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a reclaimed record: %v", err)
	}

	if err := st.Reset(); err != nil {
		t.Fatal(err)
	}
	if got := cached(st); len(got) != 0 {
		t.Fatalf("cached after reset: %v", got)
	}
	if err := st.Append(first, []byte("restored")); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Get(first); err != nil || string(b) != "restored" {
		t.Fatalf("get after reset = %q, %v", b, err)
	}
	st.Close()
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Fatalf("after close: %+v", s)
	}
}

// The ring evicts the oldest records first, whether read or not; a record
// larger than a quarter of the ring is not cached.
func TestCache_EvictionOrder(t *testing.T) {
	c := NewCache(10 * minSlot)
	st := openCached(t, t.TempDir(), 1<<20, c)
	rec := func(o uint64) []byte { return []byte(fmt.Sprintf("%010d", o)) }
	for o := range uint64(10) {
		if err := st.Append(o, rec(o)); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []uint64{7, 2} {
		if _, err := st.Get(o); err != nil {
			t.Fatal(err)
		}
	}
	for o := uint64(10); o < 13; o++ {
		if err := st.Append(o, rec(o)); err != nil {
			t.Fatal(err)
		}
	}
	if got := cached(st); !slices.Equal(got, span(3, 13)) {
		t.Fatalf("cached %v; want [3, 13) (the oldest evicted)", got)
	}
	check := func(o uint64) {
		if b, err := st.Get(o); err != nil || !bytes.Equal(b, rec(o)) {
			t.Fatalf("get %d = %q, %v", o, b, err)
		}
	}
	for o := uint64(3); o < 13; o++ {
		check(o)
	}
	if err := st.Append(13, make([]byte, len(c.ring)/4)); err != nil {
		t.Fatal(err)
	}
	if got := cached(st); slices.Contains(got, 13) || len(got) != 10 {
		t.Fatalf("a record over a quarter of the ring was cached: %v", got)
	}
	checkAccounting(t, c)
}

// Whatever two stores sharing a small cache do, the cache stays within its
// budget, its accounting matches its entries, and every Get returns the
// bytes last written at that offset.
func TestCache_BudgetProperty(t *testing.T) {
	c := NewCache(8 << 10)
	rng := rand.New(rand.NewPCG(1, 2))
	type model struct {
		st   *Store
		want map[uint64][]byte
		end  uint64
	}
	ms := []*model{
		{st: openCached(t, t.TempDir(), 1<<10, c), want: map[uint64][]byte{}},
		{st: openCached(t, t.TempDir(), 4<<10, c), want: map[uint64][]byte{}},
	}
	for i := range 4000 {
		m := ms[rng.IntN(len(ms))]
		switch op := rng.IntN(100); {
		case op < 45:
			p := bytes.Repeat([]byte{byte(i)}, rng.IntN(600))
			if err := m.st.Append(m.end, p); err != nil {
				t.Fatal(err)
			}
			m.want[m.end] = p
			m.end++
		case op < 90 && m.end > 0:
			// A run of reads in order (a consumer): misses read ahead.
			for o := m.end - 1 - uint64(rng.IntN(int(min(m.end, 40)))); o < m.end && rng.IntN(8) > 0; o++ {
				b, err := m.st.Get(o)
				if w, ok := m.want[o]; ok != (err == nil) || !bytes.Equal(b, w) {
					t.Fatalf("step %d: get %d = %d bytes, %v; want %d bytes", i, o, len(b), err, len(w))
				}
			}
		case op < 95 && m.end > 0:
			cut := m.end - uint64(rng.IntN(int(min(m.end, 10))+1))
			if err := m.st.TruncateFrom(cut); err != nil {
				t.Fatal(err)
			}
			for o := cut; o < m.end; o++ {
				delete(m.want, o)
			}
			m.end = cut
		case op < 99:
			if _, err := m.st.Reclaim(m.end - min(m.end, 30)); err != nil {
				t.Fatal(err)
			}
			first, _ := m.st.Range()
			for o := range m.want {
				if o < first {
					delete(m.want, o)
				}
			}
		default:
			if err := m.st.Reset(); err != nil {
				t.Fatal(err)
			}
			clear(m.want)
		}
		checkAccounting(t, c)
	}
	if s := c.Stats(); s.Hits == 0 || s.Misses == 0 {
		t.Fatalf("the run never hit or never missed: %+v", s)
	}
}

// checkAccounting checks the cache's counters against its index, and that
// every indexed slot is in the live part of the ring and holds the record
// the index says.
func checkAccounting(t *testing.T, c *Cache) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var held int64
	n := 0
	for id, sp := range c.spaces {
		for off, s := range sp.m {
			i := c.index(s.at)
			if s.at < c.tail || s.at+s.size() > c.head || i+int(s.size()) > len(c.ring) ||
				binary.LittleEndian.Uint64(c.ring[i:]) != off || binary.LittleEndian.Uint32(c.ring[i+8:]) != id ||
				binary.LittleEndian.Uint32(c.ring[i+12:]) != s.n {
				t.Fatalf("offset %d of space %d: slot at %d (%d bytes) outside [%d, %d) or not its record", off, id, s.at, s.size(), c.tail, c.head)
			}
			held += s.size()
			n++
		}
	}
	if held != c.held || n != c.entries || held > int64(len(c.ring)) || c.head-c.tail > int64(len(c.ring)) {
		t.Fatalf("held %d (counted %d), %d entries (counted %d), ring %d, live %d", held, c.held, n, c.entries, len(c.ring), c.head-c.tail)
	}
}

// Readers of several stores sharing one cache, while records are appended:
// run with -race.
func TestCache_ConcurrentReaders(t *testing.T) {
	c := NewCache(16 << 10)
	stores := []*Store{openCached(t, t.TempDir(), 2<<10, c), openCached(t, t.TempDir(), 2<<10, c)}
	for _, st := range stores {
		fill(t, st, 0, 300)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for _, st := range stores {
		wg.Add(3)
		go func() {
			defer wg.Done()
			for o := uint64(300); o < 600; o++ {
				if err := st.Append(o, payload(o)); err != nil {
					errs <- err
					return
				}
			}
		}()
		for r := range 2 {
			go func() {
				defer wg.Done()
				for pass := range 3 {
					for o := uint64(r * 50); o < 300; o++ {
						b, err := st.Get(o)
						if err != nil || !bytes.Equal(b, payload(o)) {
							errs <- fmt.Errorf("pass %d: get %d = %q, %v", pass, o, b, err)
							return
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkAccounting(t, c)
}

// BenchmarkStore_Get reads 16 MiB of 1 KiB records in order, over and over:
// with no cache (one pread a record, from the page cache), and with a 4 MiB
// cache, smaller than the data, so that every pass reads ahead again.
func BenchmarkStore_Get(b *testing.B) {
	const n = 16 << 10
	dir := b.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("m"), 1<<10)
	for o := range uint64(n) {
		if err := st.Append(o, body); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Sync(); err != nil {
		b.Fatal(err)
	}
	st.Close()
	for _, bc := range []struct {
		name  string
		cache *Cache
	}{{"cache=off", nil}, {"cache=4MiB", NewCache(4 << 20)}} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := Open(dir, Options{Cache: bc.cache})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var o uint64
			for b.Loop() {
				if _, err := st.Get(o); err != nil {
					b.Fatal(err)
				}
				o = (o + 1) % n
			}
			if s := bc.cache.Stats(); s.Hits+s.Misses > 0 {
				b.ReportMetric(float64(s.Hits)/float64(s.Hits+s.Misses), "hit-ratio")
			}
		})
	}
}

// BenchmarkStore_Append appends 1 KiB records (buffered, no sync) with no
// cache and with a 4 MiB one, which copies each record and evicts the
// oldest: the cost the cache adds to a partition's Apply.
func BenchmarkStore_Append(b *testing.B) {
	body := bytes.Repeat([]byte("m"), 1<<10)
	for _, bc := range []struct {
		name  string
		cache *Cache
	}{{"cache=off", nil}, {"cache=4MiB", NewCache(4 << 20)}} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := Open(b.TempDir(), Options{Cache: bc.cache})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var o uint64
			for b.Loop() {
				if err := st.Append(o, body); err != nil {
					b.Fatal(err)
				}
				o++
			}
		})
	}
}
