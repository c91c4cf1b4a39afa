package partition

import (
	"sync"

	"github.com/hashicorp/raft"
)

// logCacheBytes bounds the bytes (data and extensions) of the entries each
// group's log cache holds: 1,024 entries of up to 512 KiB each (one produce
// request) would be half a GiB per partition. Past it the oldest cached
// entries are dropped; a follower that needs them is served from the log.
const logCacheBytes = 8 << 20

// logCache keeps the newest entries of a group in memory, as
// raft.LogCache does, but bounded by bytes as well as by count. It holds
// one contiguous run of indexes, lo..hi.
type logCache struct {
	raft.LogStore
	maxBytes int64

	mu     sync.RWMutex
	ring   []*raft.Log
	lo, hi uint64 // cached indexes; empty when hi < lo
	bytes  int64
}

func newLogCache(store raft.LogStore, entries int, maxBytes int64) *logCache {
	return &logCache{LogStore: store, maxBytes: maxBytes, ring: make([]*raft.Log, entries), lo: 1}
}

func logBytes(l *raft.Log) int64 { return int64(len(l.Data) + len(l.Extensions)) }

// IsMonotonic passes on the store's answer (raft.MonotonicLogStore).
func (c *logCache) IsMonotonic() bool {
	m, ok := c.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

func (c *logCache) GetLog(idx uint64, out *raft.Log) error {
	c.mu.RLock()
	if idx >= c.lo && idx <= c.hi {
		*out = *c.ring[idx%uint64(len(c.ring))]
		c.mu.RUnlock()
		return nil
	}
	c.mu.RUnlock()
	return c.LogStore.GetLog(idx, out)
}

func (c *logCache) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

// StoreLogs writes logs to the store and then caches them. Logs that do not
// follow the cached run (a follower overwriting a conflicting suffix)
// replace it.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range logs {
		c.add(l)
	}
	return nil
}

// add caches l (under mu), dropping the oldest entries past the bounds.
func (c *logCache) add(l *raft.Log) {
	if c.hi < c.lo || l.Index != c.hi+1 {
		c.clear()
		c.lo = l.Index
	}
	slot := l.Index % uint64(len(c.ring))
	if c.hi >= c.lo && c.hi-c.lo+1 == uint64(len(c.ring)) {
		c.evict() // the slot of lo is the one l takes
	}
	c.ring[slot] = l
	c.hi = l.Index
	c.bytes += logBytes(l)
	for c.bytes > c.maxBytes && c.lo < c.hi {
		c.evict()
	}
}

func (c *logCache) evict() {
	slot := c.lo % uint64(len(c.ring))
	c.bytes -= logBytes(c.ring[slot])
	c.ring[slot] = nil
	c.lo++
}

func (c *logCache) clear() {
	clear(c.ring)
	c.lo, c.hi, c.bytes = 1, 0, 0
}

// DeleteRange empties the cache (as raft.LogCache does) and deletes from
// the store.
func (c *logCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	c.clear()
	c.mu.Unlock()
	return c.LogStore.DeleteRange(min, max)
}
