package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/placement"
)

// The metadata leader decides where replicas go; the partition leaders act
// (replicaset.go). Each round (Config.MoveInterval) the leader makes at most
// one change to the catalogue's replica sets, in this order of urgency:
// settle node states (a drained node becomes removed, a removed id back
// with a new data directory becomes a member again); drop replicas on lost
// nodes; add a replica to a partition with fewer than the target; drop a
// draining replica once its replacements vote; drop the surplus of a move
// once every replica votes; give a partition whose preferred leader is
// draining another; then, while no node is down but not yet lost,
// rebalance replicas, then leaderships. A move adds
// first (as a non-voter that catches up, then votes) and removes after, so
// no partition loses its quorum; and only one added replica catches up at a
// time.

// moveTimeout is how long the leader waits for an added replica to vote
// before it stops counting it as in flight.
const moveTimeout = 2 * time.Minute

// moveTracker remembers the replicas this leader added that do not vote yet.
type moveTracker struct {
	mu     sync.Mutex
	adding map[string]moveEntry // by partition id
}

type moveEntry struct {
	node  string
	since time.Time
}

func (m *moveTracker) add(pid, node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.adding == nil {
		m.adding = map[string]moveEntry{}
	}
	m.adding[pid] = moveEntry{node: node, since: time.Now()}
}

// busy reports whether an added replica is still catching up; it forgets
// those that vote, left their set, or took longer than moveTimeout.
func (n *Node) movesBusy(ctx context.Context, parts []catalogue.Placement) bool {
	n.moves.mu.Lock()
	pending := make(map[string]moveEntry, len(n.moves.adding))
	for k, v := range n.moves.adding {
		pending[k] = v
	}
	n.moves.mu.Unlock()
	busy := false
	for pid, e := range pending {
		i := slices.IndexFunc(parts, func(p catalogue.Placement) bool { return p.ID == pid })
		done := i < 0 || !slices.Contains(parts[i].Replicas, e.node) || time.Since(e.since) > moveTimeout
		if !done {
			if c, err := n.partitionConfig(ctx, parts[i]); err == nil && c.votes(e.node) {
				done = true
			}
		}
		if done {
			n.moves.mu.Lock()
			delete(n.moves.adding, pid)
			n.moves.mu.Unlock()
			continue
		}
		busy = true
	}
	return busy
}

// judge is what this node knows of every node now.
func (n *Node) judge() placement.Judge {
	j := placement.Judge{Members: map[string]Member{}, Records: n.cat.NodeStates(), Started: n.started, Timeout: n.cfg.DeadNodeTimeout, Now: time.Now()}
	for _, m := range n.members.Members() {
		j.Members[m.ID] = m
	}
	return j
}

func (n *Node) repairLoop() {
	n.every(n.cfg.MoveInterval, nil, func() bool {
		if n.meta.IsLeader() && n.cat.Key() != nil {
			n.planOnce()
		}
		return true
	})
}

// planOnce makes at most one change to the catalogue (see the top of this file).
func (n *Node) planOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	j := n.judge()
	parts := n.cat.Placements()
	if n.settleIdentities(ctx, j) || n.settleNodes(ctx, j, parts) {
		return
	}
	rf := j.ReplicationTarget(parts)
	busy := n.movesBusy(ctx, parts)
	for _, p := range parts {
		if n.repairPartition(ctx, j, parts, p, rf, busy) {
			return
		}
	}
	// Rebalancing waits while a node is down but not yet lost: it may be
	// back in a moment (a restart), and repair handles it if not.
	if !busy && j.Settled() && !n.rebalanceReplicas(ctx, j, parts, rf) {
		n.rebalanceLeaders(ctx, j, parts)
	}
}

