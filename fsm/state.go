package fsm

import (
	"cmp"
	"container/heap"
	"fmt"
	"math"
	"slices"
)

// entry is one retained message of the partition's log.
type entry struct {
	producedAt int64 // unix ms, the Enqueue's clamped clock
	m          meta
}

// deadEntry is one dead letter: a copy of a message in a group's dead-letter
// log.
type deadEntry struct {
	deadAt     int64  // unix ms: when it was dead-lettered
	producedAt int64  // unix ms: when the original message was enqueued
	orig       uint64 // the original message's offset
	m          meta   // its body, if held, is the original's
}

// deadMark remembers a normal-lane offset that a group dead-lettered, while
// the message is retained: Stats subtracts them from the consumed count, and
// an ack of the final delivery can still say how that delivery ended.
type deadMark struct {
	off     uint64
	id      uint64 // the last delivery id
	expired bool   // the last delivery ended by expiry
}

// group is one consumer group's state in the partition.
type group struct {
	normal     *lane
	dead       []deadMark // sorted by off; all at or above the log's base
	dl         seqLog[deadEntry]
	dlLane     *lane
	producedDL int64 // messages ever dead-lettered (since the group was created)
}

// State is one queue partition's state machine. It is pure and
// deterministic: everything it does follows from the commands applied, in
// order, and from nothing else (no clock, no randomness, no map order).
//
// State is not safe for concurrent use; FSM adds the locking.
//
// Apply keeps the Message byte slices it is given, and LeaseResult returns
// them: callers must treat both as read-only.
type State struct {
	index  uint64 // Raft index of the last command applied
	now    int64  // largest Header.Now applied (unix ms)
	log    seqLog[entry]
	groups map[GroupID]*group
	order  []GroupID  // the keys of groups, sorted: housekeeping and snapshots walk this
	txn    txnState   // half messages (txn.go)
	dedup  dedupState // deduplication ids (dedup.go)

	// delays lists messages enqueued not yet due (delay.go): derived from
	// the log, not part of the replicated state or the snapshot.
	delays     []delayRef
	delaysKept int

	// detached: message bodies are not kept in the state but in a
	// BodyStore (see meta); snapshots then hold metadata only.
	detached bool

	// readyEvents counts events that may have made a message ready (an
	// enqueue, a release, an expiry, a dead-lettering). FSM compares it
	// before and after a batch to decide whether to signal Changed. It is
	// not part of the replicated state.
	readyEvents uint64
}

// NewState returns an empty partition: no messages, no groups, clock 0.
// It keeps message bodies in memory.
func NewState() *State {
	return &State{groups: make(map[GroupID]*group)}
}

// NewDetachedState is NewState for a state that keeps only message metadata:
// the bodies are records of a BodyStore (see FSM), and a Lease returns them
// empty.
func NewDetachedState() *State {
	s := NewState()
	s.setDetached()
	return s
}

func (s *State) setDetached() {
	s.detached = true
	s.log.shared = true
}

// Now is the state's clock: the largest Header.Now applied (unix ms).
func (s *State) Now() int64 { return s.now }

// Index is the Raft index passed with the last command applied (or restored).
func (s *State) Index() uint64 { return s.index }

// Produced is the number of retained messages.
func (s *State) Produced() int64 { return int64(s.log.len()) }

// Offsets returns the offset of the oldest retained message and the offset
// the next enqueued message will get; they are equal when none is retained.
func (s *State) Offsets() (first, next uint64) {
	return s.log.base, s.log.end()
}

