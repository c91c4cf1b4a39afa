package fsm

import (
	"bytes"
	"container/heap"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
)

// snapshotMagic and snapshotVersion open every snapshot. A new layout takes
// a new version; ReadFrom refuses versions it does not know.
const (
	snapshotMagic   = "RMQP"
	snapshotVersion = 4
)

// Snapshot layout (version 2; ReadFrom also reads version 1, which lacks
// the fields marked v2, and version 3, which is version 2 followed by the
// transactional and deduplication state: see txn_snapshot.go). Integers are encoding/binary varints (zig-zag
// for signed ones, marked "varint"); "bytes" and "optional bytes" are as in
// Encode. Offsets inside a lane are written as gaps, so that sortedness is
// built in and the bytes are canonical: one state has exactly one encoding.
//
//	"RMQP" 0x01
//	uvarint index, varint now
//	uvarint base, uvarint n, n × message
//	    message: time (varint for the first, uvarint increase after), bytes Body, optional bytes Attributes,
//	             v2: string Tag, string Key, varint DeliverAt, optional bytes Props
//	uvarint groups, groups sorted by id, each:
//	    bytes id, uvarint producedDeadLetters
//	    lane (normal, relative to base)
//	    uvarint marks, each: uvarint gap, uvarint last delivery id, byte expired
//	    uvarint dead-letter base, uvarint n, n × dead letter
//	        dead letter: dead time (as message time), varint produced, uvarint original offset, message fields as above
//	    lane (dead letters, relative to the dead-letter base)
//	lane: uvarint floor-base, uvarint next-floor, uvarint recs, each:
//	    uvarint gap, uvarint id, varint expiresAt, varint firstAt, uvarint deliveries, uvarint failures, byte flags (bit 0 in flight, bit 1 expired,
//	    v2: bit 2 delayed; a delayed rec's due time is its message's DeliverAt; deliveries may be 0 for a rec
//	    never delivered, which is then neither in flight nor expired)
//
// The done offsets of a lane are not written: they are the offsets of
// [floor, next) that have no rec. The ready and expiry heaps are rebuilt from
// the recs; both orders are total, so a restored state behaves exactly as
// the original.

// WriteTo writes the state's snapshot to w: canonical bytes, independent of
// map order and of the history that led to the state. It implements
// io.WriterTo. A detached state writes version 3 (metadata only).
func (s *State) WriteTo(w io.Writer) (int64, error) {
	if s.detached {
		return s.writeV4(w)
	}
	v3 := s.needsV3()
	sw := &snapWriter{w: w, buf: make([]byte, 0, 64<<10), v2: v3 || s.needsV2()}
	sw.buf = append(sw.buf, snapshotMagic...)
	if v3 {
		sw.buf = append(sw.buf, 3)
	} else {
		sw.buf = append(sw.buf, versionByte(sw.v2))
	}
	s.writeBody(sw)
	if v3 {
		sw.txnAndDedup(s)
	}
	sw.flush()
	return sw.n, sw.err
}

func (s *State) writeV4(w io.Writer) (int64, error) {
	return s.view().writeTo(w)
}

// snapView is what a version 3 snapshot needs of a detached state, taken
// cheaply (in time independent of the number of messages, but for the
// groups' own state) so that it can be written while Apply goes on: the
// message log's chunks are shared, not copied. That is safe because a
// detached state's log never changes an entry it holds (pushes go past the
// view's end, and dropped entries are not cleared: see seqLog.shared).
type snapView struct {
	index  uint64
	now    int64
	log    seqLog[entry]
	groups []byte // the groups and the transactional and deduplication state, serialised
	floor  uint64 // bodyFloor
}

// view takes the snapshot view of a detached state.
func (s *State) view() *snapView {
	v := &snapView{index: s.index, now: s.now, log: s.log, floor: s.bodyFloor()}
	v.log.chunks = slices.Clone(s.log.chunks)
	var gb bytes.Buffer
	sw := &snapWriter{w: &gb, buf: make([]byte, 0, 4<<10), v3: true}
	s.writeGroups(sw)
	sw.txnAndDedup(s)
	sw.flush()
	v.groups = gb.Bytes()
	return v
}

