package chaos

import (
	"slices"
)

// The checkers of transactional messages and deduplicated produces.
//
// Transactional: a value committed with a 204 must reach every group of its
// queue (CommittedLost otherwise); a value for which no commit was ever
// sent, only rollbacks or nothing, must reach none (RolledBackDelivered). A
// value whose commits all had unknown outcomes may or may not be delivered.
//
// Deduplicated: every 201 answer for a value sent with a dedup_id must name
// the same message id (DedupStoredTwice otherwise); Check also counts a
// deduplicated value acked twice in one group as stored twice.

// txnValue is what the history says about one transactional value.
type txnValue struct {
	queue       string
	published   *Op // the publish (the last one with a 201, else the last)
	commitOK    *Op // a commit answered 204
	commitSent  bool
	rollbackSet bool // a rollback was sent
}

// collectTxn gathers the transactional values of a history.
func collectTxn(ops []Op) map[string]*txnValue {
	out := map[string]*txnValue{}
	get := func(op *Op) *txnValue {
		v := op.Values[0]
		t := out[v]
		if t == nil {
			t = &txnValue{queue: op.Queue}
			out[v] = t
		}
		return t
	}
	for i := range ops {
		op := &ops[i]
		if len(op.Values) == 0 {
			continue
		}
		switch op.Kind {
		case KindTxnPublish:
			t := get(op)
			if t.published == nil || t.published.Outcome != OK {
				t.published = op
			}
		case KindTxnEnd:
			t := get(op)
			if !op.Commit {
				t.rollbackSet = true
				continue
			}
			t.commitSent = true
			if op.Outcome == OK && t.commitOK == nil {
				t.commitOK = op
			}
		}
	}
	return out
}

// delivered judges one delivery of a transactional value to a group.
func (t *txnValue) delivered(v *Verdict, queue, group, value string, opIndex int) {
	switch {
	case t.published == nil || t.published.Outcome == Error || queue != t.queue:
		v.bad(&v.Unexpected, "%s/%s: delivered %q, never published to this queue (op %d)", queue, group, value, opIndex)
	case !t.commitSent:
		v.bad(&v.RolledBackDelivered, "%s/%s %q: delivered (op %d), never committed (rollback sent: %v)", queue, group, value, opIndex, t.rollbackSet)
	}
}

// checkCommitted counts committed values that some group never received.
func checkCommitted(v *Verdict, txn map[string]*txnValue, cfg CheckConfig, delivered func(queue, group, value string) bool) {
	values := make([]string, 0, len(txn))
	for val := range txn {
		values = append(values, val)
	}
	slices.Sort(values)
	for _, val := range values {
		t := txn[val]
		if t.commitOK == nil {
			continue
		}
		for _, g := range cfg.Groups[t.queue] {
			if !delivered(t.queue, g, val) {
				v.bad(&v.CommittedLost, "%s/%s %q: committed (op %d, 204 via %s) and never delivered", t.queue, g, val, t.commitOK.Index, t.commitOK.Node)
			}
		}
	}
}

// checkDedupAnswers counts values sent with a dedup_id whose 201 answers
// name two message ids, and returns the set of such values.
func checkDedupAnswers(ops []Op, v *Verdict) map[string]bool {
	dedup := map[string]bool{}
	firstID := map[string]string{}
	for i := range ops {
		op := &ops[i]
		if op.Kind != KindProduce || len(op.DedupIDs) == 0 {
			continue
		}
		for k, val := range op.Values {
			dedup[val] = true
			if op.Outcome != OK || k >= len(op.IDs) {
				continue
			}
			id := op.IDs[k]
			if first, ok := firstID[val]; ok && first != id {
				v.bad(&v.DedupStoredTwice, "%q: dedup_id answered message id %s, then %s (op %d)", val, first, id, op.Index)
			} else if !ok {
				firstID[val] = id
			}
		}
	}
	return dedup
}