// Apply applies one command at Raft index index and returns its result:
// EnqueueResult, LeaseResult, AckResult, TickResult or ForgetResult (values,
// not pointers). index is the DeliveryID of the deliveries a Lease makes.
//
// Every command first moves the clock to max(Now, c.Now) and does the
// housekeeping at that time (expired leases are settled, then messages and
// dead letters past retention are trimmed), then its own work.
//
// Apply panics on a nil command or one that Decode cannot produce: that is a
// programming error, not an outcome.
func (s *State) Apply(index uint64, c Command) Result {
	switch c.(type) {
	case *Enqueue, *Lease, *Ack, *Tick, *Forget, *Redrive, *Extend, *TxnCheck, *TxnEnd:
	default:
		// Checked before anything changes: Decode and this switch disagree.
		panic(fmt.Sprintf("fsm: apply: no handler for %T", c))
	}
	h := c.Hdr()
	s.index = index
	s.now = max(s.now, h.Now)
	var tr TickResult
	s.housekeep(&h.Policy, &tr)
	s.txnHousekeep(&h.Policy)
	s.dedup.expire(s.now)
	switch c := c.(type) {
	case *Enqueue:
		return s.enqueue(c)
	case *Lease:
		return s.lease(index, c)
	case *Ack:
		return s.ack(c)
	case *Tick:
		return tr
	case *Redrive:
		return s.redrive(c)
	case *Extend:
		return s.extend(c)
	case *TxnCheck:
		return s.txnCheck(c)
	case *TxnEnd:
		return s.txnEnd(c)
	default: // *Forget, as checked above
		s.forget(c.(*Forget).Group)
		return ForgetResult{}
	}
}

// housekeep settles expired leases of every group (in group order, then by
// (expiry, offset)), then trims by retention, then lets lanes give back
// memory.
func (s *State) housekeep(p *Policy, tr *TickResult) {
	for _, id := range s.order {
		g := s.groups[id]
		s.expire(g, false, p, tr)
		s.expire(g, true, p, tr)
		if g.normal.promote(s.now) > 0 {
			s.readyEvents++
		}
	}
	s.trimMessages(p, tr)
	s.trimDeadLetters(p, tr)
	// Memory freed by the previous command's work is given back here, at
	// the cost of a few comparisons per group.
	for _, id := range s.order {
		g := s.groups[id]
		g.normal.compact()
		g.dlLane.compact()
	}
}

func (s *State) expire(g *group, dl bool, p *Policy, tr *TickResult) {
	ln := g.lane(dl)
	for len(ln.expiry) > 0 && ln.expiry[0].expiresAt <= s.now {
		r := heap.Pop(&ln.expiry).(*rec)
		tr.Expired++
		s.fail(g, dl, r, true, p, tr)
	}
}

// fail records a failed consumption of r, which has already left the expiry
// heap: in the normal lane with redrive on, reaching MaxConsumeCount moves
// the message to the group's dead letters; otherwise it is ready again.
func (s *State) fail(g *group, dl bool, r *rec, byExpiry bool, p *Policy, tr *TickResult) {
	r.inflight = false
	if r.failures < math.MaxUint32 {
		r.failures++
	}
	s.readyEvents++
	if !dl && p.MaxConsumeCount > 0 && r.failures >= uint32(p.MaxConsumeCount) {
		s.deadLetter(g, r, byExpiry)
		tr.DeadLettered++
		return
	}
	g.lane(dl).makeReady(r, byExpiry)
}

// deadLetter moves r's message (retained: r is at or above the log's base) to the
// group's dead letters; it is done for the normal lane.
func (s *State) deadLetter(g *group, r *rec, byExpiry bool) {
	g.normal.markDone(r)
	i, _ := slices.BinarySearchFunc(g.dead, r.off, func(m deadMark, off uint64) int { return cmp.Compare(m.off, off) })
	g.dead = slices.Insert(g.dead, i, deadMark{off: r.off, id: r.id, expired: byExpiry})
	e := s.log.at(r.off)
	g.dl.push(deadEntry{deadAt: s.now, producedAt: e.producedAt, orig: r.off, m: e.m})
	g.producedDL++
}

