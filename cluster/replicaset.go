package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
	"raftmq/partition"
)

// The leader of each partition makes its group's Raft configuration match
// the replica set the catalogue holds: a replica the set names is added as
// a non-voter, promoted once it has caught up (maxCatchUpLag), and only when
// every named replica votes are the others removed. A leader that must go
// hands leadership to another voter first.

// maxCatchUpLag is how many entries an added replica may still be behind
// the leader's applied index when it is promoted to voter.
const maxCatchUpLag = 64

// replicaSetLoop runs on every node, for the partitions it leads.
func (n *Node) replicaSetLoop() {
	n.every(time.Second, func() []<-chan struct{} { return []<-chan struct{}{n.cat.Changed()} }, func() bool {
		for _, p := range n.cat.Placements() {
			r, ok := n.host.Get(p.ID)
			if !ok || !r.IsLeader() {
				continue
			}
			n.alignGroup(r, p)
			select {
			case <-n.stop:
				return false
			default:
			}
		}
		return true
	})
}

// alignGroup takes one step towards p's replica set on the group r leads.
func (n *Node) alignGroup(r *partition.Replica, p catalogue.Placement) {
	servers, err := r.Configuration()
	if err != nil {
		return
	}
	conf := map[string]raft.ServerSuffrage{}
	for _, s := range servers {
		conf[string(s.ID)] = s.Suffrage
	}
	pending := false
	for _, id := range p.Replicas {
		s, in := conf[id]
		if in && s == raft.Voter {
			continue
		}
		pending = true
		addr := n.raftAddrOf(id, p)
		switch {
		case !in:
			n.log.Info("adding a replica as a non-voter", "partition", p.ID, "node", id)
			if err := r.AddNonvoter(id, addr); err != nil {
				n.log.Warn("add non-voter", "partition", p.ID, "node", id, "err", err)
			}
		case n.replicaCaughtUp(r, id):
			n.log.Info("promoting a caught-up replica to voter", "partition", p.ID, "node", id)
			if err := r.AddVoter(id, addr); err != nil {
				n.log.Warn("promote replica", "partition", p.ID, "node", id, "err", err)
			}
		}
	}
	if pending {
		return // removals wait until every replica of the set votes
	}
	for id := range conf {
		if slices.Contains(p.Replicas, id) {
			continue
		}
		if id == n.cfg.NodeID {
			_ = r.TransferLeadership()
			return
		}
		n.log.Info("removing a replica from its group", "partition", p.ID, "node", id)
		if err := r.RemoveServer(id); err != nil {
			n.log.Warn("remove replica", "partition", p.ID, "node", id, "err", err)
		}
	}
}

// raftAddrOf is node id's Raft address, from gossip or the catalogue, with
// its admitted incarnation.
func (n *Node) raftAddrOf(id string, p catalogue.Placement) string {
	if m, ok := n.members.Member(id); ok && m.RaftAddr != "" {
		return string(n.peerAddr(id, m.RaftAddr))
	}
	return string(n.peerAddr(id, p.Addrs[id]))
}

// replicaCaughtUp reports whether node id's replica has applied within
// maxCatchUpLag entries of what r (the leader) has applied.
func (n *Node) replicaCaughtUp(r *partition.Replica, id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	body, _ := json.Marshal(leaderRequest{Partition: r.ID()})
	var idx uint64
	if err := n.call(ctx, id, rpcApplied, body, &idx); err != nil {
		return false
	}
	return idx+maxCatchUpLag >= r.AppliedIndex()
}

// serveGroupInfo answers rpcConfig (this node must lead the partition) and
// rpcApplied.
func (n *Node) serveGroupInfo(op string, body []byte) (any, error) {
	var req leaderRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &badRPCError{err.Error()}
	}
	r, ok := n.host.Get(req.Partition)
	if !ok {
		return nil, &partition.NotLeaderError{Group: req.Partition}
	}
	if op == rpcApplied {
		return r.AppliedIndex(), nil
	}
	if !r.IsLeader() {
		return nil, &partition.NotLeaderError{Group: req.Partition, LeaderID: r.Leader()}
	}
	return committedConfigOf(r.ConfigurationCommitted())
}
