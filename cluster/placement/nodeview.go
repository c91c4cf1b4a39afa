package placement

import (
	"slices"
	"time"

	"raftmq/cluster/catalogue"
)

// This file judges each node for membership decisions (cluster's repair
// and metadata voters) and for GET /v1/cluster: gossip says whether a node is
// Alive and since when it is not; the catalogue says whether it is being
// decommissioned or was removed.

// Condition is how membership decisions treat a node.
type Condition int

const (
	CondGood     Condition = iota // a member: alive, or dead for less than DeadNodeTimeout
	CondDraining                  // being decommissioned: its replicas move away first
	CondLost                      // removed, or dead for DeadNodeTimeout: its replicas are rebuilt elsewhere
)

// suspectWindow is how long a node that gossip found failed shows as
// suspect before it shows as dead (at most DeadNodeTimeout).
const suspectWindow = 5 * time.Second

// Judge is a snapshot of what is known of every node: gossip's view
// (Members), the catalogue's records, when this node started and the
// DeadNodeTimeout, at Now.
type Judge struct {
	Members map[string]Member
	Records map[string]catalogue.NodeRecord
	Started time.Time
	Timeout time.Duration
	Now     time.Time
}

// Alive reports whether gossip finds node id alive.
func (j Judge) Alive(id string) bool { return j.Members[id].Alive }

// downFor is how long node id has been failed; a node gossip never saw
// counts from this node's start.
func (j Judge) downFor(id string) time.Duration {
	m, ok := j.Members[id]
	switch {
	case ok && m.Alive:
		return 0
	case ok && !m.DownSince.IsZero():
		return j.Now.Sub(m.DownSince)
	}
	return j.Now.Sub(j.Started)
}

// Removed reports whether node id, as gossip knows it now, is the
// incarnation the catalogue removed (a node back with an empty data
// directory is a new member).
func (j Judge) Removed(id string) bool {
	r := j.Records[id]
	if r.State != catalogue.StateRemoved {
		return false
	}
	m, ok := j.Members[id]
	return !ok || !m.Alive || r.Inc == "" || m.Inc == r.Inc
}

// Cond is how membership decisions treat node id.
func (j Judge) Cond(id string) Condition {
	switch {
	case j.Removed(id), j.Records[id].State == catalogue.StateRemoved:
		return CondLost
	case !j.Alive(id) && j.downFor(id) >= j.Timeout:
		return CondLost
	case j.Records[id].State == catalogue.StateDecommissioning:
		return CondDraining
	}
	return CondGood
}

// Settled reports whether no node is down for less than DeadNodeTimeout.
func (j Judge) Settled() bool {
	for id, m := range j.Members {
		if !m.Alive && j.Cond(id) == CondGood {
			return false
		}
	}
	return true
}

// Placeable lists, sorted, the alive nodes that may take new replicas.
func (j Judge) Placeable() []Member {
	var out []Member
	for _, m := range j.Members {
		if m.Alive && m.RaftAddr != "" && j.Records[m.ID].State == "" {
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

// ReplicationTarget is how many replicas each partition should have: three,
// or every node that may hold one when fewer (alive members, and dead ones
// still within DeadNodeTimeout).
func (j Judge) ReplicationTarget(parts []catalogue.Placement) int {
	good := map[string]bool{}
	for id := range j.Members {
		if j.Cond(id) == CondGood {
			good[id] = true
		}
	}
	for _, p := range parts {
		for _, id := range p.Replicas {
			if j.Cond(id) == CondGood {
				good[id] = true
			}
		}
	}
	return min(replicationFactor, len(good))
}

// State is node id's state for GET /v1/cluster: alive, suspect, dead or
// decommissioning; "" for a node that is no longer listed (removed).
func (j Judge) State(id string) string {
	switch {
	case j.Removed(id):
		return ""
	case j.Records[id].State == catalogue.StateDecommissioning:
		return catalogue.StateDecommissioning
	case j.Records[id].State == catalogue.StateRemoved:
		return catalogue.StateDecommissioning // back with a new data directory, not yet admitted
	case j.Alive(id):
		return "alive"
	case j.downFor(id) < min(suspectWindow, j.Timeout):
		return "suspect"
	}
	return "dead"
}
