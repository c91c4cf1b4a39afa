package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// acked is the policy of a queue with retention_policy "acked", redrive on.
var acked = Policy{MaxConsumeCount: 1, RetentionMs: 72 * 3600 * 1000, AckedRetention: true}

func wantBase(t *testing.T, what string, s *State, want uint64) {
	t.Helper()
	if first, _ := s.Offsets(); first != want {
		t.Fatalf("%s: log base %d, want %d", what, first, want)
	}
}

// leaseAck leases up to max messages to g and acks them all with success.
func (h *harness) leaseAck(now int64, g GroupID, max int) {
	h.t.Helper()
	var items []AckItem
	for _, d := range h.lease(now, g, max, 30_000) {
		items = append(items, okItem(d))
	}
	h.ack(now, g, items...)
}

// A message leaves only once every group has acknowledged it, at the
// housekeeping of the next command.
func TestAcked_TrimsWhenEveryGroupAcks(t *testing.T) {
	h := newHarness(t, acked)
	h.ack(999, g2) // an Ack without items registers g2, as the cluster does for a new group
	h.enqueue(1000, "a", "b", "c")
	h.leaseAck(1001, g1, 3)
	ds := h.lease(1002, g2, 1, 30_000) // g2 acks nothing yet
	h.tick(1003)
	wantBase(t, "one group acked", h.s, 0)
	if h.s.NeedsTick(1003, acked) {
		t.Fatal("NeedsTick with nothing to trim")
	}
	h.leaseAck(1004, g2, 3)
	h.ack(1004, g2, okItem(ds[0]))
	if !h.s.NeedsTick(1004, acked) {
		t.Fatal("NeedsTick false with messages every group acked")
	}
	if tr := h.tick(1005); tr.Trimmed != 3 {
		t.Fatalf("tick trimmed %d, want 3", tr.Trimmed)
	}
	wantBase(t, "both groups acked", h.s, 3)
	h.wantStats(g1, GroupStats{})
	// A group created now sees only what the queue still retains.
	h.enqueue(1006, "d")
	wantOffs(t, "late group", h.lease(1007, "g-late", 16, 30_000), 3)
}

// Acks out of order: the base moves to the lowest floor over the groups,
// never over an offset some group has not settled.
func TestAcked_BaseFollowsLowestFloor(t *testing.T) {
	h := newHarness(t, acked)
	h.enqueue(1000, "0", "1", "2", "3", "4", "5")
	ds1 := h.lease(1001, g1, 6, 30_000)
	ds2 := h.lease(1001, g2, 6, 30_000)
	// g1 acks 0, 1, 2 and 4; g2 acks 3, 4, 5, then 0.
	h.ack(1002, g1, okItem(ds1[4]))
	h.ack(1002, g1, okItem(ds1[0]), okItem(ds1[1]), okItem(ds1[2]))
	h.ack(1003, g2, okItem(ds2[3]), okItem(ds2[4]), okItem(ds2[5]))
	h.tick(1004)
	wantBase(t, "g2 has 0 open", h.s, 0)
	h.ack(1005, g2, okItem(ds2[0]))
	h.tick(1006)
	wantBase(t, "g2 floor 1", h.s, 1)
	h.ack(1007, g2, okItem(ds2[1]), okItem(ds2[2]))
	h.tick(1008)
	wantBase(t, "g1 floor 3", h.s, 3)
	h.ack(1009, g1, okItem(ds1[3]), okItem(ds1[5]))
	h.tick(1010)
	wantBase(t, "all acked", h.s, 6)
}

