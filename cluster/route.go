package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
	"raftmq/partition"
)

// partitionCall applies cmd on the leader of partition i of q: on this node
// when it leads, else forwarded in one hop to the leader. It retries only when
// the command certainly was not applied (the target was not leader, or could
// not be reached at all), following leader hints, for up to LeaderWait.
func (n *Node) partitionCall(ctx context.Context, q Queue, i int, cmd fsm.Command) (fsm.Result, error) {
	var res fsm.Result
	err := n.onPartitionLeader(ctx, q, i, func(r *partition.Replica, target string) error {
		var err error
		if r != nil {
			res, err = r.Do(ctx, cmd) // waits for the new leader's barrier
		} else {
			res, err = n.forward(ctx, target, q, i, cmd)
		}
		return err
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return res, nil
}

// onPartitionLeader runs step against the leader of partition i of q, in
// the leader-wait loop (untilLeader): with this node's replica when this
// node is the one to try (r not nil), else with the node target (r nil). It
// finds the leader from hints, its own replica, by asking the other replicas
// (lookupLeader) when its replica knows none, or, holding no replica, by
// trying the replicas in turn.
func (n *Node) onPartitionLeader(ctx context.Context, q Queue, i int, step func(r *partition.Replica, target string) error) error {
	pid := catalogue.PartitionID(q.ID, i)
	watch := func() <-chan struct{} {
		if r, ok := n.host.Get(pid); ok {
			return r.LeadershipChanged()
		}
		return nil
	}
	return n.untilLeader(ctx, watch, func(t leaderTry) (string, error) {
		r, local := n.host.Get(pid)
		target := t.hint
		if local {
			if target == n.cfg.NodeID && r.Leader() != n.cfg.NodeID {
				target = "" // a stale hint: this replica knows it does not lead
			}
			if target == "" && r.Leader() != t.avoid {
				target = r.Leader()
			}
			if target == "" {
				// This replica knows no leader: an election is in progress,
				// or this node no longer hears its group (its Raft traffic
				// is lost) while its peers do. Ask them too.
				target = n.lookupLeader(ctx, q, i, r.LeadershipChanged(), t.avoid, min(leaderLookupWait, time.Until(t.deadline)))
			}
		} else if target == "" {
			target = n.remoteLeader(ctx, q, i, t)
		}
		switch {
		case local && target == n.cfg.NodeID:
			return target, step(r, target)
		case target != "" && target != n.cfg.NodeID:
			err := step(nil, target)
			if !local {
				n.noteLeader(pid, target, err)
			}
			return target, err
		case local:
			return "", fmt.Errorf("%w: no leader of partition %s known", errNoLeaderYet, pid)
		}
		return "", fmt.Errorf("%w: no replica of partition %s known", errNoLeaderYet, pid)
	})
}

// remoteLeader is the node to try for partition i of q when this node holds
// no replica of it and has no hint: the one that carried out the last step
// forwarded from here, else the leader the replicas name (lookupLeader),
// else the replicas in turn.
func (n *Node) remoteLeader(ctx context.Context, q Queue, i int, t leaderTry) string {
	pid := catalogue.PartitionID(q.ID, i)
	if id, ok := n.leaders.Load(pid); ok && t.n == 0 {
		return id.(string)
	}
	if id := n.lookupLeader(ctx, q, i, nil, t.avoid, min(leaderLookupWait, time.Until(t.deadline))); id != "" {
		return id
	}
	reps := slices.DeleteFunc(n.cat.ReplicasOf(q.ID, i), func(id string) bool { return id == t.avoid })
	if len(reps) > 0 {
		return reps[(t.n+int(n.rr.Add(1)))%len(reps)]
	}
	return ""
}

// noteLeader remembers id as the leader of pid after a step it carried out,
// and forgets it after one it did not.
func (n *Node) noteLeader(pid, id string, err error) {
	if err == nil {
		n.leaders.Store(pid, id)
	} else {
		n.leaders.CompareAndDelete(pid, id)
	}
}

// leaderLookupWait is how long one lookup waits for a peer to learn of a
// leader: about one election.
const leaderLookupWait = time.Second

// lookupLeader asks the other replicas of partition i which node leads it,
// all at once, each waiting up to wait for a leader it does not know yet.
// It returns the first other node named, or the leader this node's replica
// learns of meanwhile (changed is closed), or "" when nobody named one in
// time. The question changes nothing, so an answer that never comes costs
// only time.
func (n *Node) lookupLeader(ctx context.Context, q Queue, i int, changed <-chan struct{}, avoid string, wait time.Duration) string {
	if wait <= 0 {
		return ""
	}
	pid := catalogue.PartitionID(q.ID, i)
	var peers []string
	for _, id := range n.cat.ReplicasOf(q.ID, i) {
		if id != n.cfg.NodeID {
			peers = append(peers, id)
		}
	}
	if len(peers) == 0 {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, wait+leaderLookupSlack)
	defer cancel()
	body, _ := json.Marshal(leaderRequest{Partition: pid, WaitMs: wait.Milliseconds()})
	answers := make(chan string, len(peers))
	for _, id := range peers {
		go func() {
			var a leaderAnswer
			if err := n.call(ctx, id, rpcLeader, body, &a); err != nil {
				a.Leader = ""
			}
			answers <- a.Leader
		}()
	}
	for range peers {
		select {
		case id := <-answers:
			// A peer that names this node has not noticed yet that it
			// stepped down (this replica knows no leader): no answer. Nor
			// is one that names the leader just lost (avoid).
			if id != "" && id != n.cfg.NodeID && id != avoid {
				return id
			}
		case <-changed:
			if r, ok := n.host.Get(pid); ok && r.Leader() != avoid {
				return r.Leader()
			}
			return ""
		case <-ctx.Done():
			return ""
		}
	}
	return ""
}

// leaderLookupSlack is how much longer than its wait a lookup gives a peer
// to answer.
const leaderLookupSlack = 500 * time.Millisecond

// forward sends cmd to the node with id, which applies it on its own replica
// of partition i of q and never forwards further. The leader is given
// forwardBudget to answer; the wait ends sooner when this node's replica
// sees another leader or gossip finds the target dead (callWatched): then
// the command's outcome is unknown and it is never sent again.
func (n *Node) forward(ctx context.Context, id string, q Queue, i int, cmd fsm.Command) (fsm.Result, error) {
	pid := catalogue.PartitionID(q.ID, i)
	b, err := fsm.Encode(cmd)
	if err != nil {
		return nil, err
	}
	budget := n.forwardBudget()
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)-n.electionTimeout())
	}
	if budget <= 0 {
		return nil, fmt.Errorf("%w: %w: deadline passed", ErrUnavailable, errNotSent)
	}
	body, err := json.Marshal(commandRequest{Partition: pid, Command: b, BudgetMs: budget.Milliseconds()})
	if err != nil {
		return nil, err
	}
	var view leaderView
	if r, ok := n.host.Get(pid); ok {
		view = r
	}
	var a commandAnswer
	if err := n.callWatched(ctx, id, rpcCommand, body, &a, watchOf(view)); err != nil {
		return nil, err
	}
	return a.result()
}

// pickPartition chooses the partition for a produce: round-robin among the
// partitions this node leads (no forwarding hop), else among all.
func (n *Node) pickPartition(q Queue) int {
	c := n.rr.Add(1)
	var local []int
	for i := range q.Partitions {
		if r, ok := n.host.Get(catalogue.PartitionID(q.ID, i)); ok && r.IsLeader() {
			local = append(local, i)
		}
	}
	if len(local) > 0 {
		return local[c%uint64(len(local))]
	}
	return int(c % uint64(q.Partitions))
}
