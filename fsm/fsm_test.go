package fsm

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// makeLog wraps an encoded command as a committed raft entry.
func makeLog(t *testing.T, index uint64, c Command) *raft.Log {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: b}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestFSM_ApplyDecodesAndDelegates(t *testing.T) {
	f := NewFSM("p-1", nil)
	res := f.Apply(makeLog(t, 1, &Enqueue{Header: Header{Now: 10}, Messages: []Message{{Body: []byte("a")}}}))
	if res != any(EnqueueResult{FirstOffset: 0, Count: 1}) {
		t.Fatalf("enqueue result %#v", res)
	}
	res = f.Apply(makeLog(t, 2, &Lease{Header: Header{Now: 11}, Group: g1, Max: 1, MaxBytes: 10, AckWaitMs: 5}))
	lr, ok := res.(LeaseResult)
	if !ok || len(lr.Deliveries) != 1 || lr.Deliveries[0].DeliveryID != 2 || lr.Deliveries[0].ExpiresAt != 16 {
		t.Fatalf("lease result %#v", res)
	}
	if f.AppliedIndex() != 2 {
		t.Fatalf("AppliedIndex %d", f.AppliedIndex())
	}
	f.Read(func(s *State) {
		if s.Produced() != 1 || s.Now() != 11 || s.Index() != 2 {
			t.Fatalf("state produced %d now %d index %d", s.Produced(), s.Now(), s.Index())
		}
	})
}

func TestFSM_SkipsEntriesThatAreNotCommands(t *testing.T) {
	f := NewFSM("", nil)
	for i, l := range []*raft.Log{
		{Index: 3, Type: raft.LogConfiguration, Data: []byte{0xff}},
		{Index: 4, Type: raft.LogNoop},
		{Index: 5, Type: raft.LogCommand, Data: []byte{0x89, 0x01, 0x02}}, // unknown, ignorable
	} {
		if res := f.Apply(l); res != nil {
			t.Fatalf("entry %d: result %#v, want nil", i, res)
		}
	}
	if f.AppliedIndex() != 5 {
		t.Fatalf("AppliedIndex %d, want 5", f.AppliedIndex())
	}
	f.Read(func(s *State) {
		if s.Index() != 0 || len(s.Groups()) != 0 {
			t.Fatal("state changed")
		}
	})
}

// TestFSM_CorruptEntryIsLoggedNoOp applies entries that do not decode: each
// is a no-op with an error logged naming the entry, never a panic (a panic
// would recur at every restart, when the log is replayed).
func TestFSM_CorruptEntryIsLoggedNoOp(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"p-7", "fsm: p-7: index 9: "},
		{"", "fsm: index 9: "},
	} {
		t.Run(tt.want, func(t *testing.T) {
			var logged bytes.Buffer
			f := NewFSM(tt.name, slog.New(slog.NewTextHandler(&logged, nil)))
			res := f.ApplyBatch([]*raft.Log{
				{Index: 9, Type: raft.LogCommand, Data: []byte{byte(TypeEnqueue), 1, 0x80}},
				{Index: 10, Type: raft.LogCommand, Data: []byte(`{"op":"create_queue"}`)},
			})
			if res[0] != nil || res[1] != nil {
				t.Fatalf("results %#v, want nil", res)
			}
			if !strings.Contains(logged.String(), tt.want) || !strings.Contains(logged.String(), ErrCorrupt.Error()) {
				t.Fatalf("log %q, want %q and %q", logged.String(), tt.want, ErrCorrupt)
			}
			if f.AppliedIndex() != 10 {
				t.Fatalf("AppliedIndex %d, want 10", f.AppliedIndex())
			}
			f.Read(func(s *State) {
				if s.Produced() != 0 {
					t.Fatal("state changed")
				}
			})
		})
	}
}