// writeTo writes the header of version 4 (the length of what follows it,
// and the range of offsets whose bodies the state refers to), then the body.
func (v *snapView) writeTo(w io.Writer) (int64, error) {
	var body bytes.Buffer
	body.Grow(v.log.len()*6 + len(v.groups) + 64)
	sw := &snapWriter{w: &body, buf: make([]byte, 0, 64<<10), v3: true}
	sw.uvarint(v.index)
	sw.varint(v.now)
	sw.messages(&v.log)
	sw.flush()
	body.Write(v.groups)
	h := SnapshotHeader{MetaLen: int64(body.Len()), BodiesFrom: v.floor, BodiesEnd: v.log.end()}
	n, err := w.Write(h.append(nil))
	if err != nil {
		return int64(n), err
	}
	k, err := body.WriteTo(w)
	return int64(n) + k, err
}

// writeBody writes everything after the magic and version.
func (s *State) writeBody(sw *snapWriter) {
	sw.uvarint(s.index)
	sw.varint(s.now)
	sw.messages(&s.log)
	s.writeGroups(sw)
}

// messages writes the message log: base, count, each message.
func (sw *snapWriter) messages(l *seqLog[entry]) {
	sw.uvarint(l.base)
	sw.uvarint(uint64(l.len()))
	var prevAt int64
	for i := range l.len() {
		e := l.nth(i)
		sw.time(i, e.producedAt, prevAt)
		prevAt = e.producedAt
		sw.message(&e.m)
	}
}

// writeGroups writes the groups, their lanes and dead letters.
func (s *State) writeGroups(sw *snapWriter) {
	var prevAt int64
	sw.uvarint(uint64(len(s.order)))
	for _, id := range s.order {
		g := s.groups[id]
		sw.buf = appendBytes(sw.buf, []byte(id))
		sw.uvarint(uint64(g.producedDL))
		sw.lane(g.normal, s.log.base)
		sw.uvarint(uint64(len(g.dead)))
		prev := s.log.base
		for _, m := range g.dead {
			sw.uvarint(m.off - prev)
			prev = m.off + 1
			sw.uvarint(m.id)
			sw.buf = append(sw.buf, flagByte(m.expired, false))
		}
		sw.uvarint(g.dl.base)
		sw.uvarint(uint64(g.dl.len()))
		prevAt = 0
		for i := range g.dl.len() {
			e := g.dl.nth(i)
			sw.time(i, e.deadAt, prevAt)
			prevAt = e.deadAt
			sw.varint(e.producedAt)
			sw.uvarint(e.orig)
			sw.message(&e.m)
		}
		sw.lane(g.dlLane, g.dl.base)
	}
}

// ReadFrom replaces the state with the snapshot read from r (all of it, up
// to EOF). On error the state is unchanged; malformed bytes give an error
// wrapping ErrCorrupt, and nothing in r can make it panic. It implements
// io.ReaderFrom. The snapshot is read into memory first, so restoring needs
// about twice the snapshot's size for a moment.
func (s *State) ReadFrom(r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	n := int64(len(b))
	if err != nil {
		return n, fmt.Errorf("fsm: read snapshot: %w", err)
	}
	ns, err := parseSnapshot(b)
	if err != nil {
		return n, fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
	}
	ns.readyEvents = s.readyEvents + 1
	ns.rebuildDelays()
	*s = *ns
	return n, nil
}