// trimMessages drops messages produced before now - RetentionMs (none when
// RetentionMs ≤ 0) and, under AckedRetention, those below ackedFloor; it
// moves every group's cursor past them. The log is in produce-time order
// because the clock never goes back.
func (s *State) trimMessages(p *Policy, tr *TickResult) {
	k := 0
	if cutoff, ok := retentionCutoff(s.now, p.RetentionMs); ok && s.log.len() > 0 && s.log.nth(0).producedAt < cutoff {
		k = s.log.search(func(e *entry) bool { return e.producedAt >= cutoff })
	}
	if lo, ok := s.ackedFloor(p); ok {
		k = max(k, int(lo-s.log.base))
	}
	if k == 0 {
		return
	}
	s.log.dropFront(k)
	tr.Trimmed += k
	base := s.log.base
	for _, id := range s.order {
		g := s.groups[id]
		g.normal.trim(base)
		j := 0
		for j < len(g.dead) && g.dead[j].off < base {
			j++
		}
		g.dead = dropFront(g.dead, j)
	}
}

// ackedFloor is, under AckedRetention, the lowest normal-lane floor over the
// groups: every message below it is done for every group, so none can be
// delivered again. A message in flight, ready, delayed (not due yet) or
// never reached by some group is at or above that group's floor, and half
// messages are not in the log until committed (at its end), so none of
// them is trimmed. ok is false under the time policy, with no group, or
// when the floor is the log's base.
func (s *State) ackedFloor(p *Policy) (uint64, bool) {
	if !p.AckedRetention || len(s.order) == 0 {
		return 0, false
	}
	lo := s.log.end()
	for _, id := range s.order {
		lo = min(lo, s.groups[id].normal.floor)
	}
	return lo, lo > s.log.base
}

// trimDeadLetters drops dead letters dead-lettered before now -
// DeadLetterRetentionMs and, under AckedRetention, those below their lane's
// floor (acknowledged, or redriven, so never delivered again): a dead
// letter keeps its original's body (see bodyFloor) only while it may still
// be delivered.
func (s *State) trimDeadLetters(p *Policy, tr *TickResult) {
	cutoff, ok := retentionCutoff(s.now, DeadLetterRetentionMs)
	for _, id := range s.order {
		g := s.groups[id]
		k := 0
		if ok && g.dl.len() > 0 && g.dl.nth(0).deadAt < cutoff {
			k = g.dl.search(func(e *deadEntry) bool { return e.deadAt >= cutoff })
		}
		if p.AckedRetention && g.dlLane.floor > g.dl.base {
			k = max(k, int(g.dlLane.floor-g.dl.base))
		}
		if k == 0 {
			continue
		}
		g.dl.dropFront(k)
		g.dlLane.trim(g.dl.base)
		tr.Trimmed += k
	}
}

func (s *State) enqueue(c *Enqueue) EnqueueResult {
	switch {
	case c.HalfCheckMs > 0:
		return s.enqueueHalf(c)
	case c.DedupIDs != nil:
		return s.enqueueDedup(c)
	}
	res := EnqueueResult{FirstOffset: s.log.end(), Count: len(c.Messages)}
	for i, m := range c.Messages {
		s.log.push(entry{producedAt: s.now, m: newMeta(m, !s.detached)})
		s.noteDelay(res.FirstOffset+uint64(i), &m)
	}
	if len(c.Messages) > 0 {
		s.readyEvents++
	}
	return res
}

// maxLeaseSkips bounds the messages one Lease may pass over without
// delivering them (settled by the tag filter, put aside as not yet due, or
// put aside behind their sharding key), so that one command's work stays
// bounded. Every skip is progress: a later Lease continues from there.
const maxLeaseSkips = 4096

