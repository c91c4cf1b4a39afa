package wal

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/hashicorp/raft"
)

// Group is one Raft group's log and stable store inside the shared log. It
// implements raft.LogStore, raft.StableStore and raft.MonotonicLogStore:
// its entries are contiguous, so after restoring a snapshot hashicorp/raft
// deletes them all rather than leaving a gap.
type Group struct {
	l    *Log
	id   uint32
	name string

	// Guarded by l.mu.
	first   uint64 // index of locs[0]; 0 when the log is empty
	locs    []loc
	stable  map[string]stableVal
	defSeg  uint32 // the segment holding this group's define frame
	dropped bool
	// parked holds, during recovery only, copies of entries (moved frames)
	// read before the entries above them: reclamation copies a group's
	// oldest entries forward, so a later copy can hold higher indexes than
	// an earlier one.
	parked map[uint64]loc
}

type stableVal struct {
	val []byte
	seg uint32
}

// Name is the group's name.
func (g *Group) Name() string { return g.name }

func (g *Group) last() uint64 {
	if len(g.locs) == 0 {
		return 0
	}
	return g.first + uint64(len(g.locs)) - 1
}

// putEntry records entry idx at `at`. An index at or below the last one
// replaces it and everything after (a follower's conflicting suffix); an
// index past a gap starts the log again (only stale data can precede one).
func (g *Group) putEntry(idx uint64, at loc) {
	switch last := g.last(); {
	case len(g.locs) > 0 && idx == last+1:
	case len(g.locs) > 0 && idx >= g.first && idx <= last:
		g.locs = g.locs[:idx-g.first]
	default:
		g.locs = g.locs[:0]
		g.first = idx
		g.unpark(func(i uint64) bool { return i < idx })
	}
	g.locs = append(g.locs, at)
	g.unpark(func(i uint64) bool { return i >= idx })
}

// unpark forgets the parked copies gone matches.
func (g *Group) unpark(gone func(uint64) bool) {
	for i := range g.parked {
		if gone(i) {
			delete(g.parked, i)
		}
	}
}

// extendDown prepends parked copies that continue the log downwards.
func (g *Group) extendDown() {
	for len(g.locs) > 0 && g.first > 1 {
		at, ok := g.parked[g.first-1]
		if !ok {
			return
		}
		delete(g.parked, g.first-1)
		g.locs = slices.Insert(g.locs, 0, at)
		g.first--
	}
}

// putMoved records where reclamation copied entry idx. Copies are written
// newest first, so an index just below the first one extends the log
// downwards.
func (g *Group) putMoved(idx uint64, at loc) {
	switch {
	case len(g.locs) == 0:
		g.first = idx
		g.locs = append(g.locs[:0], at)
	case idx >= g.first && idx <= g.last():
		g.locs[idx-g.first] = at
	case idx+1 == g.first:
		g.locs = slices.Insert(g.locs, 0, at)
		g.first = idx
	case idx < g.first:
		if g.parked == nil {
			g.parked = map[uint64]loc{}
		}
		g.parked[idx] = at
		return
	}
	g.extendDown()
}

// dropBefore forgets the entries below idx.
func (g *Group) dropBefore(idx uint64) {
	g.unpark(func(i uint64) bool { return i < idx })
	if len(g.locs) == 0 || idx <= g.first {
		return
	}
	if idx > g.last() {
		g.locs = g.locs[:0]
		g.first = 0
	} else {
		n := idx - g.first
		// Copy when most of the slice is dead, so truncation frees memory.
		if uint64(cap(g.locs)) > 2*(uint64(len(g.locs))-n)+64 {
			g.locs = slices.Clone(g.locs[n:])
		} else {
			g.locs = g.locs[n:]
		}
		g.first = idx
	}
	g.l.reclaim = true
}

// dropFrom forgets the entries from idx on.
func (g *Group) dropFrom(idx uint64) {
	g.unpark(func(i uint64) bool { return i >= idx })
	if len(g.locs) == 0 || idx > g.last() {
		return
	}
	if idx <= g.first {
		g.locs = g.locs[:0]
		g.first = 0
		return
	}
	g.locs = g.locs[:idx-g.first]
}

// FirstIndex returns the first index written, 0 for an empty log.
func (g *Group) FirstIndex() (uint64, error) {
	g.l.mu.RLock()
	defer g.l.mu.RUnlock()
	return g.first, nil
}

// LastIndex returns the last index written, 0 for an empty log.
func (g *Group) LastIndex() (uint64, error) {
	g.l.mu.RLock()
	defer g.l.mu.RUnlock()
	return g.last(), nil
}

// GetLog reads entry idx from disk and verifies its checksum.
func (g *Group) GetLog(idx uint64, out *raft.Log) error {
	f, at, err := g.readFrame(idx)
	if err != nil {
		return err
	}
	if (f.kind != kindEntry && f.kind != kindMoved) || f.group != g.id || f.index() != idx {
		return &CorruptError{Segment: segName(at.seg), Offset: int64(at.off), Why: fmt.Sprintf("entry %d of %s is not there", idx, g.name)}
	}
	f.decodeEntry(out)
	return nil
}

