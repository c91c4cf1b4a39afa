package fsm

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"fmt"
	"slices"
)

// This file holds the commands that came after the first five: Redrive
// (type 10) moves a group's dead letters back to its normal lane, Extend
// (type 11) lengthens live leases without changing their delivery ids.

const (
	TypeRedrive Type = 10 // move a group's available dead letters back to its normal lane
	TypeExtend  Type = 11 // give live deliveries a new lease end, keeping their ids
)

// Redrive moves up to Max of Group's available dead letters (oldest first;
// Max 0 = all) back to the group's normal lane. A dead letter that is
// leased right now stays where it is, and so does one whose original
// message has left the partition's log by retention: it could not be
// delivered from the normal lane. A redriven message is ready at once in
// the normal lane at its original offset, with its delivery and failure
// counts reset to 0; its dead letter is done. Nothing changes for other
// groups, and the group's count of dead-letterings ever does not go down.
type Redrive struct {
	Header
	Group GroupID
	Max   int // 0 = every available dead letter
}

// ExtendItem names one delivery and its new lease length.
type ExtendItem struct {
	Offset     uint64 // message offset (dead-letter sequence with Extend.DeadLetter)
	DeliveryID uint64
	AckWaitMs  int64 // the lease ends AckWaitMs after the command's clock
}

// Extend gives each named live delivery of Group a new lease end, the
// command's clock plus its AckWaitMs, and keeps its delivery id, so that
// the handler that names it stays valid. Each item is judged on its own,
// with the reasons of an ack (expired, already acked, superseded).
type Extend struct {
	Header
	Group      GroupID
	DeadLetter bool
	Items      []ExtendItem
}

// RedriveResult says how many dead letters went back to the normal lane.
type RedriveResult struct {
	Redriven int
}

// ExtendResult has one reason per item, ReasonNone for an extended lease.
type ExtendResult struct {
	Reasons []Reason
}

func (RedriveResult) isResult() {}
func (ExtendResult) isResult()  {}

func (*Redrive) Type() Type     { return TypeRedrive }
func (*Extend) Type() Type      { return TypeExtend }
func (c *Redrive) Hdr() *Header { return &c.Header }
func (c *Extend) Hdr() *Header  { return &c.Header }

var (
	_ Command = (*Redrive)(nil)
	_ Command = (*Extend)(nil)
)

// appendLater encodes the commands of this file (version 1):
//
//	Redrive:  header, string Group, uvarint Max
//	Extend:   header, string Group, byte flags (bit 0: DeadLetter), uvarint n, n × (uvarint Offset, uvarint DeliveryID, varint AckWaitMs)
//
// ok is false for any other command.
func appendLater(b []byte, c Command) (out []byte, ok bool, err error) {
	switch c := c.(type) {
	case *Redrive:
		if c == nil {
			return nil, false, nil
		}
		if c.Max < 0 {
			return nil, true, fmt.Errorf("%w: redrive: negative max %d", ErrInvalidCommand, c.Max)
		}
		b = append(b, byte(TypeRedrive), encodingVersion)
		b = appendHeader(b, &c.Header)
		b = appendBytes(b, []byte(c.Group))
		return binary.AppendUvarint(b, uint64(c.Max)), true, nil
	case *Extend:
		if c == nil {
			return nil, false, nil
		}
		b = append(b, byte(TypeExtend), encodingVersion)
		b = appendHeader(b, &c.Header)
		b = appendBytes(b, []byte(c.Group))
		b = append(b, flagByte(c.DeadLetter, false))
		b = binary.AppendUvarint(b, uint64(len(c.Items)))
		for _, it := range c.Items {
			b = binary.AppendUvarint(b, it.Offset)
			b = binary.AppendUvarint(b, it.DeliveryID)
			b = binary.AppendVarint(b, it.AckWaitMs)
		}
		return b, true, nil
	}
	return nil, false, nil
}

