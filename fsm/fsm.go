package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"
)

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
	_ raft.FSMSnapshot = (*fsmSnapshot)(nil)
)

// FSM adapts a State to hashicorp/raft (raft.FSM and raft.BatchingFSM): it
// decodes log entries, applies them under a lock, and tells waiters when
// messages may have become ready.
//
// Raft calls Apply, ApplyBatch, Snapshot and Restore from one goroutine; Read,
// Changed and AppliedIndex may be called from any goroutine at any time.
type FSM struct {
	name string // for messages only, e.g. the partition id
	log  *slog.Logger

	mu      sync.RWMutex
	state   *State
	applied uint64
	changed chan struct{}

	bodies  BodyStore // nil: bodies live in the state
	bodyErr error     // the body store's first write error
}

// NewFSM returns an FSM over an empty State. name (e.g. the partition id) only
// appears in log lines and panic messages; log may be nil.
func NewFSM(name string, log *slog.Logger) *FSM {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FSM{name: name, log: log, state: NewState(), changed: make(chan struct{})}
}

// Apply applies one committed entry and returns the command's Result (a
// value such as LeaseResult, as any), or nil for an entry that is not a
// command or carries an unknown ignorable command.
//
// An entry that does not decode is applied as a no-op (nil result) with an
// error logged ("fsm: [name: ]index N: ..."). Decode is deterministic, so
// every replica skips the same entry and they stay in agreement; a panic
// would instead stop every replica, and again at every restart, since the
// entry is replayed from the log. (A log entry damaged on one disk is caught
// before it reaches Apply, by partition's checksums.)
func (f *FSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	before := f.state.readyEvents
	res := f.apply(l)
	f.signalLocked(before)
	f.mu.Unlock()
	return res
}

// ApplyBatch applies entries in order under one lock acquisition; its
// results are exactly those of Apply called on each entry in turn.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	before := f.state.readyEvents
	for i, l := range logs {
		out[i] = f.apply(l)
	}
	f.signalLocked(before)
	f.mu.Unlock()
	return out
}

func (f *FSM) apply(l *raft.Log) any {
	f.applied = max(f.applied, l.Index)
	if l.Type != raft.LogCommand {
		return nil
	}
	c, err := Decode(l.Data)
	if errors.Is(err, ErrIgnorable) {
		f.log.Warn("fsm: skipping unknown ignorable command", "fsm", f.name, "index", l.Index, "type", fmt.Sprintf("%#02x", l.Data[0]))
		return nil
	}
	if err != nil {
		f.log.Error(f.where(l.Index)+"entry applied as a no-op", "err", err)
		return nil
	}
	if f.bodies == nil {
		return f.state.Apply(l.Index, c)
	}
	// A committed half message joins the log: its body goes to the store
	// then, read from the state before the commit removes it.
	var committed Message
	commits := false
	if end, ok := c.(*TxnEnd); ok && end.Commit {
		committed, commits = f.state.halfMessage(end.HalfID, end.Gen)
	}
	res := f.state.Apply(l.Index, c)
	switch c := c.(type) {
	case *Enqueue:
		f.storeEnqueued(c, res.(EnqueueResult))
	case *TxnEnd:
		if r := res.(TxnEndResult); commits && r.OK {
			f.storeBody(r.Offset, committed)
		}
	}
	return res
}

// prefix starts every error message: "fsm: " and the name, if any.
func (f *FSM) prefix() string {
	if f.name == "" {
		return "fsm: "
	}
	return "fsm: " + f.name + ": "
}

func (f *FSM) where(index uint64) string {
	return fmt.Sprintf("%sindex %d: ", f.prefix(), index)
}

// signalLocked wakes Changed waiters if the state recorded an event that may
// have made messages ready since before.
func (f *FSM) signalLocked(before uint64) {
	if f.state.readyEvents != before {
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

// Read calls fn with the state under a read lock. fn must not keep the state
// (or slices from it that it might modify) beyond the call, nor modify it.
func (f *FSM) Read(fn func(s *State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Changed returns a channel that is closed after an applied entry (or
// restore) that may have made messages ready: an Enqueue, an Ack that
// released deliveries (or, in a FIFO queue, acknowledged some), an expiry, a
// dead-lettering. Take the channel before
// checking the state, then wait on it: no change between the two is missed.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

// Digest returns AppliedIndex and the state's Digest, read together.
func (f *FSM) Digest() (uint64, [32]byte) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied, f.state.Digest()
}

// AppliedIndex is the index of the last entry applied (command or not), or
// the state's index after a restore.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// Snapshot serialises the state into memory under the read lock, so that
// Apply may run while raft persists it. A detached state's snapshot holds
// metadata only.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.state.detached {
		// Only the groups are serialised here; the messages are written by
		// Persist, while Apply goes on.
		v := f.state.view()
		return &fsmSnapshot{view: v, bodies: f.bodies, floor: v.floor, log: f.log}, nil
	}
	var buf bytes.Buffer
	if _, err := f.state.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("%ssnapshot: %w", f.where(f.applied), err)
	}
	return &fsmSnapshot{data: buf.Bytes(), bodies: f.bodies, log: f.log}, nil
}

// Restore replaces the state with a snapshot written by Snapshot. On error
// the state is unchanged.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := f.readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("%srestore: %w", f.prefix(), err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s.readyEvents = f.state.readyEvents
	f.state = s
	f.applied = s.index
	close(f.changed)
	f.changed = make(chan struct{})
	return nil
}

type fsmSnapshot struct {
	data   []byte    // the serialised state, or
	view   *snapView // a detached state's view, serialised by Persist
	bodies BodyStore // nil when the state holds the bodies
	floor  uint64    // the lowest offset whose body the snapshot refers to
	log    *slog.Logger
}

// Persist writes the serialised state to sink. With a body store, it first
// makes every body the snapshot refers to durable (the log entries that
// carried them may be compacted once the snapshot is persisted), and after
// it reclaims the records no longer needed.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if s.bodies != nil {
		if err := s.bodies.Sync(); err != nil {
			_ = sink.Cancel()
			return fmt.Errorf("fsm: persist snapshot: sync bodies: %w", err)
		}
	}
	var err error
	if s.view != nil {
		_, err = s.view.writeTo(sink)
	} else {
		_, err = sink.Write(s.data)
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return err
	}
	if s.bodies != nil {
		if _, err := s.bodies.Reclaim(s.floor); err != nil {
			s.log.Warn("fsm: reclaim bodies", "err", err)
		}
	}
	return nil
}

// Release does nothing: the bytes are garbage once raft drops the snapshot.
func (s *fsmSnapshot) Release() {}