// readFrame reads the frame of entry idx.
func (g *Group) readFrame(idx uint64) (frame, loc, error) {
	l := g.l
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(g.locs) == 0 || idx < g.first || idx > g.last() {
		return frame{}, loc{}, raft.ErrLogNotFound
	}
	at := g.locs[idx-g.first]
	seg := l.segs[at.seg]
	if seg == nil {
		return frame{}, at, &CorruptError{Segment: segName(at.seg), Offset: int64(at.off), Why: "segment missing"}
	}
	buf := make([]byte, at.n)
	if _, err := seg.f.ReadAt(buf, int64(at.off)); err != nil {
		return frame{}, at, fmt.Errorf("wal: read %s: %w", segName(at.seg), err)
	}
	f, _, err := parseFrame(buf)
	if err != nil {
		return frame{}, at, &CorruptError{Segment: segName(at.seg), Offset: int64(at.off), Why: err.Error()}
	}
	return f, at, nil
}

// StoreLog stores one entry.
func (g *Group) StoreLog(l *raft.Log) error { return g.StoreLogs([]*raft.Log{l}) }

// StoreLogs appends entries (contiguous, ascending) and returns once they
// are on disk. An entry at or below the last index replaces the log from
// there on.
func (g *Group) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	g.l.mu.RLock()
	dropped, last, first := g.dropped, g.last(), g.first
	g.l.mu.RUnlock()
	if dropped {
		return ErrDropped
	}
	if first != 0 && logs[0].Index > last+1 {
		return &GapError{Group: g.name, Last: last, Next: logs[0].Index}
	}
	size := 0
	for i, l := range logs {
		if i > 0 && l.Index != logs[i-1].Index+1 {
			return &GapError{Group: g.name, Last: logs[i-1].Index, Next: l.Index}
		}
		size += frameHeadLen + entryFixed + len(l.Extensions) + len(l.Data)
	}
	buf := make([]byte, 0, size)
	ends := make([]uint32, len(logs))
	for i, l := range logs {
		buf = appendEntry(buf, kindEntry, g.id, l)
		ends[i] = uint32(len(buf))
	}
	return g.l.submit(buf, func(seg, off uint32) {
		start := uint32(0)
		for i, l := range logs {
			g.putEntry(l.Index, loc{seg: seg, off: off + start, n: ends[i] - start})
			start = ends[i]
		}
	})
}

// DeleteRange deletes entries min through max: a prefix (compaction) or a
// suffix (a follower's conflicting entries), durably.
func (g *Group) DeleteRange(min, max uint64) error {
	g.l.mu.RLock()
	first, last, dropped := g.first, g.last(), g.dropped
	g.l.mu.RUnlock()
	switch {
	case dropped:
		return ErrDropped
	case first == 0 || min > max || max < first || min > last:
		return nil
	case min <= first:
		return g.l.submitReserved(appendIndexOp(nil, kindPrefix, g.id, max+1), func(uint32, uint32) { g.dropBefore(max + 1) })
	case max >= last:
		return g.l.submitReserved(appendIndexOp(nil, kindSuffix, g.id, min), func(uint32, uint32) { g.dropFrom(min) })
	default:
		return fmt.Errorf("wal: group %s: cannot delete %d-%d from the middle of %d-%d", g.name, min, max, first, last)
	}
}

// IsMonotonic tells hashicorp/raft that this store keeps no gaps.
func (g *Group) IsMonotonic() bool { return true }

// Set stores a stable value durably.
func (g *Group) Set(key, val []byte) error {
	if len(key) > 1<<15 {
		return fmt.Errorf("wal: stable key of %d bytes", len(key))
	}
	g.l.mu.RLock()
	dropped := g.dropped
	g.l.mu.RUnlock()
	if dropped {
		return ErrDropped
	}
	v := slices.Clone(val)
	return g.l.submitReserved(appendStable(nil, g.id, key, val), func(seg, _ uint32) {
		g.stable[string(key)] = stableVal{val: v, seg: seg}
	})
}

// Get returns a stable value; a key never set is an error reading "not
// found", which hashicorp/raft recognises.
func (g *Group) Get(key []byte) ([]byte, error) {
	g.l.mu.RLock()
	defer g.l.mu.RUnlock()
	v, ok := g.stable[string(key)]
	if !ok {
		return nil, errNotFound
	}
	return slices.Clone(v.val), nil
}

// SetUint64 stores a stable number.
func (g *Group) SetUint64(key []byte, val uint64) error {
	return g.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns a stable number.
func (g *Group) GetUint64(key []byte) (uint64, error) {
	v, err := g.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("wal: group %s: stable key %s holds %d bytes, not a number", g.name, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