// decodeLater decodes the body of a command of this file; r is past the
// type and version bytes, which Decode has checked.
func decodeLater(t Type, r *decoder) Command {
	switch t {
	case TypeRedrive:
		c := &Redrive{}
		r.header(&c.Header)
		c.Group = GroupID(r.bytes())
		c.Max = r.int()
		return c
	default: // TypeExtend
		c := &Extend{}
		r.header(&c.Header)
		c.Group = GroupID(r.bytes())
		c.DeadLetter, _ = r.flags(false)
		n := r.count(3)
		if n > 0 {
			c.Items = make([]ExtendItem, 0, n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			var it ExtendItem
			it.Offset = r.uvarint()
			it.DeliveryID = r.uvarint()
			it.AckWaitMs = r.varint()
			c.Items = append(c.Items, it)
		}
		return c
	}
}

// redrive applies c; see Redrive. The walk visits the dead-letter lane from
// its floor, so its cost is bounded by the group's retained dead letters.
func (s *State) redrive(c *Redrive) RedriveResult {
	g, ok := s.groups[c.Group]
	if !ok {
		return RedriveResult{}
	}
	dl := g.dlLane
	n := 0
	for o := dl.floor; o < g.dl.end() && (c.Max == 0 || n < c.Max); o++ {
		var r *rec
		if o < dl.next {
			if dl.isDone(o) {
				continue
			}
			if r = dl.recs[o]; r.inflight {
				continue
			}
		} else {
			// Never leased from the dead-letter lane: it becomes a rec
			// that was never delivered, ready there unless redriven.
			r = dl.fresh()
			dl.makeReady(r, false)
		}
		orig := g.dl.at(o).orig
		i, found := slices.BinarySearchFunc(g.dead, orig, func(m deadMark, off uint64) int { return cmp.Compare(m.off, off) })
		if orig < s.log.base || !found {
			continue // the message left the log by retention
		}
		dl.settle(r)
		g.dead = slices.Delete(g.dead, i, i+1)
		g.normal.reopen(orig)
		n++
	}
	if n > 0 {
		s.readyEvents++
	}
	return RedriveResult{Redriven: n}
}

// extend applies c; see Extend.
func (s *State) extend(c *Extend) ExtendResult {
	res := ExtendResult{Reasons: make([]Reason, len(c.Items))}
	g, ok := s.groups[c.Group]
	if !ok {
		for i := range res.Reasons {
			res.Reasons[i] = ReasonSuperseded // never delivered to this group
		}
		return res
	}
	ln := g.lane(c.DeadLetter)
	for i, it := range c.Items {
		r, why := s.live(g, c.DeadLetter, AckItem{Offset: it.Offset, DeliveryID: it.DeliveryID})
		if r == nil {
			res.Reasons[i] = why
			continue
		}
		r.expiresAt = satAdd(s.now, max(it.AckWaitMs, 0))
		heap.Fix(&ln.expiry, r.idx)
	}
	return res
}

// fresh adds a rec for the lane's next offset, never delivered and in no
// heap, and moves next past it.
func (ln *lane) fresh() *rec {
	r := &rec{off: ln.next}
	ln.recs[r.off] = r
	ln.recsHigh = max(ln.recsHigh, len(ln.recs))
	ln.next++
	return r
}

// reopen makes the done offset off (at or above the log's base, below next)
// ready again as a message never delivered. Below the floor, the floor
// moves down to off and the offsets between become done entries: the cost
// is the distance, bounded by the retained messages.
func (ln *lane) reopen(off uint64) {
	if off < ln.floor {
		for o := off + 1; o < ln.floor; o++ {
			ln.done[o] = struct{}{}
		}
		ln.doneHigh = max(ln.doneHigh, len(ln.done))
		ln.floor = off
	} else {
		delete(ln.done, off)
	}
	r := &rec{off: off}
	ln.recs[off] = r
	ln.recsHigh = max(ln.recsHigh, len(ln.recs))
	ln.makeReady(r, false)
}
