package fsm

import (
	"container/heap"
	"math"
)

// rec is one offset's delivery record in a lane, kept from its first delivery
// (or from when the cursor passed it without delivering it) until it is done
// (acknowledged, dead-lettered, filtered out or trimmed). A rec is in exactly
// one heap: in flight (the lane's expiry heap), ready for (re)delivery (the
// ready heap), or delayed (the delayed heap: a message not due yet, see
// Message.DeliverAt); idx is its position in that heap. A rec that was never
// delivered has deliveries 0 and is ready or delayed.
type rec struct {
	off        uint64
	id         uint64 // delivery id of the latest delivery (a Raft index)
	expiresAt  int64  // unix ms: the latest delivery's lease end
	firstAt    int64  // unix ms: first delivery in this lane
	deliveries uint32 // deliveries in this lane, the latest included
	failures   uint32 // failed consumptions: fail acks, releases and expiries
	inflight   bool   // the latest delivery is live
	expired    bool   // not in flight, and the latest delivery ended by expiry
	delayed    bool   // never delivered, and not due before dueAt
	dueAt      int64  // unix ms: the message's DeliverAt (meaningful when delayed)
	idx        int
}

// lane is a group's cursor over one log: the normal lane over the
// partition's messages, the dead-letter lane over the group's dead letters.
//
// Invariants (checked again on restore):
//   - base ≤ floor ≤ next ≤ end of the log, where base is the log's first
//     retained offset;
//   - every offset below floor is done (or trimmed);
//   - every offset in [floor, next) is in exactly one of recs and done, and
//     floor itself is never in done;
//   - a rec is in expiry when inflight and in ready otherwise.
type lane struct {
	floor   uint64
	next    uint64
	recs    map[uint64]*rec
	done    map[uint64]struct{}
	ready   readyHeap
	expiry  expiryHeap
	delayed dueHeap

	// High-water marks of recs and done since they were last rebuilt: Go
	// maps never give memory back, so compact rebuilds one that has
	// shrunk to a quarter of its peak.
	recsHigh, doneHigh int
}

// shrinkMin is the size below which compact leaves maps and slices alone.
const shrinkMin = 1024

// compact gives memory back after a lane's maps or heaps shrank a lot. It
// changes nothing observable. Its cost is amortised: a rebuild copies at most
// a quarter of the entries removed since the previous one.
func (ln *lane) compact() {
	if ln.recsHigh > shrinkMin && len(ln.recs) < ln.recsHigh/4 {
		ln.recs = cloneMap(ln.recs)
		ln.recsHigh = len(ln.recs)
	}
	if ln.doneHigh > shrinkMin && len(ln.done) < ln.doneHigh/4 {
		ln.done = cloneMap(ln.done)
		ln.doneHigh = len(ln.done)
	}
	ln.ready = shrinkSlice(ln.ready)
	ln.expiry = shrinkSlice(ln.expiry)
	ln.delayed = shrinkSlice(ln.delayed)
}

// cloneMap copies m into a map sized for its current length (maps.Clone
// would keep the old size).
func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	n := make(map[K]V, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n
}

// shrinkSlice reallocates s when it uses under a quarter of a large capacity.
func shrinkSlice[S ~[]E, E any](s S) S {
	if cap(s) <= shrinkMin || len(s) >= cap(s)/4 {
		return s
	}
	n := make(S, len(s), 2*len(s))
	copy(n, s)
	return n
}

func newLane(base uint64) *lane {
	return &lane{
		floor: base,
		next:  base,
		recs:  make(map[uint64]*rec),
		done:  make(map[uint64]struct{}),
	}
}

// doneRetained counts the done offsets at or above base.
func (ln *lane) doneRetained(base uint64) int64 {
	n := int64(len(ln.done))
	if ln.floor > base {
		n += int64(ln.floor - base)
	}
	return n
}

// isDone reports whether off (below next) is done for this lane.
func (ln *lane) isDone(off uint64) bool {
	if off < ln.floor {
		return true
	}
	_, ok := ln.done[off]
	return ok
}