// lease leases up to c.Max messages within c.MaxBytes. The normal lane of a
// NORMAL queue and every dead-letter lane give redeliveries first (lowest
// offset first), then new messages in order. The normal lane of a FIFO queue
// walks from the floor: done offsets are skipped, the first one in flight
// (or not yet due) stops the walk, a ready or new one is taken. An ordered
// lease (c.Ordered, NORMAL queue) walks from the floor too, but only the
// messages of one sharding key block each other.
//
// In the normal lane, a message that c.Tags filters out is settled without
// delivery, and a new message whose DeliverAt is still to come is put aside
// (delayed) until housekeeping finds it due.
func (s *State) lease(index uint64, c *Lease) LeaseResult {
	g := s.group(c.Group)
	dl := c.DeadLetter
	ln := g.lane(dl)
	end := s.log.end()
	if dl {
		end = g.dl.end()
	}
	expiresAt := satAdd(s.now, max(c.AckWaitMs, 0))
	budget := c.MaxBytes
	out := make([]Delivery, 0, max(0, min(c.Max, 16)))
	take := func(r *rec, d Delivery, size int) {
		budget -= size
		ln.deliver(r, index, s.now, expiresAt)
		d.DeliveryID = index
		d.ExpiresAt = expiresAt
		d.FirstDeliveredAt = r.firstAt
		d.Deliveries = int(r.deliveries)
		out = append(out, d)
	}
	newRec := func() *rec {
		r := &rec{off: ln.next}
		ln.recs[r.off] = r
		ln.recsHigh = max(ln.recsHigh, len(ln.recs))
		ln.next++
		return r
	}
	filtered := func(m *Message) bool { return !dl && len(c.Tags) > 0 && !hasTag(c.Tags, m.Tag) }
	notDue := func(m *Message) bool { return !dl && m.DeliverAt > s.now }
	skips := 0
	switch {
	case c.Policy.FIFO && !dl:
		for o := ln.floor; len(out) < c.Max && o < end; o++ {
			var r *rec
			if o < ln.next {
				if ln.isDone(o) {
					continue
				}
				if r = ln.recs[o]; r.inflight || r.delayed {
					break
				}
			}
			d, size := s.at(g, dl, o)
			if filtered(&d.Message) {
				if skips++; skips > maxLeaseSkips {
					break
				}
				if r == nil {
					ln.markDone(newRec())
				} else {
					ln.settle(r)
				}
				continue
			}
			if r == nil && notDue(&d.Message) {
				ln.delay(newRec(), d.Message.DeliverAt)
				break
			}
			if size > budget {
				break
			}
			if r != nil {
				heap.Remove(&ln.ready, r.idx)
			} else {
				r = newRec()
			}
			take(r, d, size)
		}
	case c.Ordered && !dl:
		blocked := make(map[string]struct{})
		isBlocked := func(k string) bool { _, ok := blocked[k]; return ok }
		for o := ln.floor; len(out) < c.Max && o < end; o++ {
			if o < ln.next && ln.isDone(o) {
				continue
			}
			d, size := s.at(g, dl, o)
			key := d.Message.Key
			if o < ln.next {
				r := ln.recs[o]
				switch {
				case r.inflight || r.delayed:
					blocked[key] = struct{}{}
				case filtered(&d.Message):
					ln.settle(r)
				case isBlocked(key):
				case size > budget:
					return LeaseResult{Deliveries: out}
				default:
					heap.Remove(&ln.ready, r.idx)
					take(r, d, size)
					blocked[key] = struct{}{}
				}
				continue
			}
			// o == ln.next: a message never seen by this lane.
			skip := filtered(&d.Message) || notDue(&d.Message) || isBlocked(key)
			if skip {
				if skips++; skips > maxLeaseSkips {
					break
				}
			}
			switch {
			case filtered(&d.Message):
				ln.markDone(newRec())
			case notDue(&d.Message):
				ln.delay(newRec(), d.Message.DeliverAt)
				blocked[key] = struct{}{}
			case isBlocked(key):
				ln.makeReady(newRec(), false)
			case size > budget:
				return LeaseResult{Deliveries: out}
			default:
				take(newRec(), d, size)
				blocked[key] = struct{}{}
			}
		}
	default:
		for len(out) < c.Max {
			var r *rec
			var d Delivery
			var size int
			switch {
			case len(ln.ready) > 0:
				r = ln.ready[0]
				d, size = s.at(g, dl, r.off)
				if filtered(&d.Message) {
					if skips++; skips > maxLeaseSkips {
						return LeaseResult{Deliveries: out}
					}
					ln.settle(r)
					continue
				}
				if size > budget {
					return LeaseResult{Deliveries: out}
				}
				heap.Pop(&ln.ready)
			case ln.next < end:
				d, size = s.at(g, dl, ln.next)
				if f := filtered(&d.Message); f || notDue(&d.Message) {
					if skips++; skips > maxLeaseSkips {
						return LeaseResult{Deliveries: out}
					}
					if f {
						ln.markDone(newRec())
					} else {
						ln.delay(newRec(), d.Message.DeliverAt)
					}
					continue
				}
				if size > budget {
					return LeaseResult{Deliveries: out}
				}
				r = newRec()
			default:
				return LeaseResult{Deliveries: out}
			}
			take(r, d, size)
		}
	}
	return LeaseResult{Deliveries: out}
}

