package fsm

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzDecode checks that Decode never panics, that whatever it accepts
// encodes back to the very same bytes (the format is canonical), and that
// the FSM applies any entry, decodable or not, without panicking.
func FuzzDecode(f *testing.F) {
	for _, g := range append(golden, goldenTxn...) {
		b, err := hex.DecodeString(g.hex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range []Command{&Redrive{Group: "g", Max: 2}, &Extend{Group: "g", Items: []ExtendItem{{Offset: 1, DeliveryID: 2, AckWaitMs: 3}}}} {
		b, err := Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x89, 0x01})
	f.Add([]byte{byte(TypeAck), 1, 0, 0, 0, 0, 1, 'g', 3, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		NewFSM("fuzz", nil).Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: b})
		c, err := Decode(b)
		if err != nil {
			if c != nil {
				t.Fatalf("Decode returned %#v with error %v", c, err)
			}
			return
		}
		if Type(b[0]) != c.Type() {
			t.Fatalf("type byte %#x decoded as %v", b[0], c.Type())
		}
		again, err := Encode(c)
		if err != nil {
			t.Fatalf("Encode(Decode(%x)): %v", b, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("Encode(Decode(%x)) = %x", b, again)
		}
	})
}

// FuzzState checks that ReadFrom never panics on arbitrary bytes, that a
// snapshot it accepts is canonical (it writes back the same bytes) and
// consistent (the invariants hold and commands apply without panicking).
func FuzzState(f *testing.F) {
	for _, s := range []*State{NewState(), fuzzSeedState(), fuzzTxnSeedState()} {
		var b bytes.Buffer
		if _, err := s.WriteTo(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte("RMQP\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewState()
		if _, err := s.ReadFrom(bytes.NewReader(b)); err != nil {
			return
		}
		if again := snapshotBytes(t, s); !bytes.Equal(again, b) {
			t.Fatalf("ReadFrom accepted %x but writes %x", b, again)
		}
		if err := invariantError(s); err != nil {
			t.Fatalf("restored state breaks an invariant: %v", err)
		}
		// Half the inputs run under the acked retention policy.
		pol := Policy{MaxConsumeCount: 2, RetentionMs: 1000, AckedRetention: len(b)%2 == 1}
		idx := s.Index()
		for _, id := range append(s.Groups(), "new") {
			for _, dl := range []bool{false, true} {
				idx++
				res := s.Apply(idx, &Lease{Header: Header{Now: s.Now(), Policy: pol}, Group: id, Max: 16, MaxBytes: MaxLeaseBytes, AckWaitMs: 10, DeadLetter: dl})
				var items []AckItem
				for i, d := range res.(LeaseResult).Deliveries {
					items = append(items, AckItem{Offset: d.Offset, DeliveryID: d.DeliveryID, Success: i%3 != 2})
				}
				items = append(items, AckItem{Offset: 1, DeliveryID: 1}, AckItem{Offset: 0, DeliveryID: idx})
				idx++
				s.Apply(idx, &Ack{Header: Header{Now: s.Now() + 1, Policy: pol}, Group: id, DeadLetter: dl, Items: items})
			}
		}
		idx++
		s.Apply(idx, &Tick{Header: Header{Now: s.Now() + DeadLetterRetentionMs + 1, Policy: pol}})
		if err := invariantError(s); err != nil {
			t.Fatalf("after commands: %v", err)
		}
	})
}

// fuzzSeedState is richState without a *testing.T.
func fuzzSeedState() *State {
	s := NewState()
	pol := Policy{MaxConsumeCount: 2, RetentionMs: 1000}
	s.Apply(1, &Enqueue{Header: Header{Now: 1000, Policy: pol}, Messages: []Message{{Body: []byte("a"), Attributes: []byte("{}")}, {Body: []byte("b")}, {Body: []byte("c")}}})
	s.Apply(2, &Lease{Header: Header{Now: 1001, Policy: pol}, Group: "g", Max: 3, MaxBytes: 100, AckWaitMs: 50})
	s.Apply(3, &Ack{Header: Header{Now: 1002, Policy: pol}, Group: "g", Items: []AckItem{{Offset: 1, DeliveryID: 2, Success: true}, {Offset: 0, DeliveryID: 2}}})
	s.Apply(4, &Lease{Header: Header{Now: 1003, Policy: pol}, Group: "g", Max: 1, MaxBytes: 100, AckWaitMs: 50})
	s.Apply(5, &Ack{Header: Header{Now: 1004, Policy: pol}, Group: "g", Items: []AckItem{{Offset: 0, DeliveryID: 4}}})
	s.Apply(6, &Lease{Header: Header{Now: 1005, Policy: pol}, Group: "g", Max: 1, MaxBytes: 100, AckWaitMs: 50, DeadLetter: true})
	s.Apply(7, &Lease{Header: Header{Now: 1006, Policy: pol}, Group: "h", Max: 1, MaxBytes: 100, AckWaitMs: 50})
	return s
}
