package chaos

import (
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"time"
)

// CheckConfig says what the checkers need to know about the run.
type CheckConfig struct {
	Groups          map[string][]string // queue name -> its groups
	FIFO            map[string]bool     // queue name -> FIFO
	MaxConsumeCount int
	Eps             time.Duration // clock slack for lease arithmetic (FAULTS.md: 50 ms; LeaseEps)
	Drained         bool          // the final drain completed: lostAck applies
}

// BaseEps is FAULTS.md's clock slack for lease arithmetic without clock
// faults.
const BaseEps = 50 * time.Millisecond

// LeaseEps is the slack the lease checkers need for a history: BaseEps plus
// the largest clock offset a nemesis injected (FAULTS.md T8: injected skew +
// 50 ms). A leader whose clock is off by d starts and ends leases up to d
// early or late in real time. The offsets do not add up: the clock nemesis
// shifts one node at a time and keeps more than ack_wait between shifts, so
// that no lease is started under one offset and ended under another of the
// opposite sign.
func LeaseEps(ops []Op) time.Duration {
	var skew int64
	for i := range ops {
		if ops[i].Kind == KindNemesis {
			skew = max(skew, ops[i].OffsetMs, -ops[i].OffsetMs)
		}
	}
	return BaseEps + time.Duration(skew)*time.Millisecond
}

// Verdict is what the checkers found. Every count must be 0 except the
// totals and explained duplicates.
type Verdict struct {
	Attempted, ProducedOK, ProducedUnknown, ProducedError int
	Deliveries, Acks                                      int

	Lost                int // produced 201, never delivered to some group
	LostAck             int // produced 201, never acked with success in some group (after the drain)
	Unexpected          int // delivered, never attempted (or refused with 4xx)
	AckedTwice          int // two successful acks of one message in one group
	RedeliveredAfterAck int // delivered after a successful ack completed
	OverlappingLeases   int // a second delivery while the first lease was surely live and not released
	AcceptedExpired     int // a handler accepted after its lease surely expired
	AcceptedSuperseded  int // a handler accepted after a newer delivery of the message completed
	AckPrefix           int // ordered-ack prefix rule broken
	OverDelivered       int // delivered more than max_consume_count times
	MissingDeadLetter   int // failed max_consume_count times, never seen in the dead letters
	FIFOOrder           int // a FIFO first delivery out of offset order
	CommittedLost       int // a transactional message committed (204), never delivered to some group
	RolledBackDelivered int // a transactional message never committed (rolled back or left open), delivered
	DedupStoredTwice    int // a message with a dedup_id stored twice (two ids answered, or acked twice in a group)
	DupExplained        int
	DupUnexplained      int

	Examples []string // the first few violations, for the report
}

// Failed reports whether any safety property was violated.
func (v *Verdict) Failed() bool {
	return v.Lost+v.DupUnexplained+v.otherViolations() > 0
}

// otherViolations sums every safety counter but Lost and DupUnexplained.
func (v *Verdict) otherViolations() int {
	return v.LostAck + v.Unexpected + v.AckedTwice + v.RedeliveredAfterAck + v.OverlappingLeases + v.AcceptedExpired +
		v.AcceptedSuperseded + v.AckPrefix + v.OverDelivered + v.MissingDeadLetter + v.FIFOOrder +
		v.CommittedLost + v.RolledBackDelivered + v.DedupStoredTwice
}

func (v *Verdict) bad(counter *int, format string, args ...any) {
	*counter++
	if len(v.Examples) < 40 {
		v.Examples = append(v.Examples, fmt.Sprintf(format, args...))
	}
}

// deliv is one observed delivery of a message to a group.
type deliv struct {
	op      *Op
	handler string
	dlq     bool
}

// ackMark is one ack entry naming a delivery's handler.
type ackMark struct {
	op      *Op
	success bool // ok answer and within the success prefix
	maybe   bool // unknown answer: may have been applied either way
}

// ParseMessageID reads the partition index and offset of a message id
// (httpapi.messageID: 8 bytes of queue id, 2 of partition, 6 of offset).
func ParseMessageID(id string) (partition int, offset uint64, ok bool) {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		return 0, 0, false
	}
	partition = int(b[8])<<8 | int(b[9])
	for _, x := range b[10:16] {
		offset = offset<<8 | uint64(x)
	}
	return partition, offset, true
}

