package fsm

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
)

// BodyStore keeps a detached FSM's message bodies: one record per message
// offset, the same bytes on every replica (package bodystore implements it).
type BodyStore interface {
	// Append buffers the record of off; an off below the store's end first
	// cuts the store there.
	Append(off uint64, payload []byte) error
	Get(off uint64) ([]byte, error)
	// Sync makes every record appended so far durable.
	Sync() error
	TruncateFrom(off uint64) error
	// Covers reports whether every offset in [lo, hi) is held.
	Covers(lo, hi uint64) bool
	Reset() error
	// ID identifies the open store (see AppendBodySectionHeader).
	ID() uint64
	// Reclaim may delete records below floor.
	Reclaim(floor uint64) (int, error)
}

// NewDetachedFSM returns an FSM whose state keeps message metadata only; the
// bodies go to bodies, keyed by offset.
//
// Apply writes each enqueued message's record (buffered: the Raft log still
// holds the entry). A write that fails keeps that body in the state's memory
// instead, so the replica still serves it and the replicated state (which
// never says where a body is) is unaffected; the store's error is sticky, so
// from then on every body stays in memory and every snapshot fails (Persist
// syncs the store first): the Raft log is not compacted and keeps every
// entry, and a restart, which writes the bodies again from the log, clears
// the condition. The error is logged once.
//
// Snapshot persists metadata only (version 4), after syncing the store, and
// then reclaims the records below the snapshot's BodiesFrom. Restore of a
// version 4 snapshot keeps the store when it already holds every body the
// state needs (a restart), and otherwise replaces it with the snapshot's
// body section (a new or lagging replica). Restore of an older snapshot,
// which holds the bodies, writes them into the store.
func NewDetachedFSM(name string, log *slog.Logger, bodies BodyStore) *FSM {
	f := NewFSM(name, log)
	f.state = NewDetachedState()
	f.bodies = bodies
	return f
}

// storeEnqueued writes the records of the messages c stored: all of them,
// those a deduplicating Enqueue did not find stored already, none of a half
// message's (it stays in the state until committed: see TxnEnd).
func (f *FSM) storeEnqueued(c *Enqueue, r EnqueueResult) {
	switch {
	case c.HalfCheckMs > 0:
	case r.Dedup != nil:
		next := r.FirstOffset
		for i, m := range c.Messages {
			if r.Dedup.Offsets[i] == next {
				f.storeBody(next, m)
				next++
			}
		}
	default:
		for i, m := range c.Messages {
			f.storeBody(r.FirstOffset+uint64(i), m)
		}
	}
}

// storeBody writes the record of off; see NewDetachedFSM for a failure.
func (f *FSM) storeBody(off uint64, m Message) {
	p := EncodeBody(m)
	if err := f.bodies.Append(off, p); err != nil {
		if f.bodyErr == nil {
			f.bodyErr = err
			f.log.Error(f.prefix()+"body store write failed: bodies stay in memory and snapshots fail until restart", "offset", off, "err", err)
		}
		f.state.log.at(off).m.setBlob(p)
	}
}

// FillBodies sets Body, Attributes and Props of every delivery that a
// detached state returned without them, reading the body store (its cache
// holds what was just written and what a draining consumer reads next).
func (f *FSM) FillBodies(ds []Delivery) error {
	for i := range ds {
		d := &ds[i]
		if d.Message.Body != nil || f.bodies == nil {
			continue
		}
		p, err := f.bodies.Get(d.OriginalOffset)
		if err != nil {
			return fmt.Errorf("%sbody of offset %d: %w", f.prefix(), d.OriginalOffset, err)
		}
		if err := DecodeBody(p, &d.Message); err != nil {
			return fmt.Errorf("%sbody of offset %d: %w", f.prefix(), d.OriginalOffset, err)
		}
	}
	return nil
}

// readSnapshot reads a snapshot for Restore: the state, and with a body
// store, its bodies (see NewDetachedFSM).
func (f *FSM) readSnapshot(rc io.Reader) (*State, error) {
	br := bufio.NewReaderSize(rc, 64<<10)
	peek, _ := br.Peek(SnapshotHeaderLen)
	h, v4 := ParseSnapshotHeader(peek)
	if !v4 {
		s := NewState()
		if _, err := s.ReadFrom(br); err != nil {
			return nil, err
		}
		if f.bodies != nil {
			if err := f.detach(s); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	if f.bodies == nil {
		return nil, fmt.Errorf("%w: a snapshot without bodies needs a body store", ErrCorrupt)
	}
	b, err := io.ReadAll(io.LimitReader(br, SnapshotHeaderLen+h.MetaLen))
	if err != nil {
		return nil, fmt.Errorf("fsm: read snapshot: %w", err)
	}
	s, err := parseSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
	}
	if err := f.restoreBodies(s, h, br); err != nil {
		return nil, err
	}
	return s, nil
}

// restoreBodies makes the store hold the bodies s needs: as it is when it
// already does (the records beyond s are cut: replaying the log writes them
// again), else from the snapshot's body section in r.
func (f *FSM) restoreBodies(s *State, h SnapshotHeader, r io.Reader) error {
	if f.holds(s) {
		return f.bodies.TruncateFrom(h.BodiesEnd)
	}
	source, count, err := readSectionHeader(r)
	if err != nil {
		return fmt.Errorf("fsm: snapshot bodies: %w", err)
	}
	if source == f.bodies.ID() {
		return fmt.Errorf("%w: the body store lacks bodies the snapshot refers to", ErrCorrupt)
	}
	if err := f.bodies.Reset(); err != nil {
		return err
	}
	if err := readBodySection(r, count, h.BodiesFrom, h.BodiesEnd, f.bodies.Append); err != nil {
		return fmt.Errorf("fsm: snapshot bodies: %w", err)
	}
	if !f.holds(s) {
		return fmt.Errorf("%w: the snapshot's body section lacks bodies the state needs", ErrCorrupt)
	}
	return f.bodies.Sync()
}

// holds reports whether the store holds every body s may deliver.
func (f *FSM) holds(s *State) bool {
	ok := f.bodies.Covers(s.log.base, s.log.end())
	for _, id := range s.order {
		g := s.groups[id]
		for i := 0; ok && i < g.dl.len(); i++ {
			if o := g.dl.nth(i).orig; o < s.log.base {
				ok = f.bodies.Covers(o, o+1)
			}
		}
	}
	return ok
}

// detach moves the bodies of s, restored from a snapshot that holds them,
// into the store, and makes s detached.
func (f *FSM) detach(s *State) error {
	if err := f.bodies.Reset(); err != nil {
		return err
	}
	var err error
	s.needsBody(func(off uint64, blob []byte) bool {
		err = f.bodies.Append(off, blob)
		return err == nil
	})
	if err == nil {
		err = f.bodies.Sync()
	}
	if err != nil {
		return fmt.Errorf("%swrite the bodies of an older snapshot: %w", f.prefix(), err)
	}
	for i := range s.log.len() {
		s.log.nth(i).m.setBlob(nil)
	}
	for _, id := range s.order {
		g := s.groups[id]
		for i := range g.dl.len() {
			g.dl.nth(i).m.setBlob(nil)
		}
	}
	s.setDetached()
	return nil
}
