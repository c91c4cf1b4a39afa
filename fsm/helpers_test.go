package fsm

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// harness applies commands to a State through Encode and Decode, one Raft
// index per command, and checks the state's invariants after each.
type harness struct {
	t   *testing.T
	s   *State
	idx uint64
	pol Policy
	// quiet skips the per-command invariant check (for bulk setups).
	quiet bool
}

func newHarness(t *testing.T, pol Policy) *harness {
	t.Helper()
	return &harness{t: t, s: NewState(), pol: pol}
}

func (h *harness) hdr(now int64) Header { return Header{Now: now, Policy: h.pol} }

func (h *harness) apply(c Command) Result {
	h.t.Helper()
	b, err := Encode(c)
	if err != nil {
		h.t.Fatalf("encode %T: %v", c, err)
	}
	d, err := Decode(b)
	if err != nil {
		h.t.Fatalf("decode %T: %v", c, err)
	}
	h.idx++
	res := h.s.Apply(h.idx, d)
	if !h.quiet {
		checkInvariants(h.t, h.s)
	}
	return res
}

func (h *harness) enqueue(now int64, bodies ...string) EnqueueResult {
	h.t.Helper()
	msgs := make([]Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = Message{Body: []byte(b)}
	}
	return h.apply(&Enqueue{Header: h.hdr(now), Messages: msgs}).(EnqueueResult)
}

func (h *harness) lease(now int64, g GroupID, max int, ackWaitMs int64) []Delivery {
	h.t.Helper()
	return h.leaseC(&Lease{Header: h.hdr(now), Group: g, Max: max, MaxBytes: MaxLeaseBytes, AckWaitMs: ackWaitMs})
}

func (h *harness) leaseDL(now int64, g GroupID, max int, ackWaitMs int64) []Delivery {
	h.t.Helper()
	return h.leaseC(&Lease{Header: h.hdr(now), Group: g, Max: max, MaxBytes: MaxLeaseBytes, AckWaitMs: ackWaitMs, DeadLetter: true})
}

func (h *harness) leaseC(c *Lease) []Delivery {
	h.t.Helper()
	return h.apply(c).(LeaseResult).Deliveries
}

func (h *harness) ack(now int64, g GroupID, items ...AckItem) AckResult {
	h.t.Helper()
	return h.apply(&Ack{Header: h.hdr(now), Group: g, Items: items}).(AckResult)
}

func (h *harness) ackDL(now int64, g GroupID, items ...AckItem) AckResult {
	h.t.Helper()
	return h.apply(&Ack{Header: h.hdr(now), Group: g, Items: items, DeadLetter: true}).(AckResult)
}

func (h *harness) tick(now int64) TickResult {
	h.t.Helper()
	return h.apply(&Tick{Header: h.hdr(now)}).(TickResult)
}

func (h *harness) forget(now int64, g GroupID) {
	h.t.Helper()
	h.apply(&Forget{Header: h.hdr(now), Group: g})
}

func (h *harness) wantStats(g GroupID, want GroupStats) {
	h.t.Helper()
	if got := h.s.Stats(g); got != want {
		h.t.Fatalf("Stats(%s) = %+v, want %+v", g, got, want)
	}
}

func okItem(d Delivery) AckItem {
	return AckItem{Offset: d.Offset, DeliveryID: d.DeliveryID, Success: true}
}
func failItem(d Delivery) AckItem { return AckItem{Offset: d.Offset, DeliveryID: d.DeliveryID} }

// offs lists the offsets of ds, in order.
func offs(ds []Delivery) []uint64 {
	out := make([]uint64, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Offset)
	}
	return out
}

func wantOffs(t *testing.T, what string, ds []Delivery, want ...uint64) {
	t.Helper()
	if got := offs(ds); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s: leased offsets %v, want %v", what, got, want)
	}
}

func wantAck(t *testing.T, what string, got, want AckResult) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: ack = %+v, want %+v", what, got, want)
	}
}

// checkInvariants verifies what lane.go and state.go promise, and that the
// snapshot round-trips to the same bytes.
func checkInvariants(t *testing.T, s *State) {
	t.Helper()
	if err := invariantError(s); err != nil {
		t.Fatal(err)
	}
}

