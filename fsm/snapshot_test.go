package fsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// richState builds a state with something of everything: trimmed offsets, two
// groups, done offsets above the floor, ready and in-flight deliveries, dead
// letters acked and not, attributes nil and empty.
func richState(t *testing.T) *State {
	t.Helper()
	h := newHarness(t, Policy{MaxConsumeCount: 2, RetentionMs: 1000})
	h.enqueue(1000, "old")
	h.lease(1000, g2, 1, 10)
	h.apply(&Enqueue{Header: h.hdr(1500), Messages: []Message{
		{Body: []byte("0"), Attributes: []byte(`{"a":1}`)},
		{Body: []byte("1"), Attributes: []byte{}},
		{Body: []byte("2")}, {Body: []byte("3")}, {Body: []byte("4")}, {Body: []byte("5")},
	}})
	h.tick(2001) // "old" trimmed: offsets start at 1
	ds := h.lease(2001, g1, 5, 500)
	h.ack(2002, g1, okItem(ds[1]), okItem(ds[3]), failItem(ds[0]))
	ds = h.lease(2003, g1, 1, 500) // 1 again
	h.ack(2004, g1, failItem(ds[0]))
	dl := h.leaseDL(2005, g1, 1, 500)
	h.ackDL(2006, g1, okItem(dl[0]))
	h.lease(2007, g2, 2, 500)
	return h.s
}

func TestState_SnapshotRoundTrip(t *testing.T) {
	s := richState(t)
	a := snapshotBytes(t, s)
	r := NewState()
	n, err := r.ReadFrom(bytes.NewReader(a))
	if err != nil || n != int64(len(a)) {
		t.Fatalf("ReadFrom = %d, %v", n, err)
	}
	if b := snapshotBytes(t, r); !bytes.Equal(a, b) {
		t.Fatal("snapshot does not round-trip")
	}
	for _, g := range []GroupID{g1, g2} {
		if r.Stats(g) != s.Stats(g) {
			t.Fatalf("Stats(%s) %+v, want %+v", g, r.Stats(g), s.Stats(g))
		}
		e1, ok1 := r.NextExpiry(g, false)
		e2, ok2 := s.NextExpiry(g, false)
		if e1 != e2 || ok1 != ok2 {
			t.Fatalf("NextExpiry(%s) differs", g)
		}
	}
	if r.Now() != s.Now() || r.Index() != s.Index() || r.Produced() != s.Produced() {
		t.Fatal("clock, index or log differ")
	}
}

// TestState_SnapshotGolden freezes the snapshot layout: a snapshot written by
// an older binary must restore in a newer one.
func TestState_SnapshotGolden(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 1})
	h.enqueue(1000, "a", "b")
	ds := h.lease(1001, "g", 2, 100)
	h.ack(1002, "g", failItem(ds[1]))
	const want = "524d515001" + // magic, version
		"03" + "d40f" + // index 3, now 1002
		"00" + "02" + "d00f" + "016100" + "00" + "016200" + // base 0, 2 messages at 1000, 1000
		"01" + "0167" + "01" + // group "g", 1 dead letter produced
		"00" + "02" + "01" + "00" + "02" + "9a11" + "d20f" + "01" + "00" + "01" + // normal lane: floor 0, next 2, rec 0 (id 2, expires 1101, first 1001, 1 delivery, in flight)
		"01" + "01" + "02" + "00" + // dead mark offset 1, id 2, by ack
		"00" + "01" + "d40f" + "d00f" + "01" + "016200" + // dead letters: base 0, one at 1002, produced 1000, from offset 1
		"00" + "00" + "00" // dead-letter lane: floor 0, next 0, no recs
	got := hex.EncodeToString(snapshotBytes(t, h.s))
	if got != want {
		t.Fatalf("snapshot\n got %s\nwant %s", got, want)
	}
	b, _ := hex.DecodeString(want)
	r := NewState()
	if _, err := r.ReadFrom(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if r.Stats("g") != (GroupStats{Produced: 2, Available: 1, ProducedDeadLetters: 1, AvailableDeadLetters: 1}) {
		t.Fatalf("stats %+v", r.Stats("g"))
	}
}

func TestState_ReadFromRejectsTruncation(t *testing.T) {
	a := snapshotBytes(t, richState(t))
	r := richState(t)
	before := r.Digest()
	for i := 0; i < len(a); i++ {
		if _, err := r.ReadFrom(bytes.NewReader(a[:i])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ReadFrom(first %d of %d bytes) = %v, want ErrCorrupt", i, len(a), err)
		}
	}
	if _, err := r.ReadFrom(bytes.NewReader(append(bytes.Clone(a), 0))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
	if r.Digest() != before {
		t.Fatal("failed ReadFrom changed the state")
	}
}

func TestState_ReadFromChecksInvariants(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(s *State)
	}{
		{"floor is done", func(s *State) {
			ln := s.groups[g1].normal
			r := ln.recs[ln.floor]
			delete(ln.recs, r.off)
			ln.done[r.off] = struct{}{}
		}},
		{"rec with no delivery", func(s *State) {
			ln := s.groups[g1].normal
			ln.recs[ln.floor].deliveries = 0
		}},
		{"more failures than deliveries", func(s *State) {
			ln := s.groups[g1].normal
			ln.recs[ln.floor].failures = 9
		}},
		{"in flight and expired", func(s *State) {
			for _, r := range s.groups[g2].normal.recs {
				if r.inflight {
					r.expired = true
				}
			}
		}},
		{"dead mark on a live offset", func(s *State) {
			g := s.groups[g1]
			g.dead[0].off = g.normal.floor
		}},
		{"cursor past the log", func(s *State) {
			s.groups[g2].normal.next += 100
		}},
		{"dead-letter count below retained", func(s *State) {
			s.groups[g1].producedDL = 0
		}},
		{"groups out of order", func(s *State) {
			s.order[0], s.order[1] = s.order[1], s.order[0]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := richState(t)
			tt.corrupt(s)
			if _, err := NewState().ReadFrom(bytes.NewReader(snapshotBytes(t, s))); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadFrom = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestState_DigestTracksState(t *testing.T) {
	a, b := NewState(), NewState()
	if a.Digest() != b.Digest() {
		t.Fatal("empty states differ")
	}
	a.Apply(1, &Tick{Header: Header{Now: 5}})
	if a.Digest() == b.Digest() {
		t.Fatal("digest ignores the clock")
	}
	b.Apply(1, &Tick{Header: Header{Now: 5}})
	if a.Digest() != b.Digest() {
		t.Fatal("equal histories, different digests")
	}
}
