package wal

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
)

// moveLimit is the share of a segment that may be copied forward to free
// it: a segment with more live data than that waits for its groups to
// truncate, so no byte is copied more than a few times.
const moveLimit = 4 // live bytes ≤ segment size / moveLimit

// reclaimSegments deletes the oldest sealed segments while nothing in them
// is live, copying forward what little keeps the oldest one alive. It runs
// on the writer goroutine, between writes.
func (l *Log) reclaimSegments() {
	l.reclaim = false
	deleted := false
	moved := map[uint32]bool{}
	for {
		l.mu.RLock()
		oldest := l.oldestSealed()
		var pinned bool
		var live liveSet
		if oldest != nil {
			live = l.liveIn(oldest.num)
			pinned = !live.empty()
		}
		l.mu.RUnlock()
		if oldest == nil {
			break
		}
		if !pinned {
			l.removeSegment(oldest)
			deleted = true
			continue
		}
		if moved[oldest.num] || live.bytes > l.opts.segmentSize()/moveLimit {
			break
		}
		moved[oldest.num] = true
		if err := l.moveForward(oldest, live); err != nil {
			l.log.Warn("wal: copying live frames forward failed", "segment", segName(oldest.num), "err", err)
			break
		}
	}
	if deleted {
		if err := l.syncDir(); err != nil {
			l.log.Warn("wal: sync after deleting segments", "err", err)
		}
	}
}

// oldestSealed is the oldest segment that is not the active one.
func (l *Log) oldestSealed() *segment {
	var oldest *segment
	for num, s := range l.segs {
		if num != l.active.num && (oldest == nil || num < oldest.num) {
			oldest = s
		}
	}
	return oldest
}

// liveSet is everything live in one segment.
type liveSet struct {
	entries map[*Group][]uint64 // indexes, descending
	stables map[*Group][]string
	defines []*Group
	bytes   int64
}

func (s liveSet) empty() bool {
	return len(s.entries) == 0 && len(s.stables) == 0 && len(s.defines) == 0
}

// liveIn lists what is live in segment num (under mu).
func (l *Log) liveIn(num uint32) liveSet {
	s := liveSet{entries: map[*Group][]uint64{}, stables: map[*Group][]string{}}
	for _, g := range l.groups {
		for i := len(g.locs) - 1; i >= 0; i-- {
			if at := g.locs[i]; at.seg == num {
				s.entries[g] = append(s.entries[g], g.first+uint64(i))
				s.bytes += int64(at.n)
			}
		}
		for k, v := range g.stable {
			if v.seg == num {
				s.stables[g] = append(s.stables[g], k)
				s.bytes += int64(len(k) + len(v.val) + frameHeadLen + 6)
			}
		}
		if g.defSeg == num {
			s.defines = append(s.defines, g)
			s.bytes += int64(len(g.name) + frameHeadLen + 4)
		}
	}
	return s
}

// moveForward copies the live frames of seg into the active segment, as
// one durable write, and points the groups at the copies. Entries are
// copied newest first (recovery then extends each group's log downwards).
func (l *Log) moveForward(seg *segment, live liveSet) error {
	var buf []byte
	type moved struct {
		g    *Group
		idx  uint64
		from loc
		end  uint32 // offset in buf after the copy
	}
	var copies []moved
	l.mu.RLock()
	for g, idxs := range live.entries {
		for _, idx := range idxs {
			at := g.locs[idx-g.first]
			start := len(buf)
			buf = append(buf, make([]byte, at.n)...)
			if _, err := seg.f.ReadAt(buf[start:], int64(at.off)); err != nil {
				l.mu.RUnlock()
				return err
			}
			buf[start+8] = byte(kindMoved)
			binary.LittleEndian.PutUint32(buf[start:], crc32.Checksum(buf[start+4:], castagnoli))
			copies = append(copies, moved{g: g, idx: idx, from: at, end: uint32(len(buf))})
		}
	}
	for g, keys := range live.stables {
		for _, k := range keys {
			buf = appendStable(buf, g.id, []byte(k), g.stable[k].val)
		}
	}
	for _, g := range live.defines {
		buf = appendDefine(buf, g.id, g.name)
	}
	l.mu.RUnlock()
	r := &request{buf: buf, done: make(chan error, 1), apply: func(to, off uint32) {
		start := uint32(0)
		for _, c := range copies {
			if c.idx >= c.g.first && c.idx <= c.g.last() && c.g.locs[c.idx-c.g.first] == c.from {
				c.g.locs[c.idx-c.g.first] = loc{seg: to, off: off + start, n: c.end - start}
			}
			start = c.end
		}
		for g, keys := range live.stables {
			for _, k := range keys {
				if v, ok := g.stable[k]; ok && v.seg == seg.num {
					g.stable[k] = stableVal{val: v.val, seg: to}
				}
			}
		}
		for _, g := range live.defines {
			if g.defSeg == seg.num {
				g.defSeg = to
			}
		}
	}}
	_, err := l.commit([]*request{r})
	return err
}

// removeSegment deletes a segment nothing live refers to.
func (l *Log) removeSegment(seg *segment) {
	l.mu.Lock()
	delete(l.segs, seg.num)
	l.mu.Unlock()
	seg.f.Close()
	if err := os.Remove(filepath.Join(l.dir, segName(seg.num))); err != nil {
		l.log.Warn("wal: deleting a reclaimed segment", "segment", segName(seg.num), "err", err)
	}
}
