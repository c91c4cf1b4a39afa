package fsm

// This file holds idempotent produce. An Enqueue may give each message a
// deduplication id (Enqueue.DedupIDs). A message whose id was stored in this
// partition less than DedupWindowMs before (by the commands' clock, never a
// wall clock), earlier in the same Enqueue included, is not stored again:
// its result is the first one's offset. The table of ids is bounded by the
// window and by MaxDedupIDs, and is part of snapshots.

// DedupWindowMs is how long a deduplication id is remembered (5 minutes).
const DedupWindowMs = 5 * 60 * 1000

// MaxDedupIDs bounds the deduplication ids a partition remembers: past it,
// the oldest is forgotten before its window ends.
const MaxDedupIDs = 200_000

// dedupRec is one remembered id.
type dedupRec struct {
	id  string
	at  int64  // unix ms: when the first message with it was stored
	off uint64 // that message's offset
}

// dedupState is the partition's table of deduplication ids; the zero value
// is empty.
type dedupState struct {
	byID  map[string]uint64 // id → offset
	order []dedupRec        // in the order stored: at is non-decreasing
}

func (d *dedupState) len() int { return len(d.order) }

// remember adds id for the message at off, stored at at.
func (d *dedupState) remember(id string, at int64, off uint64) {
	if d.byID == nil {
		d.byID = make(map[string]uint64)
	}
	if len(d.order) >= MaxDedupIDs {
		d.forget(len(d.order) - MaxDedupIDs + 1)
	}
	d.byID[id] = off
	d.order = append(d.order, dedupRec{id: id, at: at, off: off})
}

// forget drops the k oldest ids.
func (d *dedupState) forget(k int) {
	for _, r := range d.order[:k] {
		delete(d.byID, r.id)
	}
	d.order = dropFront(d.order, k)
	if len(d.order) == 0 {
		d.byID = nil
	}
}

// expire forgets the ids stored at or before now - DedupWindowMs.
func (d *dedupState) expire(now int64) {
	cutoff, ok := retentionCutoff(now, DedupWindowMs)
	if !ok {
		return
	}
	k := 0
	for k < len(d.order) && d.order[k].at <= cutoff {
		k++
	}
	if k > 0 {
		d.forget(k)
	}
}

// enqueueDedup stores those of c's messages whose id is not remembered; see
// Enqueue.DedupIDs.
func (s *State) enqueueDedup(c *Enqueue) EnqueueResult {
	out := &DedupOutcome{Offsets: make([]uint64, len(c.Messages))}
	res := EnqueueResult{FirstOffset: s.log.end(), Dedup: out}
	for i, m := range c.Messages {
		id := c.DedupIDs[i]
		if off, ok := s.dedup.byID[id]; ok && id != "" {
			out.Offsets[i] = off
			out.Duplicates++
			continue
		}
		off := s.log.end()
		s.log.push(entry{producedAt: s.now, m: newMeta(m, !s.detached)})
		s.noteDelay(off, &m)
		out.Offsets[i] = off
		res.Count++
		if id != "" {
			s.dedup.remember(id, s.now, off)
		}
	}
	if res.Count > 0 {
		s.readyEvents++
	}
	return res
}
