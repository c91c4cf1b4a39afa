package fsm

import "testing"

func TestState_Gauges(t *testing.T) {
	s := NewState()
	p := Policy{MaxConsumeCount: 1, RetentionMs: 3600_000}
	s.Apply(1, &Enqueue{Header: Header{Now: 1000, Policy: p}, Messages: []Message{{Body: []byte(`1`)}, {Body: []byte(`2`)}, {Body: []byte(`3`)}}})
	if g := s.Gauges("g"); g.Ready != 3 || g.InFlight != 0 || g.OldestReadyAt != 1000 {
		t.Fatalf("unseen group: %+v", g)
	}
	lr := s.Apply(2, &Lease{Header: Header{Now: 2000, Policy: p}, Group: "g", Max: 1, MaxBytes: MaxLeaseBytes, AckWaitMs: 30_000}).(LeaseResult)
	if len(lr.Deliveries) != 1 {
		t.Fatalf("lease: %+v", lr)
	}
	g := s.Gauges("g")
	if g.Ready != 2 || g.InFlight != 1 || g.OldestReadyAt != 1000 {
		t.Fatalf("after a lease: %+v", g)
	}
	// A fail ack with max consume count 1 dead-letters the message.
	d := lr.Deliveries[0]
	s.Apply(3, &Ack{Header: Header{Now: 3000, Policy: p}, Group: "g", Items: []AckItem{{Offset: d.Offset, DeliveryID: d.DeliveryID}}})
	g = s.Gauges("g")
	if g.Ready != 2 || g.InFlight != 0 || g.DeadLetters != 1 || g.DeadLettered != 1 {
		t.Fatalf("after dead-lettering: %+v", g)
	}
}
