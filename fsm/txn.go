package fsm

import (
	"cmp"
	"slices"
)

// This file holds transactional (half) messages, as RocketMQ's transactional
// producer uses them. An Enqueue with HalfCheckMs > 0 stores its messages as
// half messages beside the message log: no lane sees them, no counter
// counts them. TxnEnd commits one (it is appended to the log then, so its
// FIFO position is the commit) or rolls it back (it is dropped). A half
// message neither committed nor rolled back HalfCheckMs after its publish
// (or its last check) is due for the producer's check-back: TxnCheck hands
// it out with a new generation, and only the newest generation may end it.

// HalfIDBase is added to a half message's sequence number to make its
// HalfID. Message offsets stay far below it, so a HalfID never equals an
// offset and the two can share one id space (the HTTP layer makes message
// ids from either).
const HalfIDBase = 1 << 47

// TxnCheck hands out up to Max half messages (whose sizes sum to at most
// MaxBytes) that are due for the producer's check-back, oldest due first,
// and restarts each one's check time.
type TxnCheck struct {
	Header
	Max      int
	MaxBytes int
}

// TxnEnd commits (Commit) or rolls back the half message HalfID, when Gen
// is its newest generation (0 from the publish, then one more per check).
type TxnEnd struct {
	Header
	HalfID uint64
	Gen    uint64
	Commit bool
}

// HalfDelivery is one half message handed out by TxnCheck.
type HalfDelivery struct {
	HalfID     uint64
	Gen        uint64 // the generation this delivery may end
	ProducedAt int64  // unix ms: the publish
	CheckAt    int64  // unix ms: when it is next due for a check
	Message    Message
}

// TxnCheckResult lists the half messages handed out, oldest due first.
type TxnCheckResult struct {
	Halves []HalfDelivery
}

// TxnEndResult says whether TxnEnd ended a half message; Offset is where a
// committed one now is in the message log.
type TxnEndResult struct {
	OK     bool
	Offset uint64
}

func (TxnCheckResult) isResult() {}
func (TxnEndResult) isResult()   {}

func (*TxnCheck) Type() Type     { return TypeTxnCheck }
func (*TxnEnd) Type() Type       { return TypeTxnEnd }
func (c *TxnCheck) Hdr() *Header { return &c.Header }
func (c *TxnEnd) Hdr() *Header   { return &c.Header }

// half is one half message.
type half struct {
	seq        uint64 // HalfID - HalfIDBase
	gen        uint64
	producedAt int64
	checkMs    int64
	checkAt    int64
	msg        Message
}

// alias remembers, while a committed message is retained, the HalfID it had.
type alias struct {
	off    uint64
	halfID uint64
}

// txnState is the partition's transactional part; the zero value is empty.
type txnState struct {
	nextSeq uint64  // half messages ever published
	halves  []*half // sorted by seq
	aliases []alias // sorted by off, all at or above the log's base
}

func (t *txnState) empty() bool { return t.nextSeq == 0 }

// enqueueHalf stores c's messages as half messages.
func (s *State) enqueueHalf(c *Enqueue) EnqueueResult {
	t := &s.txn
	res := EnqueueResult{FirstHalf: HalfIDBase + t.nextSeq}
	for _, m := range c.Messages {
		t.halves = append(t.halves, &half{seq: t.nextSeq, producedAt: s.now, checkMs: c.HalfCheckMs,
			checkAt: satAdd(s.now, c.HalfCheckMs), msg: m})
		t.nextSeq++
	}
	res.Halves = len(c.Messages)
	return res
}

// txnCheck hands out due half messages; see TxnCheck.
func (s *State) txnCheck(c *TxnCheck) TxnCheckResult {
	var due []*half
	for _, h := range s.txn.halves {
		if h.checkAt <= s.now {
			due = append(due, h)
		}
	}
	slices.SortFunc(due, func(a, b *half) int {
		return cmp.Or(cmp.Compare(a.checkAt, b.checkAt), cmp.Compare(a.seq, b.seq))
	})
	budget := c.MaxBytes
	var out []HalfDelivery
	for _, h := range due {
		if len(out) >= c.Max || h.msg.Size() > budget {
			break
		}
		budget -= h.msg.Size()
		h.gen++
		h.checkAt = satAdd(s.now, h.checkMs)
		out = append(out, HalfDelivery{HalfID: HalfIDBase + h.seq, Gen: h.gen, ProducedAt: h.producedAt,
			CheckAt: h.checkAt, Message: h.msg})
	}
	return TxnCheckResult{Halves: out}
}

// txnEnd commits or rolls back a half message; see TxnEnd.
func (s *State) txnEnd(c *TxnEnd) TxnEndResult {
	t := &s.txn
	i, ok := t.find(c.HalfID)
	if !ok || t.halves[i].gen != c.Gen {
		return TxnEndResult{}
	}
	h := t.halves[i]
	t.halves = slices.Delete(t.halves, i, i+1)
	if !c.Commit {
		return TxnEndResult{OK: true}
	}
	off := s.log.end()
	s.log.push(entry{producedAt: s.now, m: newMeta(h.msg, !s.detached)})
	s.noteDelay(off, &h.msg)
	t.aliases = append(t.aliases, alias{off: off, halfID: c.HalfID})
	s.readyEvents++
	return TxnEndResult{OK: true, Offset: off}
}

// halfMessage returns the message of half message halfID when gen is its
// current generation (a TxnEnd naming them would end it).
func (s *State) halfMessage(halfID, gen uint64) (Message, bool) {
	i, ok := s.txn.find(halfID)
	if !ok || s.txn.halves[i].gen != gen {
		return Message{}, false
	}
	return s.txn.halves[i].msg, true
}

func (t *txnState) find(halfID uint64) (int, bool) {
	if halfID < HalfIDBase {
		return 0, false
	}
	return slices.BinarySearchFunc(t.halves, halfID-HalfIDBase, func(h *half, seq uint64) int { return cmp.Compare(h.seq, seq) })
}

// txnHousekeep drops half messages published before now - RetentionMs (a
// transaction left open that long is rolled back) and the aliases of
// messages no longer retained.
func (s *State) txnHousekeep(p *Policy) {
	t := &s.txn
	// Halves are in publish order, so in produce-time order (the clock
	// never goes back): the old ones are a prefix, and a command costs
	// nothing here when none is old.
	if cutoff, ok := retentionCutoff(s.now, p.RetentionMs); ok {
		k := 0
		for k < len(t.halves) && t.halves[k].producedAt < cutoff {
			k++
		}
		t.halves = dropFront(t.halves, k)
	}
	k := 0
	for k < len(t.aliases) && t.aliases[k].off < s.log.base {
		k++
	}
	t.aliases = dropFront(t.aliases, k)
}

// halfIDOf returns the HalfID a retained message had before its commit, or 0.
func (s *State) halfIDOf(off uint64) uint64 {
	a := s.txn.aliases
	i, ok := slices.BinarySearchFunc(a, off, func(x alias, off uint64) int { return cmp.Compare(x.off, off) })
	if !ok {
		return 0
	}
	return a[i].halfID
}

// HalfMessages is the number of half messages waiting for a commit or a
// rollback.
func (s *State) HalfMessages() int { return len(s.txn.halves) }

// NextTxnCheck returns the earliest time (unix ms) a half message is due for
// a check, and false when there are none. A check-back poll wakes then.
func (s *State) NextTxnCheck() (int64, bool) {
	var at int64
	found := false
	for _, h := range s.txn.halves {
		if !found || h.checkAt < at {
			at, found = h.checkAt, true
		}
	}
	return at, found
}
