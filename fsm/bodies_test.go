package fsm

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/bodystore"
)

func TestBodyRecord_RoundTrip(t *testing.T) {
	for _, m := range []Message{
		{Body: []byte(`"x"`)},
		{Body: []byte{}, Attributes: []byte{}},
		{Body: []byte(`1`), Attributes: []byte(`{"a":1}`), Props: []byte("KEYS:k|")},
		{Body: []byte(`1`), Props: []byte{}},
	} {
		var got Message
		if err := DecodeBody(EncodeBody(m), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip %+v = %+v", m, got)
		}
	}
	b := EncodeBody(Message{Body: []byte("abc"), Attributes: []byte("{}")})
	for _, bad := range [][]byte{b[:len(b)-1], append(b, 'x'), {0xff}, {5, 0, 0, 'a'}} {
		if err := DecodeBody(bad, &Message{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode of %q: %v", bad, err)
		}
	}
}

func openBodies(t *testing.T, dir string) *bodystore.Store {
	t.Helper()
	st, err := bodystore.Open(dir, bodystore.Options{SegmentBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// persist takes f's snapshot into memory.
func persist(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

// withSection appends to a version 4 snapshot the body section of every
// record st holds in the snapshot's range, as partition's snapshot store
// does when it sends a snapshot.
func withSection(t *testing.T, snap []byte, st *bodystore.Store) []byte {
	t.Helper()
	h, ok := ParseSnapshotHeader(snap)
	if !ok {
		t.Fatal("not a version 4 snapshot")
	}
	var recs []byte
	n := 0
	for o := h.BodiesFrom; o < h.BodiesEnd; o++ {
		p, err := st.Get(o)
		if errors.Is(err, bodystore.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = AppendBodyRecord(recs, o, p)
		n++
	}
	out := append(bytes.Clone(snap), AppendBodySectionHeader(nil, st.ID(), n)...)
	out = append(out, recs...)
	if int64(len(out)-len(snap)) != BodySectionSize(n, int64(len(recs)-n*sectionRecordOverhead)) {
		t.Fatal("BodySectionSize disagrees with the section")
	}
	return out
}

func digestOf(f *FSM) (d [32]byte) {
	f.Read(func(s *State) { d = s.Digest() })
	return d
}

// The determinism of a detached replica: applied one by one or in batches,
// restored mid-way from a snapshot whose bodies are streamed to an empty
// store, every result (bodies filled from the store) is the reference's and
// the states agree; the metadata-only state is the reference's without its
// bodies.
func TestReplay_Detached(t *testing.T) {
	pol := Policy{MaxConsumeCount: 3, RetentionMs: 60_000}
	const n = 10_000
	steps, want, _, counts := generate(t, 42, pol, n)
	checkCoverage(t, pol, counts)
	logs := make([]*raft.Log, len(steps))
	for i, st := range steps {
		logs[i] = &raft.Log{Index: st.index, Term: 1, Type: raft.LogCommand, Data: st.data}
		if st.cmd == nil {
			logs[i].Type = raft.LogConfiguration
		}
	}
	pure := NewDetachedState()
	a := NewDetachedFSM("a", nil, openBodies(t, t.TempDir()))
	b := NewDetachedFSM("b", nil, openBodies(t, t.TempDir()))
	cStore := openBodies(t, t.TempDir())
	c := NewDetachedFSM("c", nil, cStore)
	check := func(who string, k int, got any) {
		t.Helper()
		if lr, ok := got.(LeaseResult); ok {
			for _, d := range lr.Deliveries {
				if d.Message.Body != nil {
					t.Fatalf("%s: command %d: a detached lease returned a body", who, k)
				}
			}
			if err := a.FillBodies(lr.Deliveries); err != nil {
				t.Fatalf("%s: command %d: %v", who, k, err)
			}
		}
		if !reflect.DeepEqual(got, any(want[k])) {
			t.Fatalf("%s: command %d = %+v, want %+v", who, k, got, want[k])
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	k, mid := 0, n/2
	for i := 0; i < len(logs); {
		j := min(len(logs), i+1+rng.IntN(32))
		batch := b.ApplyBatch(logs[i:j])
		for x := i; x < j; x++ {
			one := a.Apply(logs[x])
			if steps[x].cmd == nil {
				continue
			}
			cmd, _ := Decode(steps[x].data)
			pr := pure.Apply(steps[x].index, cmd)
			check("one by one", k, one)
			check("batched", k, batch[x-i])
			check("pure", k, pr)
			if k == mid {
				snap := persist(t, a)
				if err := c.Restore(newRC(withSection(t, snap, a.bodies.(*bodystore.Store)))); err != nil {
					t.Fatalf("restore: %v", err)
				}
			}
			if k > mid {
				check("restored", k, c.Apply(logs[x]))
			}
			k++
		}
		i = j
	}
	for _, f := range []*FSM{b, c} {
		if digestOf(f) != digestOf(a) {
			t.Fatalf("%s differs from a", f.name)
		}
	}
	if digestOf(a) != pure.Digest() {
		t.Fatal("the FSM's state differs from the pure detached state")
	}
}

type rc struct{ *bytes.Reader }

func (rc) Close() error { return nil }

func newRC(b []byte) rc { return rc{bytes.NewReader(b)} }

// A restart restores the local snapshot over the store that already holds
// its bodies: no section is needed, and records beyond the snapshot are cut
// (replay writes them again).
func TestDetached_RestoreKeepsAStoreThatHoldsTheBodies(t *testing.T) {
	dir := t.TempDir()
	st := openBodies(t, dir)
	f := NewDetachedFSM("p", nil, st)
	pol := Policy{RetentionMs: 1 << 40}
	msgs := []Message{{Body: []byte(`"a"`)}, {Body: []byte(`"b"`), Attributes: []byte(`{}`)}}
	f.Apply(makeLog(t, 1, &Enqueue{Header: Header{Now: 1, Policy: pol}, Messages: msgs}))
	snap := persist(t, f)
	f.Apply(makeLog(t, 2, &Enqueue{Header: Header{Now: 2, Policy: pol}, Messages: msgs}))
	st.Close()

	st2 := openBodies(t, dir)
	g := NewDetachedFSM("p", nil, st2)
	if err := g.Restore(newRC(snap)); err != nil {
		t.Fatal(err)
	}
	if _, end := st2.Range(); end != 2 {
		t.Fatalf("store end after restore = %d, want 2", end)
	}
	res := g.Apply(makeLog(t, 2, &Enqueue{Header: Header{Now: 2, Policy: pol}, Messages: msgs}))
	_ = res
	lr := g.Apply(makeLog(t, 3, &Lease{Header: Header{Now: 3, Policy: pol}, Group: g1, Max: 4, MaxBytes: 100, AckWaitMs: 10})).(LeaseResult)
	if err := g.FillBodies(lr.Deliveries); err != nil || len(lr.Deliveries) != 4 {
		t.Fatalf("lease after restart: %d, %v", len(lr.Deliveries), err)
	}
	if string(lr.Deliveries[3].Message.Body) != `"b"` || string(lr.Deliveries[3].Message.Attributes) != `{}` {
		t.Fatalf("body after restart: %+v", lr.Deliveries[3].Message)
	}

	// A replica whose store lacks the bodies refuses a snapshot without them.
	h := NewDetachedFSM("q", nil, openBodies(t, t.TempDir()))
	if err := h.Restore(newRC(snap)); err == nil {
		t.Fatal("restored a snapshot without the bodies it needs")
	}

	// A local snapshot whose bodies the store has lost is refused, and the
	// store is left as it is: its section would be read from the store
	// being replaced.
	if err := st2.TruncateFrom(1); err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(newRC(withSection(t, snap, st2))); err == nil {
		t.Fatal("restored from a section of the store being replaced")
	}
	if !st2.Covers(0, 1) {
		t.Fatal("a refused restore emptied the store")
	}
}

// A node upgraded from a version that kept bodies in its snapshots restores
// such a snapshot: the bodies move to the store, dead letters' included.
func TestDetached_RestoresAnOlderSnapshot(t *testing.T) {
	pol := Policy{MaxConsumeCount: 1, RetentionMs: 1000}
	old := NewFSM("p", nil)
	old.Apply(makeLog(t, 1, &Enqueue{Header: Header{Now: 0, Policy: pol}, Messages: []Message{{Body: []byte(`"dead"`), Props: []byte("P")}}}))
	lr := old.Apply(makeLog(t, 2, &Lease{Header: Header{Now: 1, Policy: pol}, Group: g1, Max: 1, MaxBytes: 100, AckWaitMs: 10})).(LeaseResult)
	old.Apply(makeLog(t, 3, &Ack{Header: Header{Now: 2, Policy: pol}, Group: g1, Items: []AckItem{failItem(lr.Deliveries[0])}}))
	old.Apply(makeLog(t, 4, &Enqueue{Header: Header{Now: 1500, Policy: pol}, Messages: []Message{{Body: []byte(`"live"`), Attributes: []byte(`{"k":1}`)}}}))
	snap := persist(t, old)
	if _, v3 := ParseSnapshotHeader(snap); v3 {
		t.Fatal("an in-memory state wrote version 3")
	}
	st := openBodies(t, t.TempDir())
	f := NewDetachedFSM("p", nil, st)
	if err := f.Restore(newRC(snap)); err != nil {
		t.Fatal(err)
	}
	lease := func(idx uint64, dl bool) Delivery {
		t.Helper()
		lr := f.Apply(makeLog(t, idx, &Lease{Header: Header{Now: 1600, Policy: pol}, Group: g1, Max: 1, MaxBytes: 100, AckWaitMs: 10, DeadLetter: dl})).(LeaseResult)
		if len(lr.Deliveries) != 1 {
			t.Fatalf("lease (dead letter %v): %d deliveries", dl, len(lr.Deliveries))
		}
		if err := f.FillBodies(lr.Deliveries); err != nil {
			t.Fatal(err)
		}
		return lr.Deliveries[0]
	}
	if d := lease(5, false); string(d.Message.Body) != `"live"` || string(d.Message.Attributes) != `{"k":1}` {
		t.Fatalf("message after upgrade: %+v", d.Message)
	}
	if d := lease(6, true); string(d.Message.Body) != `"dead"` || string(d.Message.Props) != "P" || d.OriginalOffset != 0 {
		t.Fatalf("dead letter after upgrade: %+v", d)
	}
	if _, v3 := ParseSnapshotHeader(persist(t, f)); !v3 {
		t.Fatal("the upgraded replica's snapshot still holds bodies")
	}
}

// failingStore fails every Append once failAt is reached.
type failingStore struct {
	*bodystore.Store
	failAt uint64
}

func (s failingStore) Append(off uint64, p []byte) error {
	if off >= s.failAt {
		return errors.New("disk full")
	}
	return s.Store.Append(off, p)
}

func (s failingStore) Sync() error { return errors.New("disk full") }

// A body the store cannot write stays in memory: the replica still serves
// it, its state is that of a healthy replica, and it takes no snapshot
// (the log keeps the entries).
func TestDetached_WriteErrorKeepsTheBodyInMemory(t *testing.T) {
	pol := Policy{RetentionMs: 1 << 40}
	bad := NewDetachedFSM("bad", nil, failingStore{openBodies(t, t.TempDir()), 1})
	good := NewDetachedFSM("good", nil, openBodies(t, t.TempDir()))
	for _, f := range []*FSM{bad, good} {
		f.Apply(makeLog(t, 1, &Enqueue{Header: Header{Now: 1, Policy: pol}, Messages: []Message{{Body: []byte(`"0"`)}, {Body: []byte(`"1"`)}, {Body: []byte(`"2"`)}}}))
		lr := f.Apply(makeLog(t, 2, &Lease{Header: Header{Now: 2, Policy: pol}, Group: g1, Max: 3, MaxBytes: 100, AckWaitMs: 10})).(LeaseResult)
		if err := f.FillBodies(lr.Deliveries); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		for i, d := range lr.Deliveries {
			if want := []byte{'"', byte('0' + i), '"'}; !bytes.Equal(d.Message.Body, want) {
				t.Fatalf("%s: delivery %d body %q", f.name, i, d.Message.Body)
			}
		}
	}
	if digestOf(bad) != digestOf(good) {
		t.Fatal("a body write error changed the replicated state")
	}
	snap, err := bad.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err == nil || !sink.cancelled {
		t.Fatalf("persisted a snapshot with bodies not on disk: %v", err)
	}
}

// A snapshot reclaims the records below the oldest body the state still
// refers to; a dead letter keeps its original's record.
func TestDetached_PersistReclaims(t *testing.T) {
	pol := Policy{MaxConsumeCount: 1, RetentionMs: 1000}
	st := openBodies(t, t.TempDir())
	f := NewDetachedFSM("p", nil, st)
	big := bytes.Repeat([]byte("x"), 1000)
	idx := uint64(0)
	apply := func(c Command) any { idx++; return f.Apply(makeLog(t, idx, c)) }
	for i := range 40 {
		apply(&Enqueue{Header: Header{Now: int64(i), Policy: pol}, Messages: []Message{{Body: big}}})
	}
	// Offset 0 becomes a dead letter of g1.
	lr := apply(&Lease{Header: Header{Now: 50, Policy: pol}, Group: g1, Max: 1, MaxBytes: 2000, AckWaitMs: 10}).(LeaseResult)
	apply(&Ack{Header: Header{Now: 51, Policy: pol}, Group: g1, Items: []AckItem{failItem(lr.Deliveries[0])}})
	apply(&Tick{Header: Header{Now: 5000, Policy: pol}}) // every message past retention
	apply(&Enqueue{Header: Header{Now: 5001, Policy: pol}, Messages: []Message{{Body: big}}})
	segs := st.Segments()
	persist(t, f)
	if st.Segments() != segs || !st.Covers(0, 1) {
		t.Fatalf("reclaimed a dead letter's body: %d → %d segments", segs, st.Segments())
	}
	apply(&Forget{Header: Header{Now: 5002, Policy: pol}, Group: g1})
	persist(t, f)
	if first, end := st.Range(); st.Segments() >= segs || first > 40 || end != 41 {
		t.Fatalf("after reclaim: %d segments (of %d), range [%d, %d)", st.Segments(), segs, first, end)
	}
	if st.Covers(0, 1) {
		t.Fatal("nothing was reclaimed")
	}
}

// detached1M is a detached state of 1,000,000 retained 1 KiB messages.
func detached1M() *State {
	s := NewDetachedState()
	pol := Policy{RetentionMs: 1 << 40}
	msgs := make([]Message, 100)
	for i := range msgs {
		msgs[i] = Message{Body: bytes.Repeat([]byte("x"), 1024)}
	}
	for i := range 10_000 {
		s.Apply(uint64(i+1), &Enqueue{Header: Header{Now: int64(i), Policy: pol}, Messages: msgs})
	}
	return s
}

// BenchmarkSnapshot_Detached1MLocked measures what FSM.Snapshot does under
// the state's lock (blocking Apply) for 1,000,000 retained messages: taking
// the view, not serialising the messages.
func BenchmarkSnapshot_Detached1MLocked(b *testing.B) {
	s := detached1M()
	for b.Loop() {
		_ = s.view()
	}
}

// BenchmarkSnapshot_Detached1M measures how long the snapshot of a detached
// state of 1,000,000 retained messages takes to serialise (Persist, beside
// Apply) and to parse back (a restore).
func BenchmarkSnapshot_Detached1M(b *testing.B) {
	s := detached1M()
	var buf bytes.Buffer
	b.ResetTimer()
	for range b.N {
		buf.Reset()
		if _, err := s.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "snapshot-bytes")
	b.StopTimer()
	start := time.Now()
	if _, err := parseSnapshot(buf.Bytes()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "parse-ms")
}

// A detached FSM's snapshot is written by Persist while Apply goes on
// (appending, and trimming the very messages being written): the snapshot
// is the state at Snapshot, byte for byte.
func TestDetached_SnapshotWhileApplying(t *testing.T) {
	pol := Policy{RetentionMs: 100}
	f := NewDetachedFSM("p", nil, openBodies(t, t.TempDir()))
	idx := uint64(0)
	enqueue := func(now int64) {
		idx++
		f.Apply(makeLog(t, idx, &Enqueue{Header: Header{Now: now, Policy: pol}, Messages: []Message{{Body: []byte(`"m"`), Key: "k"}, {Body: []byte(`"n"`)}}}))
	}
	for i := range 3000 {
		enqueue(int64(i / 30))
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	f.Read(func(s *State) { s.WriteTo(&want) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 3000 {
			enqueue(100 + int64(i/10)) // trims by retention as it goes
		}
	}()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	<-done
	if !bytes.Equal(sink.Bytes(), want.Bytes()) {
		t.Fatal("the snapshot changed while it was written")
	}
	var first uint64
	f.Read(func(s *State) { first, _ = s.Offsets() })
	if first == 0 {
		t.Fatal("nothing was trimmed meanwhile")
	}
}

// Damaged version 4 snapshots and body sections are refused with errors,
// never a panic or a state built from them.
func TestDetached_DamagedSnapshotsAreRefused(t *testing.T) {
	pol := Policy{MaxConsumeCount: 1, RetentionMs: 1 << 40}
	st := openBodies(t, t.TempDir())
	f := NewDetachedFSM("p", nil, st)
	f.Apply(makeLog(t, 1, &Enqueue{Header: Header{Now: 1, Policy: pol}, Messages: []Message{{Body: []byte(`"a"`), Tag: "t", Key: "k"}, {Body: []byte(`"b"`)}}}))
	lr := f.Apply(makeLog(t, 2, &Lease{Header: Header{Now: 2, Policy: pol}, Group: g1, Max: 1, MaxBytes: 100, AckWaitMs: 10})).(LeaseResult)
	f.Apply(makeLog(t, 3, &Ack{Header: Header{Now: 3, Policy: pol}, Group: g1, Items: []AckItem{failItem(lr.Deliveries[0])}}))
	snap := persist(t, f)
	for n := range len(snap) {
		if _, err := parseSnapshot(snap[:n]); err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes parsed", n, len(snap))
		}
	}
	full := withSection(t, snap, st)
	for i := len(snap); i < len(full); i++ {
		if k := i - len(snap); k >= 4 && k < 12 {
			continue // the source store's id: any value but this store's is as good
		}
		bad := bytes.Clone(full)
		bad[i] ^= 0x5a
		g := NewDetachedFSM("q", nil, openBodies(t, t.TempDir()))
		if err := g.Restore(newRC(bad)); err == nil {
			t.Fatalf("restored with byte %d of the body section damaged", i-len(snap))
		}
	}
	g := NewDetachedFSM("q", nil, openBodies(t, t.TempDir()))
	if err := g.Restore(newRC(full)); err != nil {
		t.Fatal(err)
	}
	if digestOf(g) != digestOf(f) {
		t.Fatal("restored state differs")
	}
}