// Check runs every checker over a history.
func Check(ops []Op, cfg CheckConfig) Verdict {
	var v Verdict
	eps := int64(cfg.Eps)
	type produced struct {
		op     *Op
		offset uint64
		hasOff bool
	}
	prod := map[string]produced{}
	txn := collectTxn(ops)
	dedup := checkDedupAnswers(ops, &v)
	type key struct{ queue, group, value string }
	delivs := map[key][]deliv{}
	marks := map[string][]ackMark{} // handler -> acks naming it
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case KindProduce:
			v.Attempted += len(op.Values)
			switch op.Outcome {
			case OK:
				v.ProducedOK += len(op.Values)
			case Unknown:
				v.ProducedUnknown += len(op.Values)
			default:
				v.ProducedError += len(op.Values)
			}
			for k, val := range op.Values {
				if old, seen := prod[val]; seen && old.op.Outcome == OK {
					continue // a deduplicating retry: the first 201 stands
				}
				p := produced{op: op}
				if k < len(op.IDs) {
					_, p.offset, p.hasOff = ParseMessageID(op.IDs[k])
				}
				prod[val] = p
			}
		case KindConsume:
			if op.Outcome != OK {
				continue
			}
			for _, d := range op.Deliveries {
				v.Deliveries++
				k := key{op.Queue, op.Group, d.Value}
				delivs[k] = append(delivs[k], deliv{op: op, handler: d.Handler, dlq: op.DLQ})
			}
		case KindAck:
			if op.Outcome == Error {
				continue
			}
			v.Acks++
			firstFail := len(op.Entries)
			for i, e := range op.Entries {
				if e.Fail && i < firstFail {
					firstFail = i
				}
				marks[e.Handler] = append(marks[e.Handler], ackMark{op: op, success: op.Outcome == OK && i < op.Success, maybe: op.Outcome == Unknown})
			}
			if op.Outcome == OK {
				if op.Success+op.Fail != len(op.Entries) || op.Success > firstFail || (op.Fail > 0 && op.Reason == "") {
					v.bad(&v.AckPrefix, "ack op %d: %d entries (first fail status at %d) answered success %d fail %d reason %q",
						op.Index, len(op.Entries), firstFail, op.Success, op.Fail, op.Reason)
				}
			}
		}
	}
	// Per message and group: the deliveries in order of their answers.
	for k, ds := range delivs {
		sort.SliceStable(ds, func(i, j int) bool { return ds[i].op.Ret < ds[j].op.Ret })
		p, ok := prod[k.value]
		if t, isTxn := txn[k.value]; isTxn {
			t.delivered(&v, k.queue, k.group, k.value, ds[0].op.Index)
		} else if !ok || p.op.Outcome == Error || p.op.Queue != k.queue {
			v.bad(&v.Unexpected, "%s/%s: delivered %q, never produced to this queue (op %d)", k.queue, k.group, k.value, ds[0].op.Index)
		}
		successes, normal := 0, 0
		var ackedAt int64 = -1
		for i, d := range ds {
			if !d.dlq {
				normal++
			}
			if ackedAt >= 0 && d.op.Call > ackedAt {
				v.bad(&v.RedeliveredAfterAck, "%s/%s %q: delivered by op %d after a successful ack completed at %.3fs",
					k.queue, k.group, k.value, d.op.Index, float64(ackedAt)/1e9)
			}
			if i > 0 {
				prev := ds[i-1]
				released, acked := false, false
				for _, m := range marks[prev.handler] {
					if m.op.Call < d.op.Ret {
						if m.success {
							acked = true
						} else {
							released = true // failed, released or unknown: may be redelivered
						}
					}
				}
				surelyLive := d.op.Ret < prev.op.LeaseEnd()-eps
				switch {
				case acked:
					v.bad(&v.DupUnexplained, "%s/%s %q: op %d redelivered after op %d's handler was acked", k.queue, k.group, k.value, d.op.Index, prev.op.Index)
				case surelyLive && !released && prev.dlq == d.dlq:
					v.DupUnexplained++
					v.bad(&v.OverlappingLeases, "%s/%s %q: op %d delivered while op %d's lease was surely live (until %.3fs)",
						k.queue, k.group, k.value, d.op.Index, prev.op.Index, float64(prev.op.LeaseEnd())/1e9)
				default:
					v.DupExplained++
				}
			}
			for _, m := range marks[d.handler] {
				if !m.success {
					continue
				}
				successes++
				if ackedAt < 0 || m.op.Ret < ackedAt {
					ackedAt = m.op.Ret
				}
				if m.op.Call > d.op.LeaseEndMax()+eps {
					v.bad(&v.AcceptedExpired, "%s/%s %q: ack op %d accepted a handler of op %d after its lease expired", k.queue, k.group, k.value, m.op.Index, d.op.Index)
				}
				for _, later := range ds[i+1:] {
					if later.op.Ret < m.op.Call {
						v.bad(&v.AcceptedSuperseded, "%s/%s %q: ack op %d accepted op %d's handler after op %d redelivered it",
							k.queue, k.group, k.value, m.op.Index, d.op.Index, later.op.Index)
						break
					}
				}
			}
		}
		if successes > 1 {
			v.bad(&v.AckedTwice, "%s/%s %q: %d successful acks", k.queue, k.group, k.value, successes)
			if dedup[k.value] {
				v.bad(&v.DedupStoredTwice, "%s/%s %q: a deduplicated message acked %d times", k.queue, k.group, k.value, successes)
			}
		}
		if cfg.MaxConsumeCount > 0 && normal > cfg.MaxConsumeCount {
			v.bad(&v.OverDelivered, "%s/%s %q: delivered %d times, max_consume_count %d", k.queue, k.group, k.value, normal, cfg.MaxConsumeCount)
		}
		if cfg.MaxConsumeCount > 0 && cfg.Drained && normal >= cfg.MaxConsumeCount {
			failedAll, inDLQ := true, false
			for _, d := range ds {
				if d.dlq {
					inDLQ = true
				}
				for _, m := range marks[d.handler] {
					if m.success || m.maybe {
						failedAll = false
					}
				}
			}
			if failedAll && !inDLQ {
				v.bad(&v.MissingDeadLetter, "%s/%s %q: failed %d times, never delivered as a dead letter", k.queue, k.group, k.value, normal)
			}
		}
	}
	// Loss: every 201 message reaches every group, and is acked there.
	values := make([]string, 0, len(prod))
	for val := range prod {
		values = append(values, val)
	}
	slices.Sort(values)
	for _, val := range values {
		p := prod[val]
		if p.op.Outcome != OK {
			continue
		}
		for _, g := range cfg.Groups[p.op.Queue] {
			ds := delivs[key{p.op.Queue, g, val}]
			if len(ds) == 0 {
				v.bad(&v.Lost, "%s/%s %q: produced (op %d, 201 at %.3fs via %s) and never delivered", p.op.Queue, g, val, p.op.Index, float64(p.op.Ret)/1e9, p.op.Node)
				continue
			}
			if !cfg.Drained {
				continue
			}
			acked := false
			for _, d := range ds {
				for _, m := range marks[d.handler] {
					if m.success || m.maybe {
						acked = true
					}
				}
			}
			if !acked {
				v.bad(&v.LostAck, "%s/%s %q: delivered %d times, never acked after the drain", p.op.Queue, g, val, len(ds))
			}
		}
	}
	checkCommitted(&v, txn, cfg, func(queue, group, value string) bool { return len(delivs[key{queue, group, value}]) > 0 })
	// FIFO: first deliveries of each group come in offset order.
	for q, fifo := range cfg.FIFO {
		if !fifo {
			continue
		}
		for _, g := range cfg.Groups[q] {
			type first struct {
				ret    int64
				pos    int
				offset uint64
				value  string
			}
			var firsts []first
			for k, ds := range delivs {
				if k.queue != q || k.group != g {
					continue
				}
				p, ok := prod[k.value]
				if !ok || !p.hasOff || p.op.Outcome != OK {
					continue
				}
				d := ds[0]
				pos := slices.IndexFunc(d.op.Deliveries, func(x Delivery) bool { return x.Value == k.value })
				firsts = append(firsts, first{d.op.Ret, pos, p.offset, k.value})
			}
			sort.Slice(firsts, func(i, j int) bool {
				if firsts[i].ret != firsts[j].ret {
					return firsts[i].ret < firsts[j].ret
				}
				return firsts[i].pos < firsts[j].pos
			})
			var maxOff uint64
			for i, f := range firsts {
				if i > 0 && f.offset < maxOff {
					v.bad(&v.FIFOOrder, "%s/%s: %q (offset %d) first delivered after offset %d", q, g, f.value, f.offset, maxOff)
				}
				maxOff = max(maxOff, f.offset)
			}
		}
	}
	return v
}
