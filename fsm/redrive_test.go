package fsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

// deadLetterAll enqueues bodies and fails each once with MaxConsumeCount 1,
// so that every message becomes a dead letter of g1.
func deadLetterAll(t *testing.T, h *harness, now int64, bodies ...string) {
	t.Helper()
	h.enqueue(now, bodies...)
	ds := h.lease(now, g1, len(bodies), 1000)
	for _, d := range ds {
		h.ack(now, g1, failItem(d))
	}
	if st := h.s.Stats(g1); st.AvailableDeadLetters != int64(len(bodies)) {
		t.Fatalf("setup: stats %+v", st)
	}
}

func TestState_RedriveMovesDeadLettersBack(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 1, RetentionMs: normal.RetentionMs})
	deadLetterAll(t, h, 1000, "a", "b", "c")
	h.lease(1000, g2, 3, 1000) // another group, unaffected
	// One dead letter leased right now stays.
	leased := h.leaseDL(1001, g1, 1, 1000)
	wantOffs(t, "dead letter leased", leased, 0)

	if res := h.apply(&Redrive{Header: h.hdr(1002), Group: g1, Max: 1}).(RedriveResult); res.Redriven != 1 {
		t.Fatalf("redrive max 1 = %+v", res)
	}
	h.wantStats(g1, GroupStats{Produced: 3, Available: 1, ProducedDeadLetters: 3, AvailableDeadLetters: 2})
	if res := h.apply(&Redrive{Header: h.hdr(1003), Group: g1}).(RedriveResult); res.Redriven != 1 {
		t.Fatalf("redrive all = %+v", res)
	}
	h.wantStats(g1, GroupStats{Produced: 3, Available: 2, ProducedDeadLetters: 3, AvailableDeadLetters: 1})
	if st := h.s.Stats(g2); st.Available != 3 || st.ProducedDeadLetters != 0 {
		t.Fatalf("other group changed: %+v", st)
	}
	// The redriven messages are ready at once, counts reset.
	ds := h.lease(1004, g1, 10, 1000)
	wantOffs(t, "normal lane after redrive", ds, 1, 2)
	for _, d := range ds {
		if d.Deliveries != 1 || d.FirstDeliveredAt != 1004 {
			t.Fatalf("redriven delivery %+v: counts not reset", d)
		}
	}
	// The dead letter that was leased during the redrive still acks.
	wantAck(t, "leased dead letter", h.ackDL(1005, g1, okItem(leased[0])), AckResult{Success: 1})
	wantAck(t, "redriven", h.ack(1005, g1, okItem(ds[0]), okItem(ds[1])), AckResult{Success: 2})
	h.wantStats(g1, GroupStats{Produced: 3, Consumed: 2, ProducedDeadLetters: 3})
	if res := h.apply(&Redrive{Header: h.hdr(1006), Group: g1}).(RedriveResult); res.Redriven != 0 {
		t.Fatalf("redrive of nothing = %+v", res)
	}
}

func TestState_RedriveBelowFloorAndAgain(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 1, RetentionMs: normal.RetentionMs})
	deadLetterAll(t, h, 1000, "a", "b")
	h.enqueue(1000, "c", "d")
	ds := h.lease(1001, g1, 2, 1000)
	h.ack(1001, g1, okItem(ds[0]), okItem(ds[1])) // the normal floor passes every offset
	h.apply(&Redrive{Header: h.hdr(1002), Group: g1})
	h.wantStats(g1, GroupStats{Produced: 4, Consumed: 2, Available: 2, ProducedDeadLetters: 2})
	// Fail them again: they go back to the dead letters (a second copy).
	ds = h.lease(1003, g1, 5, 1000)
	wantOffs(t, "redriven", ds, 0, 1)
	h.ack(1003, g1, failItem(ds[0]))
	h.ack(1003, g1, failItem(ds[1]))
	h.wantStats(g1, GroupStats{Produced: 4, Consumed: 2, ProducedDeadLetters: 4, AvailableDeadLetters: 2})
	wantOffs(t, "second dead letters", h.leaseDL(1004, g1, 5, 1000), 2, 3)
	// An old handler of a redriven message is superseded.
	wantAck(t, "stale", h.ack(1004, g1, okItem(ds[0])), AckResult{Fail: 1, Reason: ReasonAlreadyAcked})
}

func TestState_RedriveSkipsMessagesPastRetention(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 1, RetentionMs: 10_000})
	deadLetterAll(t, h, 1000, "old")
	h.enqueue(5000, "new")
	ds := h.lease(5000, g1, 1, 1000)
	h.ack(5000, g1, failItem(ds[0]))
	h.tick(12_000) // "old" leaves the log; its dead letter stays
	if res := h.apply(&Redrive{Header: h.hdr(12_001), Group: g1}).(RedriveResult); res.Redriven != 1 {
		t.Fatalf("redrive = %+v, want only the retained one", res)
	}
	h.wantStats(g1, GroupStats{Produced: 1, Available: 1, ProducedDeadLetters: 2, AvailableDeadLetters: 1})
	if res := h.apply(&Redrive{Header: h.hdr(12_002), Group: "g-unknown"}).(RedriveResult); res.Redriven != 0 {
		t.Fatalf("unknown group: %+v", res)
	}
}