// hasTag reports whether the sorted tags hold t.
func hasTag(tags []string, t string) bool {
	_, ok := slices.BinarySearch(tags, t)
	return ok
}

// at describes the retained item off of a lane's log, and gives its size
// (the message's Size, also when its body is not held).
func (s *State) at(g *group, dl bool, off uint64) (Delivery, int) {
	if dl {
		e := g.dl.at(off)
		return Delivery{Offset: off, ProducedAt: e.producedAt, DeadLetteredAt: e.deadAt, OriginalOffset: e.orig, Message: e.m.message(), HalfID: s.halfIDOf(e.orig)}, int(e.m.size)
	}
	e := s.log.at(off)
	return Delivery{Offset: off, ProducedAt: e.producedAt, OriginalOffset: off, Message: e.m.message(), HalfID: s.halfIDOf(off)}, int(e.m.size)
}

// ack settles c.Items in order; see Ack and AckResult.
func (s *State) ack(c *Ack) AckResult {
	g := s.group(c.Group)
	dl := c.DeadLetter
	ln := g.lane(dl)
	res := AckResult{}
	stop := len(c.Items)
	if c.Released && len(c.Items) > 0 {
		stop, res.Reason = 0, ReasonReleased
	} else {
		for i, it := range c.Items {
			r, why := s.live(g, dl, it)
			if r != nil && it.Success {
				ln.settle(r)
				res.Success++
				continue
			}
			if r != nil {
				why = ReasonStatusFail
			}
			stop, res.Reason = i, why
			break
		}
	}
	if res.Success > 0 && c.Policy.FIFO && !dl {
		// In a FIFO lane an ack can unblock the messages behind it.
		s.readyEvents++
	}
	var tr TickResult
	for _, it := range c.Items[stop:] {
		if r, _ := s.live(g, dl, it); r != nil {
			heap.Remove(&ln.expiry, r.idx)
			s.fail(g, dl, r, false, &c.Policy, &tr)
		}
	}
	res.Fail = len(c.Items) - res.Success
	return res
}

// live returns the rec of the live delivery that it names in the lane, or
// nil and the reason it is not live.
func (s *State) live(g *group, dl bool, it AckItem) (*rec, Reason) {
	ln := g.lane(dl)
	base := s.log.base
	if dl {
		base = g.dl.base
	}
	if it.Offset < base || it.Offset >= ln.next {
		// Trimmed, or never delivered to this group: no delivery of it
		// can be live, and the id is unknown.
		return nil, ReasonSuperseded
	}
	if ln.isDone(it.Offset) {
		if !dl {
			if m, ok := g.deadMark(it.Offset); ok {
				return nil, endedReason(m.id, m.expired, it.DeliveryID)
			}
		}
		return nil, ReasonAlreadyAcked
	}
	r := ln.recs[it.Offset]
	if r.inflight && r.id == it.DeliveryID {
		return r, ReasonNone
	}
	if r.inflight {
		return nil, ReasonSuperseded
	}
	return nil, endedReason(r.id, r.expired, it.DeliveryID)
}

