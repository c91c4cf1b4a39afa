package cluster

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
)

// skewedTrio starts three nodes whose stamp clocks (partition.RaftConfig.
// Clock, what leases and expiries are measured in) can be set apart from
// the host's clock with skew, and a FIFO queue (one partition) with one
// group. It returns the nodes, the queue, the group id, the partition's
// leader and skew.
func skewedTrio(t *testing.T) ([]*Node, Queue, string, *Node, func(n *Node, d time.Duration)) {
	t.Helper()
	var offs [3]atomic.Int64
	nodes := startTrioWith(t, trioOptions{config: func(i int, cfg *Config) {
		cfg.Raft.Clock = func() time.Time { return time.Now().Add(time.Duration(offs[i].Load())) }
	}})
	leader := metaLeader(t, nodes)
	ctx := context.Background()
	q, err := leader.CreateQueue(ctx, "p", QueueSpec{Name: "q", Mode: ModeFIFO})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := leader.CreateGroups(ctx, "p", q.ID, []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	var lead *Node
	waitUntil(t, 20*time.Second, "the preferred leader serving the partition, and the group on every node", func() bool {
		lead = nil
		for _, n := range nodes {
			r, ok := n.host.Get(catalogue.PartitionID(q.ID, 0))
			if !ok {
				return false
			}
			if _, err := n.GetGroup(ctx, "p", q.ID, groups[0].ID); err != nil {
				return false
			}
			if r.IsLeader() {
				lead = n
			}
		}
		// The preferred leader: the balance loop moves it no more.
		return lead != nil && lead.ID() == lead.cat.ReplicasOf(q.ID, 0)[0]
	})
	skew := func(n *Node, d time.Duration) {
		for i := range nodes {
			if nodes[i] == n {
				offs[i].Store(int64(d))
			}
		}
	}
	return nodes, q, groups[0].ID, lead, skew
}

func consumeReq(ackWaitMs, waitMs int64) ConsumeRequest {
	return ConsumeRequest{Max: 10, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: ackWaitMs, WaitMs: waitMs}
}

// TestConsume_LongPollWaitsOnTheStampClock: lease expiries are in the stamp
// clock, so the wait until the next one must be measured on it too. With
// the stamp clock 2 s behind the host's (the fault suite's --unsafe-test-
// clock at -2 s), a wait measured on the host clock ran out 2 s early and
// the long poll then woke every millisecond until the lease expired.
func TestConsume_LongPollWaitsOnTheStampClock(t *testing.T) {
	nodes, q, gid, lead, skew := skewedTrio(t)
	for _, n := range nodes {
		skew(n, -2*time.Second)
	}
	ctx := context.Background()
	if _, err := lead.partitionCall(ctx, q, 0, &fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"m"`)}}}); err != nil {
		t.Fatal(err)
	}
	got, err := lead.Consume(ctx, q, gid, consumeReq(3_000, 0))
	if err != nil || len(got) != 1 {
		t.Fatalf("consume: %v %+v", err, got)
	}
	// The lease has 3 s to live on the stamp clock; a 2.5 s poll must
	// sleep through.
	before := lead.consumePasses.Load()
	got, err = lead.Consume(ctx, q, gid, consumeReq(3_000, 2_500))
	if err != nil || len(got) != 0 {
		t.Fatalf("long poll: %v %+v, want nothing", err, got)
	}
	if passes := lead.consumePasses.Load() - before; passes > 10 {
		t.Fatalf("a quiet 2.5 s long poll made %d passes", passes)
	}
}

// TestConsume_FollowerAheadOfLeaderDoesNotRepeatEmptyLeases: a follower
// whose clock is ahead of the leader's sees a lease expire before the
// leader does. It may ask the leader once; when the leader leases nothing,
// asking again before the leader settles the expiry only writes empty
// Lease entries to the log (four per wake-up before).
func TestConsume_FollowerAheadOfLeaderDoesNotRepeatEmptyLeases(t *testing.T) {
	nodes, q, gid, lead, skew := skewedTrio(t)
	ctx := context.Background()
	if _, err := lead.partitionCall(ctx, q, 0, &fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"m"`)}}}); err != nil {
		t.Fatal(err)
	}
	var follower *Node
	for _, n := range nodes {
		if n != lead {
			follower = n
			skew(n, 2*time.Second) // the leader's clock stays the host's
		}
	}
	got, err := lead.Consume(ctx, q, gid, consumeReq(3_000, 0))
	if err != nil || len(got) != 1 {
		t.Fatalf("consume: %v %+v", err, got)
	}
	r, _ := lead.host.Get(catalogue.PartitionID(q.ID, 0))
	before := r.AppliedIndex()
	fr, _ := follower.host.Get(catalogue.PartitionID(q.ID, 0))
	waitUntil(t, 5*time.Second, "the follower to apply the lease", func() bool { return fr.AppliedIndex() >= before })
	// Poll once the lease has expired on the follower's clock, and not yet
	// on the leader's (it has 2 s to go there).
	waitUntil(t, 5*time.Second, "the lease to expire on the follower's clock", func() bool {
		var at int64
		fr.Read(func(s *fsm.State) { at, _ = s.NextExpiry(fsm.GroupID(gid), false) })
		return at != 0 && at <= fr.Now()
	})
	passes := follower.consumePasses.Load()
	got, err = follower.Consume(ctx, q, gid, consumeReq(3_000, 6_000))
	if err != nil || len(got) != 1 {
		t.Fatalf("long poll through the follower: %v %+v, want the redelivery", err, got)
	}
	// Two passes: the lease has expired here (one empty Lease: the
	// leader's clock is behind), then the leader's Tick settled it (the
	// Lease that redelivers). Three entries: the empty Lease, the Tick, the
	// Lease, plus at most one more housekeeping Tick that the leader's
	// once-a-second loop may propose within the window. Before: four empty
	// Leases in a row (six entries or more).
	entries, passes := r.AppliedIndex()-before, follower.consumePasses.Load()-passes
	if entries > 4 || passes > 2 {
		t.Fatalf("the long poll made %d passes and the partition log grew by %d entries", passes, entries)
	}
}
