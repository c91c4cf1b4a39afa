package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
)

// TestAck_UnknownOutcomeOfALaterRunIsUnavailable: an ack spanning two
// partitions whose second run meets a leader that lost leadership after
// appending it (the peer answers 503, outcome unknown). That run may have
// been applied, so its entries cannot be reported as failed (T4-deaf seed
// 4002: three messages acked by such a run were reported "fail:
// unavailable", never redelivered, and the checker counted lostAck 3).
// The whole ack is unavailable instead.
func TestAck_UnknownOutcomeOfALaterRunIsUnavailable(t *testing.T) {
	var target atomic.Pointer[string] // the partition whose next Ack gets the 503
	nodes := startTrioWith(t, trioOptions{internal: func(i int, op string, body []byte) (int, []byte, bool) {
		var req commandRequest
		if op != rpcCommand || json.Unmarshal(body, &req) != nil {
			return 0, nil, false
		}
		if p := target.Load(); p == nil || *p != req.Partition {
			return 0, nil, false
		}
		if cmd, err := fsm.Decode(req.Command); err != nil || cmd.Type() != fsm.TypeAck {
			return 0, nil, false
		}
		target.Store(nil)
		status, b := errBody(toRPCError(errors.New("partition x: leadership lost while committing log: partition: outcome unknown")))
		return status, b, true
	}})
	leader := metaLeader(t, nodes)
	ctx := context.Background()
	q, err := leader.CreateQueue(ctx, "p", QueueSpec{Name: "q", Mode: ModeNormal})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := leader.CreateGroups(ctx, "p", q.ID, []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	// Every partition served by its preferred leader (the balance loop
	// moves it no more), and a node that leads two of them not: both runs
	// of its ack are forwarded.
	waitUntil(t, 20*time.Second, "preferred leaders serving, and the group everywhere", func() bool {
		for _, n := range nodes {
			if _, err := n.GetGroup(ctx, "p", q.ID, groups[0].ID); err != nil {
				return false
			}
		}
		for i := range q.Partitions {
			pref := leader.cat.ReplicasOf(q.ID, i)[0]
			for _, n := range nodes {
				if n.ID() == pref {
					if r, ok := n.host.Get(catalogue.PartitionID(q.ID, i)); !ok || !r.IsLeader() {
						return false
					}
				}
			}
		}
		return true
	})
	var via *Node
	var parts []int
	for _, n := range nodes {
		parts = parts[:0]
		for i := range q.Partitions {
			if leader.cat.ReplicasOf(q.ID, i)[0] != n.ID() {
				parts = append(parts, i)
			}
		}
		if len(parts) >= 2 {
			via = n
			break
		}
	}
	if via == nil {
		t.Fatal("no node with two partitions led elsewhere")
	}
	var entries []AckEntry
	for _, i := range parts[:2] {
		if _, err := via.partitionCall(ctx, q, i, &fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"m"`)}}}); err != nil {
			t.Fatal(err)
		}
		res, err := via.partitionCall(ctx, q, i, &fsm.Lease{Group: fsm.GroupID(groups[0].ID), Max: 1, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 30_000})
		if err != nil {
			t.Fatal(err)
		}
		d := res.(fsm.LeaseResult).Deliveries
		if len(d) != 1 {
			t.Fatalf("partition %d leased %d messages", i, len(d))
		}
		entries = append(entries, AckEntry{Partition: i, Item: fsm.AckItem{Offset: d[0].Offset, DeliveryID: d[0].DeliveryID, Success: true}})
	}
	pid := catalogue.PartitionID(q.ID, parts[1])
	target.Store(&pid)
	out, err := via.Ack(ctx, q, groups[0].ID, false, entries)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ack answered %+v, %v; want ErrUnavailable", out, err)
	}
}