// A dead-lettered message counts as done for its group; its dead letter
// still delivers it (a detached state's body comes from the body store,
// which a snapshot does not reclaim while the dead letter may be
// delivered). Once the group acknowledges the dead letter, it leaves too,
// and the next snapshot reclaims the segments.
func TestAcked_DeadLetterOutlivesItsMessage(t *testing.T) {
	st := openBodies(t, t.TempDir())
	f := NewDetachedFSM("p", nil, st)
	big := bytes.Repeat([]byte("x"), 1000)
	idx := uint64(0)
	apply := func(now int64, c Command) any {
		idx++
		*c.Hdr() = Header{Now: now, Policy: acked}
		return f.Apply(makeLog(t, idx, c))
	}
	for i := range 40 {
		apply(int64(i), &Enqueue{Messages: []Message{{Body: append([]byte{'"', byte('A' + i%26)}, append(big, '"')...)}}})
	}
	// Offset 0 fails once (MaxConsumeCount 1): a dead letter of g1. Then g1
	// acks everything else.
	lr := apply(50, &Lease{Group: g1, Max: 1, MaxBytes: MaxLeaseBytes, AckWaitMs: 10_000}).(LeaseResult)
	apply(51, &Ack{Group: g1, Items: []AckItem{failItem(lr.Deliveries[0])}})
	for i := 1; i < 40; {
		lr := apply(52, &Lease{Group: g1, Max: 16, MaxBytes: MaxLeaseBytes, AckWaitMs: 10_000}).(LeaseResult)
		var items []AckItem
		for _, d := range lr.Deliveries {
			items = append(items, okItem(d))
		}
		apply(53, &Ack{Group: g1, Items: items})
		i += len(items)
	}
	apply(54, &Tick{})
	f.Read(func(s *State) { wantBase(t, "after acks", s, 40) })
	apply(55, &Enqueue{Messages: []Message{{Body: []byte(`"new"`)}}}) // a new segment
	segs := st.Segments()
	persist(t, f)
	if !st.Covers(0, 1) || st.Segments() != segs {
		t.Fatalf("reclaimed below a live dead letter: covers 0 %v, %d → %d segments", st.Covers(0, 1), segs, st.Segments())
	}
	lr = apply(56, &Lease{Group: g1, Max: 1, MaxBytes: MaxLeaseBytes, AckWaitMs: 10_000, DeadLetter: true}).(LeaseResult)
	if len(lr.Deliveries) != 1 || lr.Deliveries[0].OriginalOffset != 0 {
		t.Fatalf("dead-letter lease = %+v", lr.Deliveries)
	}
	if err := f.FillBodies(lr.Deliveries); err != nil || !bytes.HasPrefix(lr.Deliveries[0].Message.Body, []byte(`"A`)) {
		t.Fatalf("dead letter's body: %v, %.10q", err, lr.Deliveries[0].Message.Body)
	}
	apply(57, &Ack{Group: g1, DeadLetter: true, Items: []AckItem{okItem(lr.Deliveries[0])}})
	apply(58, &Tick{})
	f.Read(func(s *State) {
		if st := s.Stats(g1); st.AvailableDeadLetters != 0 || st.ProducedDeadLetters != 1 {
			t.Fatalf("stats after the dead letter's ack: %+v", st)
		}
	})
	persist(t, f)
	if st.Covers(0, 1) || st.Segments() >= segs {
		t.Fatalf("acked dead letter still holds its segments: %d → %d", segs, st.Segments())
	}
	if !st.Covers(40, 41) {
		t.Fatal("reclaimed a retained message's body")
	}
}

// A message not due yet, one in flight and a half message hold the base.
func TestAcked_HeldByDelayedInFlightAndHalf(t *testing.T) {
	h := newHarness(t, acked)
	h.put(1000, Message{Body: []byte(`0`)}, Message{Body: []byte(`1`), DeliverAt: 9000}, Message{Body: []byte(`2`)})
	half := h.publishHalf(1000, "h", 60_000)
	ds := h.lease(1001, g1, 16, 30_000)
	wantOffs(t, "before due", ds, 0, 2)
	h.ack(1002, g1, okItem(ds[0]), okItem(ds[1]))
	h.tick(1003)
	wantBase(t, "delayed 1 holds", h.s, 1)
	ds = h.lease(9000, g1, 16, 30_000)
	wantOffs(t, "when due", ds, 1)
	h.tick(9001)
	wantBase(t, "in flight 1 holds", h.s, 1)
	h.ack(9002, g1, okItem(ds[0]))
	h.tick(9003)
	wantBase(t, "all done", h.s, 3)
	if h.s.HalfMessages() != 1 {
		t.Fatal("the half message left with the acked messages")
	}
	if res := h.txnEnd(9004, half, 0, true); !res.OK || res.Offset != 3 {
		t.Fatalf("commit = %+v", res)
	}
	wantOffs(t, "committed half", h.lease(9005, g1, 16, 30_000), 3)
}

// The time policy keeps acknowledged messages until retention, and the
// acked policy with no group does too.
func TestAcked_DefaultPolicyAndNoGroupKeep(t *testing.T) {
	timePol := acked
	timePol.AckedRetention = false
	h := newHarness(t, timePol)
	h.enqueue(1000, "a", "b")
	h.leaseAck(1001, g1, 2)
	h.leaseAck(1002, g2, 2)
	if h.s.NeedsTick(1003, timePol) {
		t.Fatal("NeedsTick under the time policy")
	}
	h.tick(1003)
	wantBase(t, "time policy", h.s, 0)
	wantOffs(t, "time policy, new group", h.lease(1004, "g-new", 16, 30_000), 0, 1)

	h = newHarness(t, acked)
	h.enqueue(1000, "a", "b")
	h.tick(1001)
	wantBase(t, "no group", h.s, 0)
	h.tick(1000 + acked.RetentionMs + 1)
	wantBase(t, "no group, past retention", h.s, 2)
}

