package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
)

// This file routes transactional (half) messages and deduplicated produces
// to partitions; the state machine does the rest (fsm/txn.go, fsm/dedup.go).

// HalfRef locates a half message: its partition and HalfID. Generation 0 is
// the publish's.
type HalfRef struct {
	Partition int
	HalfID    uint64
}

// HalfDelivery is a half message handed out for the producer's check-back.
type HalfDelivery struct {
	Partition int
	fsm.HalfDelivery
}

// ProduceHalf stores msg as a half message, first due for a check checkMs
// after now. The partition is chosen as for Produce.
func (n *Node) ProduceHalf(ctx context.Context, q Queue, msg fsm.Message, checkMs int64) (HalfRef, error) {
	i := n.pickPartition(q)
	if msg.Key != "" {
		i = keyPartition(msg.Key, q.Partitions)
	}
	out, err := n.partitionCall(ctx, q, i, &fsm.Enqueue{Messages: []fsm.Message{msg}, HalfCheckMs: checkMs})
	if err != nil {
		return HalfRef{}, err
	}
	res, ok := out.(fsm.EnqueueResult)
	if !ok || res.Halves != 1 {
		return HalfRef{}, fmt.Errorf("cluster: unexpected result %T %+v", out, out)
	}
	return HalfRef{Partition: i, HalfID: res.FirstHalf}, nil
}

// TxnEnd commits or rolls back the half message ref at generation gen. ok is
// false when that is not a pending half message's newest generation.
func (n *Node) TxnEnd(ctx context.Context, q Queue, ref HalfRef, gen uint64, commit bool) (ok bool, err error) {
	if ref.Partition < 0 || ref.Partition >= q.Partitions {
		return false, nil
	}
	out, err := n.partitionCall(ctx, q, ref.Partition, &fsm.TxnEnd{HalfID: ref.HalfID, Gen: gen, Commit: commit})
	if err != nil {
		return false, err
	}
	res, isEnd := out.(fsm.TxnEndResult)
	if !isEnd {
		return false, fmt.Errorf("cluster: unexpected result %T", out)
	}
	return res.OK, nil
}

// txnPollStep bounds one wait of a check-back poll, so that a half message
// published on another node (whose check time this node cannot see) is found
// soon after it is due.
const txnPollStep = time.Second

// TxnCheck hands out up to limit half messages due for a check, from the
// queue's partitions in turn, waiting up to wait for the first.
func (n *Node) TxnCheck(ctx context.Context, q Queue, limit int, wait time.Duration) ([]HalfDelivery, error) {
	deadline := time.Now().Add(wait)
	for {
		out, next, err := n.txnCheckOnce(ctx, q, limit)
		if err != nil || len(out) > 0 {
			return out, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		pause := min(left, txnPollStep)
		if next > 0 {
			pause = min(pause, next)
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		}
	}
}

// txnCheckOnce asks each partition once, skipping those whose local replica
// has nothing due (so that an idle check-back writes nothing to the log). It
// returns how long until the earliest check time the local replicas know of
// (by the clock the partitions stamp), or 0 when they know of none. A
// partition that cannot be reached is passed over; its error is returned
// only when no other partition handed anything out.
func (n *Node) txnCheckOnce(ctx context.Context, q Queue, limit int) ([]HalfDelivery, time.Duration, error) {
	var out []HalfDelivery
	var next time.Duration
	var failed error
	budget := fsm.MaxLeaseBytes // for the whole answer, as a consume's
	start := int(n.rr.Add(1) % uint64(q.Partitions))
	for k := 0; k < q.Partitions && len(out) < limit && budget > 0; k++ {
		i := (start + k) % q.Partitions
		if r, ok := n.host.Get(catalogue.PartitionID(q.ID, i)); ok {
			var at int64
			var pending bool
			r.Read(func(s *fsm.State) { at, pending = s.NextTxnCheck() })
			if !pending {
				continue
			}
			if now := r.Now(); at > now {
				if d := time.Duration(at-now) * time.Millisecond; next == 0 || d < next {
					next = d
				}
				continue
			}
		}
		res, err := n.partitionCall(ctx, q, i, &fsm.TxnCheck{Max: limit - len(out), MaxBytes: budget})
		if err != nil {
			failed = err
			continue
		}
		tr, ok := res.(fsm.TxnCheckResult)
		if !ok {
			return nil, 0, fmt.Errorf("cluster: unexpected result %T", res)
		}
		for _, h := range tr.Halves {
			out = append(out, HalfDelivery{Partition: i, HalfDelivery: h})
			budget -= h.Message.Size()
		}
	}
	if len(out) == 0 && failed != nil {
		return nil, 0, failed
	}
	return out, next, nil
}

// ProduceDedup stores msgs, message i with deduplication id ids[i] ("" =
// none), and returns where each is (a duplicate's ref is its first one's)
// and how many were duplicates. Messages with an id go to the partition the
// id hashes to, so that every retry of an id meets the table that remembers
// it; those without one go with the first message that has one. Each
// partition's share is stored all or none; a request whose ids span
// partitions is stored per partition, which a retry with the same ids
// completes without duplicating anything.
func (n *Node) ProduceDedup(ctx context.Context, q Queue, msgs []fsm.Message, ids []string) ([]MessageRef, int, error) {
	if len(ids) != len(msgs) {
		return nil, 0, fmt.Errorf("cluster: %d dedup ids for %d messages", len(ids), len(msgs))
	}
	home := -1
	part := make([]int, len(msgs))
	for i, id := range ids {
		part[i] = -1
		if id != "" {
			part[i] = keyPartition(id, q.Partitions)
			if home < 0 {
				home = part[i]
			}
		}
	}
	if home < 0 {
		home = n.pickPartition(q)
	}
	var order []int // partitions in order of first use
	for i := range part {
		if part[i] < 0 {
			part[i] = home
		}
		if !slices.Contains(order, part[i]) {
			order = append(order, part[i])
		}
	}
	refs := make([]MessageRef, len(msgs))
	dups := 0
	for _, p := range order {
		var idx []int
		e := &fsm.Enqueue{DedupIDs: []string{}}
		for i := range msgs {
			if part[i] == p {
				idx = append(idx, i)
				e.Messages = append(e.Messages, msgs[i])
				e.DedupIDs = append(e.DedupIDs, ids[i])
			}
		}
		out, err := n.partitionCall(ctx, q, p, e)
		if err != nil {
			return nil, 0, err
		}
		res, ok := out.(fsm.EnqueueResult)
		if !ok || res.Dedup == nil || len(res.Dedup.Offsets) != len(idx) {
			return nil, 0, fmt.Errorf("cluster: unexpected result %T %+v", out, out)
		}
		for k, i := range idx {
			refs[i] = MessageRef{Partition: p, Offset: res.Dedup.Offsets[k]}
		}
		dups += res.Dedup.Duplicates
	}
	return refs, dups, nil
}