// endedReason classifies an ack of delivery id when the latest delivery,
// last, is no longer live.
func endedReason(last uint64, expired bool, id uint64) Reason {
	switch {
	case id != last:
		return ReasonSuperseded
	case expired:
		return ReasonExpired
	default:
		return ReasonAlreadyAcked
	}
}

func (s *State) forget(id GroupID) {
	if _, ok := s.groups[id]; !ok {
		return
	}
	delete(s.groups, id)
	i, _ := slices.BinarySearch(s.order, id)
	s.order = slices.Delete(s.order, i, i+1)
}

// group returns id's state, creating it at the oldest retained message.
func (s *State) group(id GroupID) *group {
	if g, ok := s.groups[id]; ok {
		return g
	}
	g := &group{normal: newLane(s.log.base), dlLane: newLane(0)}
	s.groups[id] = g
	i, _ := slices.BinarySearch(s.order, id)
	s.order = slices.Insert(s.order, i, id)
	return g
}

func (g *group) lane(dl bool) *lane {
	if dl {
		return g.dlLane
	}
	return g.normal
}

func (g *group) deadMark(off uint64) (deadMark, bool) {
	i, ok := slices.BinarySearchFunc(g.dead, off, func(m deadMark, off uint64) int { return cmp.Compare(m.off, off) })
	if !ok {
		return deadMark{}, false
	}
	return g.dead[i], true
}

// Stats returns group g's counters at the state's clock (housekeeping not yet
// applied is not anticipated). A group never seen has Consumed 0 and
// Available = Produced.
func (s *State) Stats(id GroupID) GroupStats {
	n := int64(s.log.len())
	st := GroupStats{Produced: n, Available: n}
	g, ok := s.groups[id]
	if !ok {
		return st
	}
	done := g.normal.doneRetained(s.log.base)
	st.Consumed = done - int64(len(g.dead))
	st.Available = st.Produced - done
	st.ProducedDeadLetters = g.producedDL
	st.AvailableDeadLetters = int64(g.dl.len()) - g.dlLane.doneRetained(g.dl.base)
	return st
}

// HasReady reports whether a Lease of group id (with enough Max and
// MaxBytes) applied at the state's clock would return something, not
// counting leases that have expired but are not yet settled. p.FIFO selects
// the normal lane's order, as in Lease. It is Ready without a filter.
func (s *State) HasReady(id GroupID, deadLetter bool, p Policy) bool {
	return s.Ready(id, ReadyQuery{Now: s.now, DeadLetter: deadLetter, Policy: p})
}

// ReadyQuery describes a Lease for Ready.
type ReadyQuery struct {
	Now        int64 // unix ms: the caller's clock, for messages that became due
	DeadLetter bool
	Policy     Policy
	Tags       []string // as Lease.Tags
	Ordered    bool     // as Lease.Ordered
}

// Ready reports whether a Lease described by q would make progress: return
// a message, or settle or set aside messages it passes over (after which
// Ready turns false until something changes). Long polls ask it before
// proposing, so that an idle consumer writes nothing to the log.
func (s *State) Ready(id GroupID, q ReadyQuery) bool {
	g, ok := s.groups[id]
	if !ok {
		return !q.DeadLetter && s.log.len() > 0
	}
	dl := q.DeadLetter
	ln := g.lane(dl)
	end := s.log.end()
	if dl {
		end = g.dl.end()
	}
	if len(ln.delayed) > 0 && ln.delayed[0].dueAt <= q.Now {
		return true
	}
	switch {
	case q.Policy.FIFO && !dl:
		if ln.floor < ln.next {
			r := ln.recs[ln.floor]
			return !r.inflight && !r.delayed
		}
		return ln.next < end
	case q.Ordered && !dl:
		if ln.next < end {
			return true
		}
		blocked := make(map[string]struct{})
		for o := ln.floor; o < ln.next; o++ {
			r, ok := ln.recs[o]
			if !ok {
				continue
			}
			m := &s.log.at(o).m
			if r.inflight || r.delayed {
				blocked[m.key()] = struct{}{}
				continue
			}
			if len(q.Tags) > 0 && !hasTag(q.Tags, m.tag()) {
				return true
			}
			if _, b := blocked[m.key()]; !b {
				return true
			}
		}
		return false
	}
	return len(ln.ready) > 0 || ln.next < end
}