// Forgetting the slowest group lets the others' acknowledged messages go.
func TestAcked_ForgetReleases(t *testing.T) {
	h := newHarness(t, acked)
	h.ack(999, g2) // an Ack without items registers g2
	h.enqueue(1000, "a", "b")
	h.leaseAck(1001, g1, 2)
	h.tick(1003)
	wantBase(t, "g2 registered", h.s, 0)
	h.forget(1004, g2)
	h.tick(1005)
	wantBase(t, "g2 forgotten", h.s, 2)
}

// The acked policy replays deterministically: two replicas, one restored
// mid-way from the other's snapshot, give the same results and snapshots,
// while consumers that keep up (with failures, expiries, delayed and half
// messages, a forgotten group) make the log's base move by acknowledgement
// long before retention.
func TestReplay_Acked(t *testing.T) {
	steps, want, ackedTrims := generateAcked(t, 7, 6000)
	if ackedTrims < 100 {
		t.Fatalf("only %d commands trimmed by acknowledgement", ackedTrims)
	}
	b, c := NewState(), NewState()
	mid := len(steps) / 2
	for k, st := range steps {
		cmd, err := Decode(st.data)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Apply(st.index, cmd); !reflect.DeepEqual(got, want[k]) {
			t.Fatalf("replica: command %d (%T) = %+v, want %+v", k, cmd, got, want[k])
		}
		switch {
		case k == mid:
			if _, err := c.ReadFrom(bytes.NewReader(snapshotBytes(t, b))); err != nil {
				t.Fatal(err)
			}
		case k > mid:
			cmd, _ := Decode(st.data)
			if got := c.Apply(st.index, cmd); !reflect.DeepEqual(got, want[k]) {
				t.Fatalf("restored: command %d (%T) = %+v, want %+v", k, cmd, got, want[k])
			}
		}
	}
	if !bytes.Equal(snapshotBytes(t, b), snapshotBytes(t, c)) || b.Digest() != c.Digest() {
		t.Fatal("the restored replica differs")
	}
}

// generateAcked builds n commands under the acked policy by applying them
// to a reference state, and counts the commands after which a message
// younger than the retention cutoff had left the log.
func generateAcked(t *testing.T, seed uint64, n int) (steps []step, results []Result, ackedTrims int) {
	t.Helper()
	pol := Policy{MaxConsumeCount: 2, RetentionMs: 3_600_000, AckedRetention: true}
	rng := rand.New(rand.NewPCG(seed, seed))
	ref := NewState()
	groups := []GroupID{"g-a", "g-b"}
	open := map[GroupID][]AckItem{}
	var halves []TxnEnd
	now := int64(1_700_000_000_000)
	for len(steps) < n {
		now += rng.Int64N(30)
		h := Header{Now: now, Policy: pol}
		g := groups[rng.IntN(len(groups))]
		var c Command
		switch r := rng.IntN(100); {
		case r < 25:
			m := Message{Body: []byte(fmt.Sprint(len(steps)))}
			if rng.IntN(10) == 0 {
				m.DeliverAt = now + rng.Int64N(2000)
			}
			c = &Enqueue{Header: h, Messages: []Message{m}}
		case r < 28:
			c = &Enqueue{Header: h, Messages: []Message{{Body: []byte("half")}}, HalfCheckMs: 500}
		case r < 31 && len(halves) > 0:
			e := halves[0]
			halves = halves[1:]
			e.Header, e.Commit = h, rng.IntN(4) != 0
			c = &e
		case r < 60:
			c = &Lease{Header: h, Group: g, Max: 1 + rng.IntN(8), MaxBytes: MaxLeaseBytes, AckWaitMs: 50 + rng.Int64N(500)}
		case r < 95 && len(open[g]) > 0:
			k := 1 + rng.IntN(len(open[g]))
			items := slices.Clone(open[g][:k])
			open[g] = open[g][k:]
			for i := range items {
				items[i].Success = rng.IntN(20) != 0
			}
			c = &Ack{Header: h, Group: g, Items: items}
		case r == 99 && rng.IntN(10) == 0:
			c = &Forget{Header: h, Group: g}
			open[g] = nil
		default:
			c = &Tick{Header: h}
		}
		data, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		res := ref.Apply(uint64(len(steps)+1), c)
		steps = append(steps, step{index: uint64(len(steps) + 1), cmd: c, data: data})
		results = append(results, res)
		switch res := res.(type) {
		case LeaseResult:
			for _, d := range res.Deliveries {
				open[g] = append(open[g], AckItem{Offset: d.Offset, DeliveryID: d.DeliveryID})
			}
		case EnqueueResult:
			if res.Halves > 0 {
				halves = append(halves, TxnEnd{HalfID: res.FirstHalf})
			}
		}
		if first, _ := ref.Offsets(); first > 0 && now-pol.RetentionMs < 1_700_000_000_000 {
			ackedTrims++
		}
		if len(steps)%500 == 0 {
			if err := invariantError(ref); err != nil {
				t.Fatalf("after %d commands: %v", len(steps), err)
			}
		}
	}
	return steps, results, ackedTrims
}
