package bodystore

import (
	"slices"
	"sync"
)

// entryOverhead is what one cached record costs beyond its payload (the
// entry and its map slot). The budget counts it, so that many small records
// cannot hold more memory than the budget says.
const entryOverhead = 96

// ReadAheadBytes bounds the one read that a sequential miss makes.
const ReadAheadBytes = 256 << 10

// Cache holds recently appended and read-ahead record payloads of every
// store opened with it, within one byte budget. See the package
// documentation. A nil *Cache caches nothing.
type Cache struct {
	budget int64

	mu      sync.Mutex
	held    int64 // payloads plus entryOverhead each; never above budget
	entries int
	unread  list // appended or read ahead, not yet read; oldest first
	read    list // read at least once; least recently read first
	hits    uint64
	misses  uint64
}

// CacheStats is a snapshot of a Cache's counters.
type CacheStats struct {
	Hits, Misses uint64 // Get calls served from memory, and not
	Bytes        int64  // held now, entryOverhead included
	Budget       int64
	Entries      int
}

// NewCache returns a cache of budget bytes, or nil (no cache) when budget
// is not positive.
func NewCache(budget int64) *Cache {
	if budget <= 0 {
		return nil
	}
	c := &Cache{budget: budget}
	c.unread.init()
	c.read.init()
	return c
}

// Stats returns the cache's counters; all zero for a nil cache.
func (c *Cache) Stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Bytes: c.held, Budget: c.budget, Entries: c.entries}
}

// space is one open store's part of the cache. Its map is guarded by the
// cache's mutex: evicting for one store removes another's entries. A nil
// space caches nothing.
type space struct {
	c *Cache
	m map[uint64]*entry
}

func (c *Cache) newSpace() *space {
	if c == nil {
		return nil
	}
	return &space{c: c, m: make(map[uint64]*entry)}
}

type entry struct {
	sp         *space
	off        uint64
	data       []byte
	in         *list
	prev, next *entry
}

// size is what the entry counts against the budget: the memory its payload
// holds (a recycled buffer may be larger than the payload) and the overhead.
func (e *entry) size() int64 { return int64(cap(e.data)) + entryOverhead }

// list is a circular doubly linked list of entries around a sentinel.
type list struct{ root entry }

func (l *list) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *list) front() *entry {
	if l.root.next == &l.root {
		return nil
	}
	return l.root.next
}

func (l *list) pushBack(e *entry) {
	e.in, e.prev, e.next = l, l.root.prev, &l.root
	l.root.prev.next = e
	l.root.prev = e
}

func (e *entry) unlink() {
	e.prev.next, e.next.prev = e.next, e.prev
	e.in, e.prev, e.next = nil, nil, nil
}

// get returns a copy of the payload of off when cached, and counts a hit or
// a miss. A hit moves the record to the back of the read list.
func (sp *space) get(off uint64) ([]byte, bool) {
	if sp == nil {
		return nil, false
	}
	c := sp.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e := sp.m[off]
	if e == nil {
		c.misses++
		return nil, false
	}
	c.hits++
	e.unlink()
	c.read.pushBack(e)
	return slices.Clone(e.data), true
}

// set caches a copy of p as the payload of off, replacing what was cached
// for it (a record just appended).
func (sp *space) set(off uint64, p []byte) {
	if sp == nil {
		return
	}
	sp.c.mu.Lock()
	defer sp.c.mu.Unlock()
	if e := sp.m[off]; e != nil {
		sp.removeLocked(e)
	}
	sp.addLocked(off, p, false)
}

// add caches a copy of p as the payload of off unless off is cached (a
// record read from disk); wasRead puts it on the read list.
func (sp *space) add(off uint64, p []byte, wasRead bool) {
	if sp == nil {
		return
	}
	sp.c.mu.Lock()
	defer sp.c.mu.Unlock()
	if sp.m[off] == nil {
		sp.addLocked(off, p, wasRead)
	}
}

// addLocked evicts until the record fits and adds a copy of it, in an
// evicted entry's buffer when one fits (a full cache then allocates
// nothing). A record larger than a quarter of the budget is not cached: it
// would flush the rest.
func (sp *space) addLocked(off uint64, p []byte, wasRead bool) {
	c := sp.c
	need := int64(len(p)) + entryOverhead
	if need > c.budget/4 {
		return
	}
	var spare *entry
	for c.held+need > c.budget {
		victim := c.read.front()
		if victim == nil {
			victim = c.unread.front()
		}
		victim.sp.removeLocked(victim)
		if n := cap(victim.data); n >= len(p) && n <= 2*len(p)+64 {
			spare = victim
		}
	}
	e := spare
	if e == nil || c.held+e.size() > c.budget {
		e = &entry{data: make([]byte, 0, len(p))}
	}
	e.sp, e.off, e.data = sp, off, append(e.data[:0], p...)
	if wasRead {
		c.read.pushBack(e)
	} else {
		c.unread.pushBack(e)
	}
	sp.m[off] = e
	c.held += e.size()
	c.entries++
}

func (sp *space) removeLocked(e *entry) {
	e.unlink()
	delete(sp.m, e.off)
	sp.c.held -= e.size()
	sp.c.entries--
}

// dropRange removes every cached record in [lo, hi), walking whichever is
// shorter: the range or the store's entries.
func (sp *space) dropRange(lo, hi uint64) {
	if sp == nil || lo >= hi {
		return
	}
	sp.c.mu.Lock()
	defer sp.c.mu.Unlock()
	if hi-lo <= uint64(len(sp.m)) {
		for o := lo; o < hi; o++ {
			if e := sp.m[o]; e != nil {
				sp.removeLocked(e)
			}
		}
		return
	}
	for o, e := range sp.m {
		if o >= lo && o < hi {
			sp.removeLocked(e)
		}
	}
}

// dropAll removes every cached record of the store.
func (sp *space) dropAll() {
	if sp == nil {
		return
	}
	sp.c.mu.Lock()
	defer sp.c.mu.Unlock()
	for _, e := range sp.m {
		sp.removeLocked(e)
	}
}
