package cluster

import (
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/placement"
)

// metaMembersLoop runs on every node; while it leads the metadata group it
// keeps the group's members in step with the cluster (metaMembersOnce).
func (n *Node) metaMembersLoop() {
	n.every(2*time.Second, func() []<-chan struct{} {
		return []<-chan struct{}{n.members.Changed(), n.meta.LeadershipChanged(), n.cat.Changed()}
	}, func() bool {
		if n.meta.IsLeader() {
			n.metaMembersOnce()
		}
		return true
	})
}

// metaMembersOnce makes the metadata group hold every member, an odd number
// of them (at most five) voting: removed and decommissioned nodes leave the
// group; every other alive node is added, as a non-voter first; the voters
// are the current voters that are alive, then other alive members by id,
// then current voters that are dead but not yet for DeadNodeTimeout. A
// leader that must stop voting hands leadership over first.
func (n *Node) metaMembersOnce() {
	servers, err := n.meta.Configuration()
	if err != nil {
		return
	}
	j := n.judge()
	in := map[string]raft.ServerSuffrage{}
	for _, s := range servers {
		in[string(s.ID)] = s.Suffrage
	}
	self := n.cfg.NodeID
	for id := range in {
		// A decommissioned node leaves once the catalogue says removed:
		// it must apply that entry to know it may stop (leaveLoop). A
		// removed id that is back with a new data directory is still the
		// old identity here: a new one is added only once admitted.
		if j.Records[id].State == catalogue.StateRemoved {
			if id == self {
				_ = n.meta.TransferLeadership()
				return
			}
			n.log.Info("removing node from the metadata group", "node", id)
			if err := n.meta.RemoveServer(id); err != nil {
				n.log.Warn("metadata group: remove", "node", id, "err", err)
			} else if j.Alive(id) {
				n.tellLeave(id, j.Records[id].Inc)
			}
			delete(in, id)
		}
	}
	voters := placement.MetaVoters(j, in)
	if len(voters) == 0 {
		return // gossip does not even list this node yet
	}
	for _, m := range j.Placeable() {
		if _, ok := in[m.ID]; !ok && !slices.Contains(voters, m.ID) {
			n.log.Info("adding node to the metadata group as a non-voter", "node", m.ID)
			if err := n.meta.AddNonvoter(m.ID, string(n.peerAddr(m.ID, m.RaftAddr))); err != nil {
				n.log.Warn("metadata group: add non-voter", "node", m.ID, "err", err)
			}
		}
	}
	for _, id := range voters {
		if s, ok := in[id]; !ok || s != raft.Voter {
			n.log.Info("making node a metadata voter", "node", id)
			if err := n.meta.AddVoter(id, string(n.peerAddr(id, j.Members[id].RaftAddr))); err != nil {
				n.log.Warn("metadata group: add voter", "node", id, "err", err)
			}
		}
	}
	for id, s := range in {
		if s == raft.Voter && !slices.Contains(voters, id) {
			if id == self {
				_ = n.meta.TransferLeadership()
				return
			}
			n.log.Info("making node a metadata non-voter", "node", id)
			if err := n.meta.DemoteVoter(id); err != nil {
				n.log.Warn("metadata group: demote", "node", id, "err", err)
			}
		}
	}
}

// holdsReplicas reports whether the catalogue places a replica on node id.
// (A decommissioning node stays in the metadata group, as a non-voter,
// until it is removed.)
func (n *Node) holdsReplicas(id string) bool {
	for _, p := range n.cat.Placements() {
		if slices.Contains(p.Replicas, id) {
			return true
		}
	}
	return false
}
