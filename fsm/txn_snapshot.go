package fsm

import "math"

// Snapshot versions 3 and 4 append, after the groups:
//
//	uvarint half messages ever published
//	uvarint n, n × half: uvarint seq gap (from 0, then from the previous seq + 1), uvarint gen,
//	    varint produced, varint checkMs (> 0), varint checkAt, message fields (as version 2)
//	uvarint n, n × alias: uvarint offset gap (from the log's base, then from the previous offset + 1), uvarint HalfID
//	uvarint n, n × deduplication id, oldest first: bytes id, time (as message time), uvarint offset
//
// WriteTo writes version 3 only when a half message was ever published or a
// deduplication id is remembered, so that other states keep their bytes;
// version 4 (a detached state's, metadata only) always has it. Half messages
// are written whole in both: their bodies are not in the body store.

// needsV3 reports whether the state holds anything version 2 cannot express.
func (s *State) needsV3() bool {
	return !s.txn.empty() || s.dedup.len() > 0
}

func (sw *snapWriter) txnAndDedup(s *State) {
	t := &s.txn
	sw.uvarint(t.nextSeq)
	sw.uvarint(uint64(len(t.halves)))
	var prev uint64
	for _, h := range t.halves {
		sw.uvarint(h.seq - prev)
		prev = h.seq + 1
		sw.uvarint(h.gen)
		sw.varint(h.producedAt)
		sw.varint(h.checkMs)
		sw.varint(h.checkAt)
		sw.fullMessage(h.msg)
	}
	sw.uvarint(uint64(len(t.aliases)))
	prev = s.log.base
	for _, a := range t.aliases {
		sw.uvarint(a.off - prev)
		prev = a.off + 1
		sw.uvarint(a.halfID)
	}
	sw.uvarint(uint64(s.dedup.len()))
	var prevAt int64
	for i, d := range s.dedup.order {
		sw.buf = appendBytes(sw.buf, []byte(d.id))
		sw.time(i, d.at, prevAt)
		prevAt = d.at
		sw.uvarint(d.off)
		if len(sw.buf) >= 64<<10 {
			sw.flush()
		}
	}
}

// readTxnAndDedup reads what txnAndDedup wrote into s, whose message log is
// already read.
func readTxnAndDedup(r *decoder, s *State) {
	t := &s.txn
	t.nextSeq = r.uvarint()
	if r.err == nil && t.nextSeq > math.MaxUint64-HalfIDBase {
		r.fail("half message count overflows")
	}
	n := r.count(6)
	var next uint64
	for i := 0; i < n && r.err == nil; i++ {
		h := &half{}
		gap := r.uvarint()
		if r.err == nil && (gap >= t.nextSeq || next > t.nextSeq-1-gap) {
			r.fail("half message seq out of range")
			return
		}
		h.seq = next + gap
		next = h.seq + 1
		h.gen = r.uvarint()
		h.producedAt = r.varint()
		h.checkMs = r.varint()
		h.checkAt = r.varint()
		h.msg = readMessage(r, true)
		switch {
		case r.err != nil:
		case h.checkMs <= 0:
			r.fail("half message without a check time")
		case len(t.halves) > 0 && h.producedAt < t.halves[len(t.halves)-1].producedAt:
			r.fail("half messages out of publish order")
		}
		t.halves = append(t.halves, h)
	}
	readAliases(r, s)
	readDedup(r, s)
}

func readAliases(r *decoder, s *State) {
	t := &s.txn
	n := r.count(2)
	prev := s.log.base
	for i := 0; i < n && r.err == nil; i++ {
		gap := r.uvarint()
		id := r.uvarint()
		if r.err != nil {
			return
		}
		end := s.log.end()
		if gap >= end-prev || id < HalfIDBase || id-HalfIDBase >= t.nextSeq {
			r.fail("alias out of range")
			return
		}
		a := alias{off: prev + gap, halfID: id}
		prev = a.off + 1
		t.aliases = append(t.aliases, a)
	}
}

func readDedup(r *decoder, s *State) {
	n := r.count(3)
	if r.err == nil && n > MaxDedupIDs {
		r.fail("%d deduplication ids, more than %d", n, MaxDedupIDs)
		return
	}
	var prevAt int64
	for i := 0; i < n && r.err == nil; i++ {
		id := string(r.bytes())
		at := readTime(r, i, prevAt)
		prevAt = at
		off := r.uvarint()
		if r.err != nil {
			return
		}
		if _, dup := s.dedup.byID[id]; dup || id == "" {
			r.fail("deduplication id repeated or empty")
			return
		}
		s.dedup.remember(id, at, off)
	}
}

// fullMessage writes m with every field (as version 2 does), whatever the
// writer's version: half messages keep their bodies in the state.
func (sw *snapWriter) fullMessage(m Message) {
	sw.buf = appendBytes(sw.buf, m.Body)
	sw.buf = appendOptBytes(sw.buf, m.Attributes)
	sw.buf = appendBytes(sw.buf, []byte(m.Tag))
	sw.buf = appendBytes(sw.buf, []byte(m.Key))
	sw.varint(m.DeliverAt)
	sw.buf = appendOptBytes(sw.buf, m.Props)
	if len(sw.buf) >= 64<<10 {
		sw.flush()
	}
}