// deliver starts a delivery of r with id until expiresAt.
func (ln *lane) deliver(r *rec, id uint64, now, expiresAt int64) {
	if r.deliveries == 0 {
		r.firstAt = now
	}
	if r.deliveries < math.MaxUint32 {
		r.deliveries++
	}
	r.id = id
	r.expiresAt = expiresAt
	r.inflight = true
	r.expired = false
	heap.Push(&ln.expiry, r)
}

// unheap takes r out of whichever heap holds it.
func (ln *lane) unheap(r *rec) {
	switch {
	case r.inflight:
		heap.Remove(&ln.expiry, r.idx)
	case r.delayed:
		heap.Remove(&ln.delayed, r.idx)
	default:
		heap.Remove(&ln.ready, r.idx)
	}
}

// delay puts a never-delivered rec aside until dueAt.
func (ln *lane) delay(r *rec, dueAt int64) {
	r.delayed = true
	r.dueAt = dueAt
	heap.Push(&ln.delayed, r)
}

// promote makes every delayed rec due at now ready, and returns how many.
func (ln *lane) promote(now int64) int {
	n := 0
	for len(ln.delayed) > 0 && ln.delayed[0].dueAt <= now {
		r := heap.Pop(&ln.delayed).(*rec)
		r.delayed = false
		ln.makeReady(r, false)
		n++
	}
	return n
}

// settle marks r's offset done: it leaves its heap and recs, and the floor
// moves past every done offset it can.
func (ln *lane) settle(r *rec) {
	ln.unheap(r)
	ln.markDone(r)
}

// markDone is settle for a rec that is in no heap.
func (ln *lane) markDone(r *rec) {
	delete(ln.recs, r.off)
	if r.off != ln.floor {
		ln.done[r.off] = struct{}{}
		ln.doneHigh = max(ln.doneHigh, len(ln.done))
		return
	}
	ln.floor++
	ln.advance()
}

// advance moves the floor over done offsets, forgetting them.
func (ln *lane) advance() {
	for ln.floor < ln.next {
		if _, ok := ln.done[ln.floor]; !ok {
			return
		}
		delete(ln.done, ln.floor)
		ln.floor++
	}
}

// makeReady turns an ended delivery into a redelivery candidate.
func (ln *lane) makeReady(r *rec, byExpiry bool) {
	r.inflight = false
	r.expired = byExpiry
	heap.Push(&ln.ready, r)
}

// trim forgets every offset below base (they left the log) and moves the
// cursor to base if it was behind. The cost is the number of records
// dropped: every offset in [floor, next) is a rec or a done entry.
func (ln *lane) trim(base uint64) {
	if ln.floor >= base {
		return
	}
	hi := min(base, ln.next)
	for o := ln.floor; o < hi; o++ {
		if r, ok := ln.recs[o]; ok {
			ln.unheap(r)
			delete(ln.recs, o)
		} else {
			delete(ln.done, o)
		}
	}
	ln.floor = base
	ln.next = max(ln.next, base)
	ln.advance()
}

// readyHeap orders redelivery candidates by offset.
type readyHeap []*rec

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].off < h[j].off }
func (h readyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *readyHeap) Push(x any) {
	r := x.(*rec)
	r.idx = len(*h)
	*h = append(*h, r)
}
func (h *readyHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	r.idx = -1
	return r
}

// expiryHeap orders live deliveries by (expiresAt, offset), a total order, so
// expiries settle in the same order on every replica whatever the heap's
// internal layout.
type expiryHeap []*rec

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if h[i].expiresAt != h[j].expiresAt {
		return h[i].expiresAt < h[j].expiresAt
	}
	return h[i].off < h[j].off
}
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *expiryHeap) Push(x any) {
	r := x.(*rec)
	r.idx = len(*h)
	*h = append(*h, r)
}
func (h *expiryHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	r.idx = -1
	return r
}

// dueHeap orders delayed recs by (dueAt, offset), a total order.
type dueHeap []*rec

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].dueAt != h[j].dueAt {
		return h[i].dueAt < h[j].dueAt
	}
	return h[i].off < h[j].off
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *dueHeap) Push(x any) {
	r := x.(*rec)
	r.idx = len(*h)
	*h = append(*h, r)
}
func (h *dueHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	r.idx = -1
	return r
}
