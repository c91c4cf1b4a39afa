package loadtest

import (
	"reflect"
	"testing"
)

func TestLedger_CountsLostAndDuplicates(t *testing.T) {
	l := newLedger()
	l.Sent(1, 0, 10, false)
	l.Confirmed(1, 0, 10) // p1/s0..9 confirmed
	l.Sent(2, 0, 5, false)
	l.Sent(2, 0, 5, true) // retried, outcome never known
	l.Sent(3, 0, 2, false)
	l.Rejected(3, 0, 2)

	if out, unknown := l.Outstanding(); out != 10 || unknown != 5 {
		t.Fatalf("outstanding %d unknown %d", out, unknown)
	}
	for s := range uint32(8) { // p1/s8 and s9 never delivered: lost
		l.Delivered(makeKey(1, s))
	}
	if !l.Delivered(makeKey(2, 0)) || l.Delivered(makeKey(1, 0)) || l.Delivered(makeKey(1, 0)) {
		t.Fatal("Delivered's first-delivery answer is wrong")
	}
	l.Delivered(makeKey(2, 0)) // a duplicate of a retried produce
	l.Delivered(makeKey(9, 9)) // never sent
	if out, _ := l.Outstanding(); out != 2 {
		t.Fatalf("outstanding %d, want 2", out)
	}

	v := l.Verify()
	want := Verification{Confirmed: 10, Rejected: 2, Unconfirmed: 5, UnconfirmedDelivered: 1, Foreign: 1,
		Delivered: 10, Deliveries: 13, Lost: 2, Duplicates: 3, DuplicatesOfRetried: 1,
		GroupAvailable: -1, GroupConsumed: -1}
	sample := v.LostSample
	v.LostSample = nil
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("verification\n got %+v\nwant %+v", v, want)
	}
	if len(sample) != 2 || sample[0] != "p1/s8" || sample[1] != "p1/s9" {
		t.Fatalf("lost sample %v", sample)
	}
}

func TestLedger_DeliveryBeforeConfirmationIsMatched(t *testing.T) {
	l := newLedger()
	l.Sent(1, 0, 1, false)
	l.Delivered(makeKey(1, 0)) // the consumer saw it before the producer's 201
	l.Confirmed(1, 0, 1)
	l.Confirmed(1, 0, 1) // a second 201 (retry) does not count twice
	if out, unknown := l.Outstanding(); out != 0 || unknown != 0 {
		t.Fatalf("outstanding %d unknown %d", out, unknown)
	}
	if v := l.Verify(); v.Lost != 0 || v.Confirmed != 1 || v.Duplicates != 0 {
		t.Fatalf("%+v", v)
	}
}