// Digest is the SHA-256 of the state's snapshot bytes: equal digests mean
// equal states.
func (s *State) Digest() [32]byte {
	h := sha256.New()
	_, _ = s.WriteTo(h) // a hash never fails to write
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// needsV2 reports whether the state holds anything snapshot version 1 cannot
// express; WriteTo writes version 1 otherwise, so that a state without the
// RocketMQ additions keeps the bytes (and digest) it always had.
func (s *State) needsV2() bool {
	for i := range s.log.len() {
		if !s.log.nth(i).m.plain() {
			return true
		}
	}
	for _, id := range s.order {
		g := s.groups[id]
		for i := range g.dl.len() {
			if !g.dl.nth(i).m.plain() {
				return true
			}
		}
		for _, ln := range [...]*lane{g.normal, g.dlLane} {
			for _, r := range ln.recs {
				if r.delayed || r.deliveries == 0 {
					return true
				}
			}
		}
	}
	return false
}

type snapWriter struct {
	v2  bool // write version 2
	v3  bool // write version 4's message metadata only (no bodies)
	w   io.Writer
	buf []byte
	n   int64
	err error
}

func (sw *snapWriter) flush() {
	if sw.err == nil && len(sw.buf) > 0 {
		var k int
		k, sw.err = sw.w.Write(sw.buf)
		sw.n += int64(k)
	}
	sw.buf = sw.buf[:0]
}

func (sw *snapWriter) uvarint(v uint64) { sw.buf = binary.AppendUvarint(sw.buf, v) }
func (sw *snapWriter) varint(v int64)   { sw.buf = binary.AppendVarint(sw.buf, v) }

// time writes the i-th time of a non-decreasing sequence: the first as a
// varint, the others as their increase over the previous one, prev.
func (sw *snapWriter) time(i int, at, prev int64) {
	if i == 0 {
		sw.varint(at)
		return
	}
	// Modular arithmetic gives the true (non-negative) difference.
	sw.uvarint(uint64(at) - uint64(prev))
}

func (sw *snapWriter) message(me *meta) {
	if sw.v3 {
		sw.uvarint(uint64(me.size))
		sw.buf = appendBytes(sw.buf, []byte(me.tag()))
		sw.buf = appendBytes(sw.buf, []byte(me.key()))
		sw.varint(me.deliverAt)
		if len(sw.buf) >= 64<<10 {
			sw.flush()
		}
		return
	}
	m := me.message()
	sw.buf = appendBytes(sw.buf, m.Body)
	sw.buf = appendOptBytes(sw.buf, m.Attributes)
	if sw.v2 {
		sw.buf = appendBytes(sw.buf, []byte(m.Tag))
		sw.buf = appendBytes(sw.buf, []byte(m.Key))
		sw.varint(m.DeliverAt)
		sw.buf = appendOptBytes(sw.buf, m.Props)
	}
	if len(sw.buf) >= 64<<10 {
		sw.flush()
	}
}

func (sw *snapWriter) lane(ln *lane, base uint64) {
	sw.uvarint(ln.floor - base)
	sw.uvarint(ln.next - ln.floor)
	sw.uvarint(uint64(len(ln.recs)))
	// Walk [floor, next) in order: every offset there is a rec or done, so
	// this costs what the lane holds, and no map order leaks out.
	prev := ln.floor
	for o := ln.floor; o < ln.next; o++ {
		r, ok := ln.recs[o]
		if !ok {
			continue
		}
		sw.uvarint(o - prev)
		prev = o + 1
		sw.uvarint(r.id)
		sw.varint(r.expiresAt)
		sw.varint(r.firstAt)
		sw.uvarint(uint64(r.deliveries))
		sw.uvarint(uint64(r.failures))
		f := flagByte(r.inflight, r.expired)
		if r.delayed {
			f |= 4
		}
		sw.buf = append(sw.buf, f)
		if len(sw.buf) >= 64<<10 {
			sw.flush()
		}
	}
}

// parseSnapshot builds a state from snapshot bytes, checking every
// invariant the state's code relies on.
func parseSnapshot(b []byte) (*State, error) {
	if len(b) < len(snapshotMagic)+1 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("bad magic")
	}
	v := b[len(snapshotMagic)]
	if v < 1 || v > snapshotVersion {
		return nil, fmt.Errorf("unknown version %d", v)
	}
	v2 := v >= 2
	r := &decoder{b: b[len(snapshotMagic)+1:]}
	s := NewState()
	var h SnapshotHeader
	if v == 4 {
		var ok bool
		if h, ok = ParseSnapshotHeader(b); !ok || h.MetaLen != int64(len(b)-SnapshotHeaderLen) {
			return nil, fmt.Errorf("bad version 4 header")
		}
		r.b = b[SnapshotHeaderLen:]
		s.setDetached()
	}
	s.index = r.uvarint()
	s.now = r.varint()
	s.log.base = r.uvarint()
	n := r.count(3)
	if r.err == nil && s.log.base > math.MaxUint64-uint64(n) {
		r.fail("log end overflows")
	}
	var prevAt int64
	for i := 0; i < n && r.err == nil; i++ {
		var e entry
		e.producedAt = readTime(r, i, prevAt)
		prevAt = e.producedAt
		e.m = readMeta(r, v)
		s.log.push(e)
	}
	ng := r.count(1)
	var prevID GroupID
	for i := 0; i < ng && r.err == nil; i++ {
		id := GroupID(r.bytes())
		if i > 0 && id <= prevID {
			r.fail("groups not sorted")
			break
		}
		prevID = id
		g := &group{}
		g.producedDL = int64(min(r.uvarint(), math.MaxInt64))
		g.normal = readLane(r, s.log.base, s.log.end(), v2, func(off uint64) int64 { return s.log.at(off).m.deliverAt })
		nm := r.count(3)
		prev := s.log.base
		for j := 0; j < nm && r.err == nil; j++ {
			gap := r.uvarint()
			var m deadMark
			if gap > math.MaxUint64-prev {
				r.fail("dead mark offset overflows")
				break
			}
			m.off = prev + gap
			prev = m.off + 1
			m.id = r.uvarint()
			m.expired, _ = r.flags(false)
			if r.err == nil && (m.off >= g.normal.next || !g.normal.isDone(m.off)) {
				r.fail("dead mark %d is not a done offset", m.off)
			}
			g.dead = append(g.dead, m)
		}
		g.dl.base = r.uvarint()
		nd := r.count(5)
		if r.err == nil && g.dl.base > math.MaxUint64-uint64(nd) {
			r.fail("dead-letter end overflows")
		}
		prevAt = 0
		for j := 0; j < nd && r.err == nil; j++ {
			var e deadEntry
			e.deadAt = readTime(r, j, prevAt)
			prevAt = e.deadAt
			e.producedAt = r.varint()
			e.orig = r.uvarint()
			e.m = readMeta(r, v)
			g.dl.push(e)
		}
		if r.err == nil && g.producedDL < int64(g.dl.len()) {
			r.fail("fewer dead letters produced than retained")
		}
		g.dlLane = readLane(r, g.dl.base, g.dl.end(), v2, nil)
		if r.err == nil {
			s.groups[id] = g
			s.order = append(s.order, id)
		}
	}
	if v >= 3 {
		readTxnAndDedup(r, s)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	switch {
	case r.err != nil:
	case v == 3 && !s.needsV3():
		r.fail("version 3 for a state version 2 can express")
	case v == 2 && !s.needsV2():
		r.fail("version 2 for a state version 1 can express")
	}
	if r.err == nil && v == 4 && (h.BodiesFrom != s.bodyFloor() || h.BodiesEnd != s.log.end()) {
		r.fail("header's body range [%d, %d) is not the state's [%d, %d)", h.BodiesFrom, h.BodiesEnd, s.bodyFloor(), s.log.end())
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// readTime reads what snapWriter.time wrote; last is the previous time.
func readTime(r *decoder, i int, last int64) int64 {
	if i == 0 {
		return r.varint()
	}
	d := r.uvarint()
	// Modular arithmetic gives the true headroom above last.
	if d > uint64(math.MaxInt64)-uint64(last) {
		r.fail("time overflows")
		return 0
	}
	return int64(uint64(last) + d)
}

// readMeta reads a message as snapshot version v wrote it.
func readMeta(r *decoder, v byte) meta {
	if v < 4 {
		return newMeta(readMessage(r, v >= 2), true)
	}
	size := r.uvarint()
	if size > math.MaxUint32 {
		r.fail("message size %d", size)
	}
	me := meta{size: uint32(size)}
	tag, key := r.bytes(), r.bytes()
	me.set(string(tag), string(key), nil)
	me.deliverAt = r.varint()
	return me
}

func readMessage(r *decoder, v2 bool) Message {
	body := r.bytes()
	attrs, ok := r.optBytes()
	own := make([]byte, len(body)+len(attrs))
	copy(own, body)
	copy(own[len(body):], attrs)
	m := Message{Body: own[:len(body):len(body)]}
	if ok {
		m.Attributes = own[len(body):]
	}
	if v2 {
		m.Tag = string(r.bytes())
		m.Key = string(r.bytes())
		m.DeliverAt = r.varint()
		if p, ok := r.optBytes(); ok {
			m.Props = append(make([]byte, 0, len(p)), p...)
		}
	}
	return m
}

// readLane reads a lane over a log whose retained offsets are [base, end).
// due gives a message's DeliverAt; nil for the dead-letter lane, where no rec
// may be delayed.
func readLane(r *decoder, base, end uint64, v2 bool, due func(off uint64) int64) *lane {
	ln := newLane(base)
	df := r.uvarint()
	dn := r.uvarint()
	if r.err != nil {
		return ln
	}
	if df > end-base || dn > end-base-df {
		r.fail("lane cursor [%d+%d, +%d) outside the log [%d, %d)", base, df, dn, base, end)
		return ln
	}
	ln.floor = base + df
	ln.next = ln.floor + dn
	nr := r.count(7)
	if r.err == nil && uint64(nr) > dn {
		r.fail("%d recs in a window of %d", nr, dn)
		return ln
	}
	prev := ln.floor
	for i := 0; i < nr && r.err == nil; i++ {
		gap := r.uvarint()
		if r.err == nil && gap >= ln.next-prev {
			r.fail("rec outside the lane window")
			break
		}
		if i == 0 && gap != 0 {
			r.fail("lane floor is done")
			break
		}
		x := &rec{off: prev + gap}
		prev = x.off + 1
		x.id = r.uvarint()
		x.expiresAt = r.varint()
		x.firstAt = r.varint()
		d, f := r.uvarint(), r.uvarint()
		if r.err == nil && ((d == 0 && !v2) || d > math.MaxUint32 || f > d) {
			r.fail("rec counts %d/%d out of range", d, f)
		}
		x.deliveries, x.failures = uint32(d), uint32(f)
		if v2 {
			fl := r.byte()
			if fl&^7 != 0 {
				r.fail("undefined flag bits %#02x", fl)
			}
			x.inflight, x.expired, x.delayed = fl&1 != 0, fl&2 != 0, fl&4 != 0
		} else {
			x.inflight, x.expired = r.flags(true)
		}
		switch {
		case r.err != nil:
		case x.inflight && x.expired:
			r.fail("rec both in flight and expired")
		case x.delayed && (x.inflight || x.expired || d != 0 || due == nil):
			r.fail("delayed rec that was delivered, or in the dead-letter lane")
		case d == 0 && (x.inflight || x.expired || f != 0 || x.id != 0 || x.expiresAt != 0 || x.firstAt != 0):
			r.fail("rec never delivered but with delivery state")
		}
		if r.err == nil && x.delayed {
			x.dueAt = due(x.off)
		}
		ln.recs[x.off] = x
	}
	if r.err != nil {
		return ln
	}
	if nr == 0 && ln.floor < ln.next {
		r.fail("lane floor is done")
		return ln
	}
	for o := ln.floor; o < ln.next; o++ {
		x, ok := ln.recs[o]
		switch {
		case !ok:
			ln.done[o] = struct{}{}
		case x.inflight:
			ln.expiry = append(ln.expiry, x)
			x.idx = len(ln.expiry) - 1
		case x.delayed:
			ln.delayed = append(ln.delayed, x)
			x.idx = len(ln.delayed) - 1
		default:
			ln.ready = append(ln.ready, x)
			x.idx = len(ln.ready) - 1
		}
	}
	heap.Init(&ln.expiry)
	heap.Init(&ln.ready)
	heap.Init(&ln.delayed)
	ln.recsHigh, ln.doneHigh = len(ln.recs), len(ln.done)
	return ln
}