// settleNodes marks a decommissioned node that holds no replica removed, and
// forgets the removal of an id that is back with a new data directory.
func (n *Node) settleNodes(ctx context.Context, j placement.Judge, parts []catalogue.Placement) bool {
	for _, id := range slices.Sorted(mapKeys(j.Records)) {
		r := j.Records[id]
		if placement.Holds(parts, id) {
			continue
		}
		var cmd *catalogue.Command
		switch m := j.Members[id]; {
		case r.State == catalogue.StateDecommissioning:
			cmd = &catalogue.Command{Op: catalogue.OpSetNode, Node: id, State: catalogue.StateRemoved, Inc: r.Inc}
			n.log.Info("node decommissioned: it holds no replica any more", "node", id)
		case r.State == catalogue.StateRemoved && m.Alive && m.Inc != "" && m.Inc != r.Inc:
			if !n.identityGone(ctx, id, parts) {
				continue // its old identity is still in a Raft configuration
			}
			cmd = &catalogue.Command{Op: catalogue.OpSetNode, Node: id, State: "", Inc: raftInc(m)}
			n.log.Info("a removed node id is back with a new data directory: a new member", "node", id, "inc", m.Inc)
		default:
			continue
		}
		n.proposePlan(ctx, cmd)
		return true
	}
	return false
}

// repairPartition makes the one change partition p needs most, if any.
func (n *Node) repairPartition(ctx context.Context, j placement.Judge, parts []catalogue.Placement, p catalogue.Placement, rf int, busy bool) bool {
	var good, draining, lost []string
	for _, id := range p.Replicas {
		switch j.Cond(id) {
		case placement.CondGood:
			good = append(good, id)
		case placement.CondDraining:
			draining = append(draining, id)
		default:
			lost = append(lost, id)
		}
	}
	switch {
	case len(lost) > 0 && len(good)+len(draining) > 0:
		n.log.Info("dropping replicas on lost nodes", "partition", p.ID, "nodes", lost)
		return n.proposeSet(ctx, p, placement.Without(p.Replicas, lost...), nil)
	case len(good) < rf:
		if busy {
			return false
		}
		if m, ok := placement.LeastLoaded(j, parts, p.Replicas); ok {
			n.log.Info("adding a replica", "partition", p.ID, "node", m.ID)
			return n.proposeAdd(ctx, p, m)
		}
	}
	if len(draining) > 0 || len(p.Replicas) > rf {
		drop := draining
		if len(drop) == 0 {
			drop = []string{placement.MostLoaded(parts, p.Replicas)}
		}
		keep := placement.Without(p.Replicas, drop[0])
		if c, err := n.partitionConfig(ctx, p); err != nil || !c.votesAll(keep) {
			return false // the replacement still catches up
		}
		n.log.Info("dropping a replica", "partition", p.ID, "node", drop[0])
		return n.proposeSet(ctx, p, keep, nil)
	}
	if len(p.Replicas) > 1 && j.Cond(p.Replicas[0]) == placement.CondDraining {
		for k, id := range p.Replicas[1:] {
			if j.Alive(id) && j.Cond(id) == placement.CondGood {
				return n.proposeSet(ctx, p, placement.ToFront(p.Replicas, k+1), nil)
			}
		}
	}
	return false
}

// rebalanceReplicas starts one move from the node holding the most replicas
// to the one holding the fewest, while they differ by more than one.
func (n *Node) rebalanceReplicas(ctx context.Context, j placement.Judge, parts []catalogue.Placement, rf int) bool {
	nodes := j.Placeable()
	if len(nodes) < 2 {
		return false
	}
	count := map[string]int{}
	for _, p := range parts {
		for _, id := range p.Replicas {
			count[id]++
		}
	}
	hi, lo := placement.Extremes(nodes, count)
	if count[hi.ID]-count[lo.ID] <= 1 {
		return false
	}
	for _, p := range parts {
		if len(p.Replicas) == rf && slices.Contains(p.Replicas, hi.ID) && !slices.Contains(p.Replicas, lo.ID) && placement.AllGood(j, p.Replicas) {
			n.log.Info("rebalancing: moving a replica", "partition", p.ID, "from", hi.ID, "to", lo.ID)
			return n.proposeAdd(ctx, p, lo)
		}
	}
	return false
}

