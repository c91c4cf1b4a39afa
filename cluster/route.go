package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"raftmq/fsm"
	"raftmq/partition"
)

// maxRouteHops bounds how many nodes one request reaches that answer "not
// leader" (each is one hop), should stale hints send it back and forth.
// Waiting for an election, and peers that cannot be reached, are bounded by
// LeaderWait instead.
const maxRouteHops = 12

// partitionCall applies cmd on the leader of partition i of q: on this node
// when it leads, else forwarded in one hop to the leader. It retries only when
// the command certainly was not applied (the target was not leader, or could
// not be reached at all), following leader hints, for up to LeaderWait.
func (n *Node) partitionCall(ctx context.Context, q Queue, i int, cmd fsm.Command) (fsm.Result, error) {
	pid := PartitionID(q.ID, i)
	deadline := time.Now().Add(n.cfg.Raft.LeaderWait)
	hint := ""
	hops := 0
	var lastErr error
	for attempt := 0; ; attempt++ {
		r, local := n.host.Get(pid)
		var changed <-chan struct{}
		target := hint
		if local {
			changed = r.LeadershipChanged()
			if target == n.cfg.NodeID && r.Leader() != n.cfg.NodeID {
				target = "" // a stale hint: this replica knows it does not lead
			}
			if target == "" {
				target = r.Leader()
			}
			if target == "" {
				// This replica knows no leader: an election is in progress,
				// or this node no longer hears its group (its Raft traffic
				// is lost) while its peers do. Ask them too.
				target = n.lookupLeader(ctx, q, i, changed, min(leaderLookupWait, time.Until(deadline)))
			}
		} else if target == "" {
			if reps := n.cat.replicasOf(q.ID, i); len(reps) > 0 {
				target = reps[attempt%len(reps)]
			}
		}
		var res fsm.Result
		var err error
		switch {
		case local && target == n.cfg.NodeID:
			res, err = r.Do(ctx, cmd) // waits for the new leader's barrier
		case local && target == "":
			err = fmt.Errorf("%w: %w: no leader of partition %s known", ErrUnavailable, errNotSent, pid)
		case target != "" && target != n.cfg.NodeID:
			res, err = n.forward(ctx, target, pid, cmd)
		default:
			err = fmt.Errorf("%w: %w: no replica of partition %s known", ErrUnavailable, errNotSent, pid)
		}
		if err == nil {
			return res, nil
		}
		lastErr = err
		var nl *partition.NotLeaderError
		switch {
		case errors.As(err, &nl):
			hops++
			hint = nl.LeaderID
			if hint == target {
				hint = "" // the target names itself but does not serve yet
			}
		case errors.Is(err, errNotSent):
			hint = ""
		default:
			return nil, unavailable(err) // the outcome may be unknown: never retry
		}
		if hops >= maxRouteHops || time.Now().After(deadline) {
			break
		}
		if hint == "" {
			select {
			case <-changed:
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return nil, unavailable(ctx.Err())
			}
		}
	}
	return nil, unavailable(lastErr)
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
func (n *Node) lookupLeader(ctx context.Context, q Queue, i int, changed <-chan struct{}, wait time.Duration) string {
	if wait <= 0 {
		return ""
	}
	pid := PartitionID(q.ID, i)
	var peers []string
	for _, id := range n.cat.replicasOf(q.ID, i) {
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
			// stepped down (this replica knows no leader): no answer.
			if id != "" && id != n.cfg.NodeID {
				return id
			}
		case <-changed:
			if r, ok := n.host.Get(pid); ok {
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
// of the partition and never forwards further.
func (n *Node) forward(ctx context.Context, id, pid string, cmd fsm.Command) (fsm.Result, error) {
	b, err := fsm.Encode(cmd)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(commandRequest{Partition: pid, Command: b})
	if err != nil {
		return nil, err
	}
	var a commandAnswer
	if err := n.call(ctx, id, rpcCommand, body, &a); err != nil {
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
		if r, ok := n.host.Get(PartitionID(q.ID, i)); ok && r.IsLeader() {
			local = append(local, i)
		}
	}
	if len(local) > 0 {
		return local[c%uint64(len(local))]
	}
	return int(c % uint64(q.Partitions))
}