func TestState_ExtendKeepsTheHandler(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "a", "b")
	ds := h.lease(1000, g1, 2, 1000)
	ext := func(now int64, dl bool, items ...ExtendItem) []Reason {
		t.Helper()
		return h.apply(&Extend{Header: h.hdr(now), Group: g1, DeadLetter: dl, Items: items}).(ExtendResult).Reasons
	}
	item := func(d Delivery, ms int64) ExtendItem {
		return ExtendItem{Offset: d.Offset, DeliveryID: d.DeliveryID, AckWaitMs: ms}
	}
	got := ext(900, false, item(ds[0], 5000), ExtendItem{Offset: 7, DeliveryID: 1, AckWaitMs: 5000})
	if got[0] != ReasonNone || got[1] != ReasonSuperseded {
		t.Fatalf("extend = %v", got)
	}
	if at, _ := h.s.NextExpiry(g1, false); at != 2000 {
		t.Fatalf("earliest expiry %d, want b's 2000", at)
	}
	h.tick(2000) // b expires; a's lease now ends at 1000 + 5000
	wantOffs(t, "b redelivered", h.lease(2001, g1, 5, 100_000), 1)
	if got := ext(5999, false, item(ds[1], 5000)); got[0] != ReasonSuperseded {
		t.Fatalf("extend of a superseded delivery = %v", got)
	}
	wantAck(t, "extended handler", h.ack(5999, g1, okItem(ds[0])), AckResult{Success: 1})
	if got := ext(6000, false, item(ds[0], 5000)); got[0] != ReasonAlreadyAcked {
		t.Fatalf("extend after ack = %v", got)
	}
	h.enqueue(7000, "c")
	c := h.lease(7000, g1, 1, 100)
	if got := ext(7100, false, item(c[0], 5000)); got[0] != ReasonExpired {
		t.Fatalf("extend after expiry = %v", got)
	}
	if got := ext(7100, true, item(c[0], 5000)); got[0] != ReasonSuperseded {
		t.Fatalf("extend in the other lane = %v", got)
	}
	if got := h.apply(&Extend{Header: h.hdr(7100), Group: "g-none", Items: []ExtendItem{item(c[0], 1)}}).(ExtendResult).Reasons; got[0] != ReasonSuperseded {
		t.Fatalf("extend for an unknown group = %v", got)
	}
}

func TestState_StatsAtLeavesDelayedOut(t *testing.T) {
	h := newHarness(t, normal)
	h.apply(&Enqueue{Header: h.hdr(1000), Messages: []Message{{Body: []byte("now")}, {Body: []byte("later"), DeliverAt: 5000}}})
	for _, id := range []GroupID{g1, "g-never"} {
		if st := h.s.StatsAt(id, 1000); st.Available != 1 || st.Produced != 2 {
			t.Fatalf("%s at 1000: %+v", id, st)
		}
		if st := h.s.StatsAt(id, 5000); st.Available != 2 {
			t.Fatalf("%s at 5000: %+v", id, st)
		}
	}
	wantOffs(t, "before due", h.lease(1000, g1, 5, 1000), 0)
	// A restored state knows the delay too.
	r := NewState()
	if _, err := r.ReadFrom(bytes.NewReader(snapshotBytes(t, h.s))); err != nil {
		t.Fatal(err)
	}
	if st := r.StatsAt(g1, 4999); st.Available != 1 { // offset 0 is in flight: still available
		t.Fatalf("restored at 4999: %+v", st)
	}
	if st := r.StatsAt(g1, 5000); st.Available != 2 {
		t.Fatalf("restored at 5000: %+v", st)
	}
	// Many delays: pruning keeps the list short and the counts right.
	for i := range 300 {
		now := int64(10_000 + i)
		h.apply(&Enqueue{Header: h.hdr(now), Messages: []Message{{Body: []byte("x"), DeliverAt: now + 10}}})
	}
	if len(h.s.delays) > 128 {
		t.Fatalf("%d delays kept", len(h.s.delays))
	}
	if n := h.s.notDueFor(nil, 10_299); n != 10 {
		t.Fatalf("not due at 10299: %d, want 10", n)
	}
}

// TestCommand_GoldenBytesLater freezes the encoding of the commands of
// redrive.go, as TestCommand_GoldenBytes does for the others.
func TestCommand_GoldenBytesLater(t *testing.T) {
	const hdr = "f6a1abfef96201" + "03" + "80d098f701"
	golden := []struct {
		name string
		cmd  Command
		hex  string
	}{
		{"redrive", &Redrive{Header: goldenHeader, Group: "g-1", Max: 5}, "0a" + "01" + hdr + "03672d31" + "05"},
		{"redrive all", &Redrive{Header: goldenHeader, Group: "g-1"}, "0a" + "01" + hdr + "03672d31" + "00"},
		{"extend", &Extend{Header: goldenHeader, Group: "g-1", DeadLetter: true, Items: []ExtendItem{{Offset: 129, DeliveryID: 300, AckWaitMs: 60000}}},
			"0b" + "01" + hdr + "03672d31" + "01" + "01" + "8101" + "ac02" + "c0a907"},
	}
	for _, tt := range golden {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != tt.hex {
				t.Fatalf("encode = %s, want %s", got, tt.hex)
			}
			c, err := Decode(b)
			if err != nil || !reflect.DeepEqual(c, tt.cmd) {
				t.Fatalf("decode = %+v, %v", c, err)
			}
			for i := range len(b) {
				if _, err := Decode(b[:i]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("truncated at %d: %v", i, err)
				}
			}
		})
	}
	if _, err := Encode(&Redrive{Max: -1}); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("negative max: %v", err)
	}
	if _, err := Encode((*Extend)(nil)); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("nil extend: %v", err)
	}
}
