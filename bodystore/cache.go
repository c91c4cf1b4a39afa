package bodystore

import (
	"encoding/binary"
	"sync"
)

// ReadAheadBytes bounds the one read that a sequential miss makes.
const ReadAheadBytes = 256 << 10

// slotHeader is the size of a slot's header in the ring: the record's
// offset, its store's space id and the payload length.
const slotHeader = 16

// minSlot is the least ring space a record takes. It bounds the number of
// records, and so the index (a map entry each, on the heap), to budget /
// minSlot however small the bodies.
const minSlot = 128

// wrapMark, as a slot's space id, says the ring continues at its start.
const wrapMark = 0

// Cache holds recently appended and read-ahead record payloads of every
// store opened with it, in one ring of budget bytes outside the Go heap
// where the platform allows (so the garbage collector neither scans it nor
// lets the heap grow in proportion to it). See the package documentation.
// A nil *Cache caches nothing.
type Cache struct {
	mu     sync.Mutex
	ring   []byte
	head   int64 // where the next slot goes, counted from the ring's creation
	tail   int64 // the oldest slot still in the ring, same count
	spaces map[uint32]*space
	lastID uint32

	held    int64 // ring bytes of the records cached now
	entries int
	hits    uint64
	misses  uint64
}

// CacheStats is a snapshot of a Cache's counters.
type CacheStats struct {
	Hits, Misses uint64 // Get calls served from memory, and not
	Bytes        int64  // ring bytes of the records held (headers and padding included)
	Budget       int64
	Entries      int
}

// NewCache returns a cache of budget bytes, or nil (no cache) when budget
// is not positive.
func NewCache(budget int64) *Cache {
	if budget <= 0 {
		return nil
	}
	budget = max(budget, 4*minSlot) &^ 7
	c := &Cache{spaces: make(map[uint32]*space)}
	c.allocRing(int(budget))
	return c
}

// Stats returns the cache's counters; all zero for a nil cache.
func (c *Cache) Stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Bytes: c.held, Budget: int64(len(c.ring)), Entries: c.entries}
}

// space is one open store's part of the cache: where in the ring each of
// its cached records is. Guarded by the cache's mutex: evicting for one
// store removes another's entries. A nil space caches nothing.
type space struct {
	c  *Cache
	id uint32
	m  map[uint64]slot // a value type: the collector does not scan it
}

// slot is where one record is in the ring.
type slot struct {
	at int64 // ring position of the slot, as Cache.head counts
	n  uint32
}

func (s slot) size() int64 { return max(align8(slotHeader+int64(s.n)), minSlot) }

func align8(n int64) int64 { return (n + 7) &^ 7 }

func (c *Cache) newSpace() *space {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastID++
	if c.lastID == wrapMark {
		c.lastID++
	}
	sp := &space{c: c, id: c.lastID, m: make(map[uint64]slot)}
	c.spaces[sp.id] = sp
	return sp
}

func (c *Cache) index(at int64) int { return int(at % int64(len(c.ring))) }

// get returns a copy of the payload of off when cached, and counts a hit or
// a miss.
func (sp *space) get(off uint64) ([]byte, bool) {
	if sp == nil {
		return nil, false
	}
	c := sp.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := sp.m[off]
	if !ok {
		c.misses++
		return nil, false
	}
	c.hits++
	i := c.index(s.at) + slotHeader
	return append([]byte{}, c.ring[i:i+int(s.n)]...), true
}

// set caches a copy of p as the payload of off, replacing what was cached
// for it (a record just appended).
func (sp *space) set(off uint64, p []byte) {
	if sp == nil {
		return
	}
	sp.c.mu.Lock()
	defer sp.c.mu.Unlock()
	sp.removeLocked(off)
	sp.addLocked(off, p)
}

// add caches a copy of p as the payload of off unless off is cached (a
// record read from disk).
func (sp *space) add(off uint64, p []byte) {
	if sp == nil {
		return
	}
	sp.c.mu.Lock()
	defer sp.c.mu.Unlock()
	if _, ok := sp.m[off]; !ok {
		sp.addLocked(off, p)
	}
}

// addLocked writes the record at the ring's head, evicting the oldest slots
// to make room. A record larger than a quarter of the ring is not cached:
// it would flush the rest.
func (sp *space) addLocked(off uint64, p []byte) {
	c := sp.c
	s := slot{n: uint32(len(p))}
	size := s.size()
	if size > int64(len(c.ring))/4 {
		return
	}
	if room := int64(len(c.ring) - c.index(c.head)); room < size {
		// The slot would straddle the end: mark the rest and wrap.
		c.evictUntil(c.head + room)
		if room >= slotHeader {
			writeHeader(c.ring[c.index(c.head):], 0, wrapMark, 0)
		}
		c.head += room
	}
	c.evictUntil(c.head + size)
	s.at = c.head
	i := c.index(s.at)
	writeHeader(c.ring[i:], off, sp.id, s.n)
	copy(c.ring[i+slotHeader:], p)
	c.head += size
	sp.m[off] = s
	c.held += size
	c.entries++
}

func writeHeader(b []byte, off uint64, id, n uint32) {
	binary.LittleEndian.PutUint64(b, off)
	binary.LittleEndian.PutUint32(b[8:], id)
	binary.LittleEndian.PutUint32(b[12:], n)
}

// evictUntil advances the tail past every slot that starts before end -
// len(ring): the ring space up to end is then free. A slot whose record was
// dropped or replaced is passed over.
func (c *Cache) evictUntil(end int64) {
	for c.tail < end-int64(len(c.ring)) {
		i := c.index(c.tail)
		room := int64(len(c.ring) - i)
		if room < slotHeader {
			c.tail += room
			continue
		}
		off := binary.LittleEndian.Uint64(c.ring[i:])
		id := binary.LittleEndian.Uint32(c.ring[i+8:])
		if id == wrapMark {
			c.tail += room
			continue
		}
		s := slot{n: binary.LittleEndian.Uint32(c.ring[i+12:])}
		if sp := c.spaces[id]; sp != nil {
			if cur, ok := sp.m[off]; ok && cur.at == c.tail {
				sp.removeLocked(off)
			}
		}
		c.tail += s.size()
	}
}

// removeLocked forgets the record of off; its ring space is reused when the
// tail passes it.
func (sp *space) removeLocked(off uint64) {
	s, ok := sp.m[off]
	if !ok {
		return
	}
	delete(sp.m, off)
	sp.c.held -= s.size()
	sp.c.entries--
}

// dropRange forgets every cached record in [lo, hi), walking whichever is
// shorter: the range or the store's entries.
func (sp *space) dropRange(lo, hi uint64) {
	if sp == nil || lo >= hi {
		return
	}
	sp.c.mu.Lock()
	defer sp.c.mu.Unlock()
	if hi-lo <= uint64(len(sp.m)) {
		for o := lo; o < hi; o++ {
			sp.removeLocked(o)
		}
		return
	}
	for o := range sp.m {
		if o >= lo && o < hi {
			sp.removeLocked(o)
		}
	}
}

// dropAll forgets every cached record of the store.
func (sp *space) dropAll() {
	if sp == nil {
		return
	}
	sp.c.mu.Lock()
	defer sp.c.mu.Unlock()
	for o := range sp.m {
		sp.removeLocked(o)
	}
}

// close forgets every cached record of the store and the store itself.
func (sp *space) close() {
	if sp == nil {
		return
	}
	sp.dropAll()
	sp.c.mu.Lock()
	delete(sp.c.spaces, sp.id)
	sp.c.mu.Unlock()
}