func TestFSM_ChangedSignalsWhenMessagesMayBeReady(t *testing.T) {
	f := NewFSM("p-1", nil)
	hdr := func(now int64) Header { return Header{Now: now, Policy: Policy{MaxConsumeCount: 5}} }
	steps := []struct {
		name string
		cmd  Command
		want bool
	}{
		{"empty lease", &Lease{Header: hdr(1), Group: g1, Max: 1, MaxBytes: 10, AckWaitMs: 100}, false},
		{"empty enqueue", &Enqueue{Header: hdr(1)}, false},
		{"enqueue", &Enqueue{Header: hdr(1), Messages: []Message{{Body: []byte("a")}, {Body: []byte("b")}}}, true},
		{"lease", &Lease{Header: hdr(2), Group: g1, Max: 2, MaxBytes: 10, AckWaitMs: 100}, false}, // ids 4
		{"success ack", &Ack{Header: hdr(3), Group: g1, Items: []AckItem{{Offset: 0, DeliveryID: 4, Success: true}}}, false},
		{"failed ack of nothing live", &Ack{Header: hdr(3), Group: g1, Items: []AckItem{{Offset: 0, DeliveryID: 4}}}, false},
		{"fail ack releases", &Ack{Header: hdr(3), Group: g1, Items: []AckItem{{Offset: 1, DeliveryID: 4}}}, true},
		{"lease again", &Lease{Header: hdr(4), Group: g1, Max: 2, MaxBytes: 10, AckWaitMs: 100}, false},
		{"tick, nothing expired", &Tick{Header: hdr(50)}, false},
		{"tick expires", &Tick{Header: hdr(104)}, true},
		{"forget", &Forget{Header: hdr(105), Group: g1}, false},
	}
	for i, st := range steps {
		ch := f.Changed()
		f.Apply(makeLog(t, uint64(i+1), st.cmd))
		if got := closed(ch); got != st.want {
			t.Fatalf("%s: Changed closed = %v, want %v", st.name, got, st.want)
		}
		if st.want && closed(f.Changed()) {
			t.Fatalf("%s: the new channel is already closed", st.name)
		}
	}
	ch := f.Changed()
	var buf bytes.Buffer
	if _, err := NewState().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := f.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if !closed(ch) {
		t.Fatal("Restore did not signal Changed")
	}
}

func TestFSM_ChangedSignalsFIFOAck(t *testing.T) {
	f := NewFSM("p-1", nil)
	hdr := Header{Now: 1, Policy: Policy{FIFO: true}}
	f.Apply(makeLog(t, 1, &Enqueue{Header: hdr, Messages: []Message{{Body: []byte("a")}, {Body: []byte("b")}}}))
	f.Apply(makeLog(t, 2, &Lease{Header: hdr, Group: g1, Max: 1, MaxBytes: 10, AckWaitMs: 100}))
	ch := f.Changed()
	f.Apply(makeLog(t, 3, &Ack{Header: hdr, Group: g1, Items: []AckItem{{Offset: 0, DeliveryID: 2, Success: true}}}))
	if !closed(ch) {
		t.Fatal("acking the head of a FIFO queue did not signal Changed")
	}
	var ready bool
	f.Read(func(s *State) { ready = s.HasReady(g1, false, hdr.Policy) })
	if !ready {
		t.Fatal("nothing ready after the head was acked")
	}
}