func invariantError(s *State) error {
	if !slices.IsSorted(s.order) || len(s.order) != len(s.groups) {
		return fmt.Errorf("group order %v does not match %d groups", s.order, len(s.groups))
	}
	for i := 1; i < s.log.len(); i++ {
		if s.log.nth(i).producedAt < s.log.nth(i-1).producedAt {
			return fmt.Errorf("log not in time order at %d", s.log.base+uint64(i))
		}
	}
	for _, id := range s.order {
		g, ok := s.groups[id]
		if !ok {
			return fmt.Errorf("group %q in order but not in map", id)
		}
		if err := laneError(g.normal, s.log.base, s.log.end()); err != nil {
			return fmt.Errorf("group %q normal lane: %v", id, err)
		}
		if err := laneError(g.dlLane, g.dl.base, g.dl.end()); err != nil {
			return fmt.Errorf("group %q dead-letter lane: %v", id, err)
		}
		for i, m := range g.dead {
			if i > 0 && m.off <= g.dead[i-1].off {
				return fmt.Errorf("group %q dead marks not sorted", id)
			}
			if m.off < s.log.base || m.off >= g.normal.next || !g.normal.isDone(m.off) {
				return fmt.Errorf("group %q dead mark %d is not a retained done offset", id, m.off)
			}
		}
		st := s.Stats(id)
		if st.Consumed < 0 || st.Available < 0 || st.AvailableDeadLetters < 0 || st.ProducedDeadLetters < int64(g.dl.len()) {
			return fmt.Errorf("group %q stats %+v", id, st)
		}
	}
	var a, b bytes.Buffer
	if _, err := s.WriteTo(&a); err != nil {
		return err
	}
	r := NewState()
	if _, err := r.ReadFrom(bytes.NewReader(a.Bytes())); err != nil {
		return fmt.Errorf("restore own snapshot: %v", err)
	}
	if _, err := r.WriteTo(&b); err != nil {
		return err
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		return fmt.Errorf("snapshot does not round-trip")
	}
	return nil
}

func laneError(ln *lane, base, end uint64) error {
	if base > ln.floor || ln.floor > ln.next || ln.next > end {
		return fmt.Errorf("cursor base %d floor %d next %d end %d", base, ln.floor, ln.next, end)
	}
	if uint64(len(ln.recs)+len(ln.done)) != ln.next-ln.floor {
		return fmt.Errorf("%d recs + %d done for window [%d, %d)", len(ln.recs), len(ln.done), ln.floor, ln.next)
	}
	if _, ok := ln.done[ln.floor]; ok {
		return fmt.Errorf("floor %d is done", ln.floor)
	}
	inflight, delayed := 0, 0
	for off, r := range ln.recs {
		if off < ln.floor || off >= ln.next || r.off != off {
			return fmt.Errorf("rec %d outside [%d, %d)", off, ln.floor, ln.next)
		}
		if _, ok := ln.done[off]; ok {
			return fmt.Errorf("offset %d both rec and done", off)
		}
		switch {
		case r.inflight:
			inflight++
			if r.idx < 0 || r.idx >= len(ln.expiry) || ln.expiry[r.idx] != r {
				return fmt.Errorf("in-flight rec %d not at its expiry heap position", off)
			}
		case r.delayed:
			delayed++
			if r.idx < 0 || r.idx >= len(ln.delayed) || ln.delayed[r.idx] != r {
				return fmt.Errorf("delayed rec %d not at its delayed heap position", off)
			}
			if r.deliveries != 0 {
				return fmt.Errorf("delayed rec %d was delivered", off)
			}
		case r.idx < 0 || r.idx >= len(ln.ready) || ln.ready[r.idx] != r:
			return fmt.Errorf("ready rec %d not at its ready heap position", off)
		}
		if r.failures > r.deliveries || (r.deliveries == 0 && (r.inflight || r.expired || r.id != 0)) {
			return fmt.Errorf("rec %d counts %d/%d", off, r.deliveries, r.failures)
		}
	}
	for off := range ln.done {
		if off <= ln.floor || off >= ln.next {
			return fmt.Errorf("done %d outside (%d, %d)", off, ln.floor, ln.next)
		}
	}
	if inflight != len(ln.expiry) || delayed != len(ln.delayed) || len(ln.recs)-inflight-delayed != len(ln.ready) {
		return fmt.Errorf("heaps %d/%d/%d for %d in flight and %d delayed of %d recs", len(ln.expiry), len(ln.ready), len(ln.delayed), inflight, delayed, len(ln.recs))
	}
	return nil
}