// rebalanceLeaders makes one partition's preferred leader (its first
// replica) a node that prefers fewer, while two nodes differ by more than
// one; the balance loop then hands leadership over.
func (n *Node) rebalanceLeaders(ctx context.Context, j placement.Judge, parts []catalogue.Placement) bool {
	nodes := j.Placeable()
	if len(nodes) < 2 {
		return false
	}
	leads := map[string]int{}
	for _, p := range parts {
		if len(p.Replicas) > 0 {
			leads[p.Replicas[0]]++
		}
	}
	hi, _ := placement.Extremes(nodes, leads)
	for _, p := range parts {
		if len(p.Replicas) < 2 || p.Replicas[0] != hi.ID {
			continue
		}
		best := -1
		for k, id := range p.Replicas[1:] {
			if j.Alive(id) && j.Cond(id) == placement.CondGood && leads[id] < leads[hi.ID]-1 && (best < 0 || leads[id] < leads[p.Replicas[best]]) {
				best = k + 1
			}
		}
		if best > 0 {
			n.log.Info("rebalancing: new preferred leader", "partition", p.ID, "from", hi.ID, "to", p.Replicas[best])
			return n.proposeSet(ctx, p, placement.ToFront(p.Replicas, best), nil)
		}
	}
	return false
}

// proposeAdd appends node m to p's replica set and tracks it until it votes.
func (n *Node) proposeAdd(ctx context.Context, p catalogue.Placement, m Member) bool {
	if n.proposeSet(ctx, p, append(slices.Clone(p.Replicas), m.ID), map[string]string{m.ID: m.RaftAddr}) {
		n.moves.add(p.ID, m.ID)
	}
	return true
}

// proposeSet commits p's new replica set if p still has the set it was
// planned from. It reports whether the catalogue changed.
func (n *Node) proposeSet(ctx context.Context, p catalogue.Placement, set []string, addrs map[string]string) bool {
	return n.proposePlan(ctx, &catalogue.Command{Op: catalogue.OpSetReplicas, QueueID: p.Queue.ID, Index: p.Index, Expect: p.Replicas, Set: set, Addrs: addrs})
}

func (n *Node) proposePlan(ctx context.Context, cmd *catalogue.Command) bool {
	if _, err := n.proposeMetaLocal(ctx, cmd); err != nil {
		n.log.Warn("membership change not committed", "op", cmd.Op, "err", err)
		return false
	}
	return true
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// groupConfig is a partition group's Raft configuration as its leader sees it.
type groupConfig struct {
	Voters    []string `json:"voters"`
	Nonvoters []string `json:"nonvoters"`
	// Uncommitted: the leader's latest configuration is not committed yet
	// (absent from older nodes' answers).
	Uncommitted bool `json:"uncommitted,omitempty"`
}

func (c groupConfig) votes(id string) bool { return slices.Contains(c.Voters, id) }

func (c groupConfig) votesAll(ids []string) bool {
	for _, id := range ids {
		if !c.votes(id) {
			return false
		}
	}
	return true
}

func configOf(servers []raft.Server) groupConfig {
	c := groupConfig{Voters: []string{}, Nonvoters: []string{}}
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			c.Voters = append(c.Voters, string(s.ID))
		} else {
			c.Nonvoters = append(c.Nonvoters, string(s.ID))
		}
	}
	return c
}

// partitionConfig asks p's leader for its group's configuration.
func (n *Node) partitionConfig(ctx context.Context, p catalogue.Placement) (groupConfig, error) {
	leader := n.partitionLeader(ctx, p)
	if leader == "" {
		return groupConfig{}, fmt.Errorf("%w: partition %s has no leader", ErrUnavailable, p.ID)
	}
	if leader == n.cfg.NodeID {
		r, ok := n.host.Get(p.ID)
		if !ok || !r.IsLeader() {
			return groupConfig{}, fmt.Errorf("%w: not the leader of %s", ErrUnavailable, p.ID)
		}
		return committedConfigOf(r.ConfigurationCommitted())
	}
	body, _ := json.Marshal(leaderRequest{Partition: p.ID})
	var c groupConfig
	err := n.call(ctx, leader, rpcConfig, body, &c)
	return c, err
}

// partitionLeader is p's leader as the local replica knows it, or as the
// first replica that names one says; "" when none does.
func (n *Node) partitionLeader(ctx context.Context, p catalogue.Placement) string {
	if r, ok := n.host.Get(p.ID); ok {
		if id := r.Leader(); id != "" {
			return id
		}
	}
	body, _ := json.Marshal(leaderRequest{Partition: p.ID})
	for _, id := range p.Replicas {
		if id == n.cfg.NodeID {
			continue
		}
		var a leaderAnswer
		if n.call(ctx, id, rpcLeader, body, &a) == nil && a.Leader != "" {
			return a.Leader
		}
	}
	return ""
}
