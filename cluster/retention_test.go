package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
)

// A queue with the acked retention policy, created through a node that does
// not lead the catalogue, carries the policy into its partitions' commands,
// and a new group is registered on every partition at once, so that no
// message leaves before that group has acknowledged it. An unknown policy is
// refused before it is proposed.
func TestCluster_AckedRetentionRegistersGroups(t *testing.T) {
	nodes := startTrio(t)
	meta := metaLeader(t, nodes)
	other := nodes[0]
	if other == meta {
		other = nodes[1]
	}
	ctx := context.Background()
	if _, err := other.CreateQueue(ctx, "p", QueueSpec{Name: "bad", Mode: ModeNormal, RetentionPolicy: "forever"}); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("unknown retention policy: %v, want ErrInvalidCommand", err)
	}
	q, err := other.CreateQueue(ctx, "p", QueueSpec{Name: "q", Mode: ModeNormal, RetentionPolicy: RetentionAcked})
	if err != nil {
		t.Fatal(err)
	}
	if q.RetentionPolicy != RetentionAcked || !q.Policy().AckedRetention {
		t.Fatalf("queue %+v, policy %+v", q, q.Policy())
	}
	gs, err := other.CreateGroups(ctx, "p", q.ID, []string{"g1", "g2"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range q.Partitions {
		pid := catalogue.PartitionID(q.ID, i)
		waitUntil(t, 10*time.Second, "both groups on the leader of "+pid, func() bool {
			for _, n := range nodes {
				r, ok := n.host.Get(pid)
				if !ok || !r.IsLeader() {
					continue
				}
				var groups []fsm.GroupID
				r.Read(func(s *fsm.State) { groups = s.Groups() })
				return r.Policy().AckedRetention &&
					slices.Contains(groups, fsm.GroupID(gs[0].ID)) && slices.Contains(groups, fsm.GroupID(gs[1].ID))
			}
			return false
		})
	}
}