func TestFSM_ApplyBatchSignalsOnce(t *testing.T) {
	f := NewFSM("p-1", nil)
	ch := f.Changed()
	res := f.ApplyBatch([]*raft.Log{
		makeLog(t, 1, &Enqueue{Header: Header{Now: 1}, Messages: []Message{{Body: []byte("a")}}}),
		{Index: 2, Type: raft.LogConfiguration},
		makeLog(t, 3, &Lease{Header: Header{Now: 2}, Group: g1, Max: 1, MaxBytes: 10, AckWaitMs: 100}),
	})
	if len(res) != 3 || res[0] != any(EnqueueResult{Count: 1}) || res[1] != nil || len(res[2].(LeaseResult).Deliveries) != 1 {
		t.Fatalf("results %#v", res)
	}
	if !closed(ch) || closed(f.Changed()) {
		t.Fatal("batch did not signal exactly once")
	}
	if f.AppliedIndex() != 3 {
		t.Fatalf("AppliedIndex %d", f.AppliedIndex())
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	failWrite         bool
	closed, cancelled bool
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.failWrite {
		return 0, errors.New("disk full")
	}
	return s.Buffer.Write(p)
}
func (s *memSink) ID() string        { return "mem" }
func (s *memSink) Close() error      { s.closed = true; return nil }
func (s *memSink) Cancel() error     { s.cancelled = true; return nil }
func (s *memSink) Reader() io.Reader { return bytes.NewReader(s.Bytes()) }

func TestFSM_SnapshotAndRestore(t *testing.T) {
	f := NewFSM("p-1", nil)
	pol := Policy{MaxConsumeCount: 1, RetentionMs: 100000}
	f.Apply(makeLog(t, 1, &Enqueue{Header: Header{Now: 10, Policy: pol}, Messages: []Message{{Body: []byte("a")}, {Body: []byte("b"), Attributes: []byte("{}")}}}))
	f.Apply(makeLog(t, 2, &Lease{Header: Header{Now: 11, Policy: pol}, Group: g1, Max: 2, MaxBytes: 10, AckWaitMs: 100}))
	f.Apply(makeLog(t, 3, &Ack{Header: Header{Now: 12, Policy: pol}, Group: g1, Items: []AckItem{{Offset: 1, DeliveryID: 2}}}))
	f.Apply(&raft.Log{Index: 4, Type: raft.LogConfiguration})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var want [32]byte
	f.Read(func(s *State) { want = s.Digest() })
	// Apply continues while the snapshot is persisted; the snapshot keeps
	// the state it was taken at.
	f.Apply(makeLog(t, 5, &Enqueue{Header: Header{Now: 13, Policy: pol}, Messages: []Message{{Body: []byte("c")}}}))
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed {
		t.Fatalf("Persist: %v, closed %v", err, sink.closed)
	}
	snap.Release()

	g := NewFSM("p-1", nil)
	if err := g.Restore(io.NopCloser(sink.Reader())); err != nil {
		t.Fatal(err)
	}
	var got [32]byte
	var stats GroupStats
	g.Read(func(s *State) { got, stats = s.Digest(), s.Stats(g1) })
	if got != want {
		t.Fatal("restored state differs")
	}
	if stats != (GroupStats{Produced: 2, Available: 1, ProducedDeadLetters: 1, AvailableDeadLetters: 1}) {
		t.Fatalf("restored stats %+v", stats)
	}
	if g.AppliedIndex() != 3 {
		t.Fatalf("AppliedIndex after restore %d, want 3 (the last command)", g.AppliedIndex())
	}
	// The restored replica carries on exactly as the original would have.
	l := makeLog(t, 5, &Enqueue{Header: Header{Now: 13, Policy: pol}, Messages: []Message{{Body: []byte("c")}}})
	g.Apply(l)
	var a, b [32]byte
	f.Read(func(s *State) { a = s.Digest() })
	g.Read(func(s *State) { b = s.Digest() })
	if a != b {
		t.Fatal("restored replica diverged")
	}

	// A bad snapshot is refused and changes nothing.
	if err := g.Restore(io.NopCloser(strings.NewReader("RMQP\x01garbage"))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Restore(garbage) = %v, want ErrCorrupt", err)
	}
	g.Read(func(s *State) { b = s.Digest() })
	if a != b {
		t.Fatal("failed restore changed the state")
	}
}

func TestFSM_PersistFailureCancels(t *testing.T) {
	f := NewFSM("p-1", nil)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{failWrite: true}
	if err := snap.Persist(sink); err == nil || !sink.cancelled || sink.closed {
		t.Fatalf("Persist: %v, cancelled %v, closed %v", err, sink.cancelled, sink.closed)
	}
}
