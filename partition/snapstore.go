package partition

import (
	"bytes"
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"raftmq/bodystore"
	"raftmq/fsm"
)

// bodySnapshots is a replica's snapshot store. The snapshot files hold the
// partition's metadata only (fsm writes version 4 for a detached state);
// Open follows such a file with a body section that carries every body the
// snapshot refers to, read from the body store as the reader reaches it. So
// a snapshot sent to another replica carries the bodies, while a local
// restore, which finds its bodies already in the store, stops reading after
// the metadata and costs no body read. A file that already holds its section
// (a snapshot received from the leader) or an older snapshot with bodies
// inside is opened as it is.
type bodySnapshots struct {
	raft.SnapshotStore
	bodies *bodystore.Store
}

func (s *bodySnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.SnapshotStore.Open(id)
	if err != nil {
		return nil, nil, err
	}
	hdr := make([]byte, fsm.SnapshotHeaderLen)
	n, err := io.ReadFull(rc, hdr)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		rc.Close()
		return nil, nil, fmt.Errorf("partition: open snapshot %s: %w", id, err)
	}
	head := io.MultiReader(bytes.NewReader(hdr[:n]), rc)
	h, v4 := fsm.ParseSnapshotHeader(hdr[:n])
	if !v4 || meta.Size != fsm.SnapshotHeaderLen+h.MetaLen {
		return meta, &readCloser{Reader: head, close: rc.Close}, nil
	}
	unpin := s.bodies.Pin(h.BodiesFrom)
	count, payload := s.bodies.Held(h.BodiesFrom, h.BodiesEnd)
	sec := &sectionReader{bodies: s.bodies, next: h.BodiesFrom, end: h.BodiesEnd, count: count}
	m := *meta
	m.Size += fsm.BodySectionSize(count, payload)
	return &m, &readCloser{Reader: io.MultiReader(head, sec), close: func() error {
		unpin()
		return rc.Close()
	}}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// sectionReader produces a body section (fsm.AppendBodySectionHeader, then
// fsm.AppendBodyRecord for each record held in [next, end)) on demand.
type sectionReader struct {
	bodies     *bodystore.Store
	next, end  uint64
	count      int // records announced in the section's header
	sent       int
	headerDone bool
	buf        []byte
}

func (r *sectionReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if !r.headerDone {
			r.buf = fsm.AppendBodySectionHeader(r.buf[:0], r.bodies.ID(), r.count)
			r.headerDone = true
			break
		}
		off, ok := r.bodies.Next(r.next, r.end)
		if !ok || r.sent == r.count {
			if ok || r.sent != r.count {
				return 0, fmt.Errorf("partition: snapshot bodies changed while being sent (%d of %d records)", r.sent, r.count)
			}
			return 0, io.EOF
		}
		// Uncached: a snapshot reads the whole backlog once, which
		// would push out what consumers are about to read.
		payload, err := r.bodies.GetUncached(off)
		if err != nil {
			return 0, fmt.Errorf("partition: snapshot body %d: %w", off, err)
		}
		r.buf = fsm.AppendBodyRecord(r.buf[:0], off, payload)
		r.next = off + 1
		r.sent++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