// Backlog returns how many messages a Lease described by q (with any Max)
// would find ready, and false when it cannot tell without applying one: a
// FIFO or ordered lane or a tag filter (a lease may skip messages), a
// delayed message that became due, or an expired lease not yet settled.
// Leaders use it to keep consumers racing for the same few messages from
// writing empty Lease entries.
func (s *State) Backlog(id GroupID, q ReadyQuery) (int64, bool) {
	g, ok := s.groups[id]
	if !ok || (q.Policy.FIFO && !q.DeadLetter) || q.Ordered || len(q.Tags) > 0 {
		return 0, false
	}
	ln := g.lane(q.DeadLetter)
	if len(ln.delayed) > 0 && ln.delayed[0].dueAt <= q.Now {
		return 0, false
	}
	if len(ln.expiry) > 0 && ln.expiry[0].expiresAt <= q.Now {
		return 0, false
	}
	end := s.log.end()
	if q.DeadLetter {
		end = g.dl.end()
	}
	return int64(len(ln.ready)) + int64(end-ln.next), true
}

// NextDue returns the earliest DeliverAt (unix ms) among the messages group
// id has set aside as not yet due, and false when there are none. A long
// poll wakes then.
func (s *State) NextDue(id GroupID) (int64, bool) {
	g, ok := s.groups[id]
	if !ok || len(g.normal.delayed) == 0 {
		return 0, false
	}
	return g.normal.delayed[0].dueAt, true
}

// NextExpiry returns the earliest lease expiry (unix ms) of group id's lane
// that is not settled yet, and false when nothing is in flight. An expiry at
// or before Now is settled by the next command applied.
func (s *State) NextExpiry(id GroupID, deadLetter bool) (int64, bool) {
	g, ok := s.groups[id]
	if !ok {
		return 0, false
	}
	ln := g.lane(deadLetter)
	if len(ln.expiry) == 0 {
		return 0, false
	}
	return ln.expiry[0].expiresAt, true
}

// EarliestExpiry is NextExpiry over every group and lane: when the leader
// should next propose a Tick to settle leases.
func (s *State) EarliestExpiry() (int64, bool) {
	var at int64
	found := false
	for _, id := range s.order {
		g := s.groups[id]
		for _, ln := range []*lane{g.normal, g.dlLane} {
			if len(ln.expiry) > 0 && (!found || ln.expiry[0].expiresAt < at) {
				at, found = ln.expiry[0].expiresAt, true
			}
		}
	}
	return at, found
}

// Groups returns the ids of the groups the state holds, sorted.
func (s *State) Groups() []GroupID { return slices.Clone(s.order) }

// retentionCutoff returns now - keep, and false when nothing should be
// trimmed (keep ≤ 0, or the subtraction would overflow).
func retentionCutoff(now, keep int64) (int64, bool) {
	if keep <= 0 || now < math.MinInt64+keep {
		return 0, false
	}
	return now - keep, true
}

// satAdd is a + b for b ≥ 0, saturating at MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// dropFront removes the first k elements of a slice. It clears them, so
// that the backing array does not pin what they reference, and copies the
// rest to a new array when more was dropped than remains (amortised O(1) per
// element), so that a large trim gives the array back.
func dropFront[T any](s []T, k int) []T {
	if k == 0 {
		return s
	}
	clear(s[:k])
	rest := s[k:]
	switch {
	case len(rest) == 0:
		return nil
	case k >= shrinkMin && len(rest) < k:
		return append(make([]T, 0, 2*len(rest)), rest...)
	}
	return rest
}
