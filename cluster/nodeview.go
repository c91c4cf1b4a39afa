package cluster

import (
	"slices"
	"time"
)

// This file judges each node for membership decisions (repair.go,
// metavoters.go) and for GET /v1/cluster: gossip says whether a node is
// alive and since when it is not; the catalogue says whether it is being
// decommissioned or was removed.

// nodeCond is how membership decisions treat a node.
type nodeCond int

const (
	condGood     nodeCond = iota // a member: alive, or dead for less than DeadNodeTimeout
	condDraining                 // being decommissioned: its replicas move away first
	condLost                     // removed, or dead for DeadNodeTimeout: its replicas are rebuilt elsewhere
)

// suspectWindow is how long a node that gossip found failed shows as
// suspect before it shows as dead (at most DeadNodeTimeout).
const suspectWindow = 5 * time.Second

// nodeJudge is a snapshot of what is known of every node.
type nodeJudge struct {
	members map[string]Member
	records map[string]nodeRecord
	started time.Time
	timeout time.Duration
	now     time.Time
}

func (n *Node) judge() nodeJudge {
	j := nodeJudge{members: map[string]Member{}, records: n.cat.nodeStates(), started: n.started, timeout: n.cfg.DeadNodeTimeout, now: time.Now()}
	for _, m := range n.members.Members() {
		j.members[m.ID] = m
	}
	return j
}

// alive reports whether gossip finds node id alive.
func (j nodeJudge) alive(id string) bool { return j.members[id].Alive }

// downFor is how long node id has been failed; a node gossip never saw
// counts from this node's start.
func (j nodeJudge) downFor(id string) time.Duration {
	m, ok := j.members[id]
	switch {
	case ok && m.Alive:
		return 0
	case ok && !m.DownSince.IsZero():
		return j.now.Sub(m.DownSince)
	}
	return j.now.Sub(j.started)
}

// removed reports whether node id, as gossip knows it now, is the
// incarnation the catalogue removed (a node back with an empty data
// directory is a new member).
func (j nodeJudge) removed(id string) bool {
	r := j.records[id]
	if r.State != stateRemoved {
		return false
	}
	m, ok := j.members[id]
	return !ok || !m.Alive || r.Inc == "" || m.Inc == r.Inc
}

func (j nodeJudge) cond(id string) nodeCond {
	switch {
	case j.removed(id), j.records[id].State == stateRemoved:
		return condLost
	case !j.alive(id) && j.downFor(id) >= j.timeout:
		return condLost
	case j.records[id].State == stateDecommissioning:
		return condDraining
	}
	return condGood
}

// settled reports whether no node is down for less than DeadNodeTimeout.
func (j nodeJudge) settled() bool {
	for id, m := range j.members {
		if !m.Alive && j.cond(id) == condGood {
			return false
		}
	}
	return true
}

// placeable lists, sorted, the alive nodes that may take new replicas.
func (j nodeJudge) placeable() []Member {
	var out []Member
	for _, m := range j.members {
		if m.Alive && m.RaftAddr != "" && j.records[m.ID].State == "" {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// replicationTarget is how many replicas each partition should have: three,
// or every node that may hold one when fewer (alive members, and dead ones
// still within DeadNodeTimeout).
func (j nodeJudge) replicationTarget(parts []placement) int {
	good := map[string]bool{}
	for id := range j.members {
		if j.cond(id) == condGood {
			good[id] = true
		}
	}
	for _, p := range parts {
		for _, id := range p.Replicas {
			if j.cond(id) == condGood {
				good[id] = true
			}
		}
	}
	return min(replicationFactor, len(good))
}

// state is node id's state for GET /v1/cluster: alive, suspect, dead or
// decommissioning; "" for a node that is no longer listed (removed).
func (j nodeJudge) state(id string) string {
	switch {
	case j.removed(id):
		return ""
	case j.records[id].State == stateDecommissioning:
		return stateDecommissioning
	case j.records[id].State == stateRemoved:
		return stateDecommissioning // back with a new data directory, not yet admitted
	case j.alive(id):
		return "alive"
	case j.downFor(id) < min(suspectWindow, j.timeout):
		return "suspect"
	}
	return "dead"
}
