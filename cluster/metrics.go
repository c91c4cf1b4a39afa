package cluster

import (
	"strconv"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
	"raftmq/partition"
)

// PartitionMetrics are the monitoring figures of one partition this node
// leads. Only the leader reports a partition, so that summing over nodes
// counts each once.
type PartitionMetrics struct {
	Project   string
	Queue     string // name
	Partition int
	// Produced is how many messages the partition was ever given (its next
	// offset): a counter that only the leader reports.
	Produced int64
	Groups   []GroupMetrics
}

// GroupMetrics are one group's figures in one partition.
type GroupMetrics struct {
	Group string // name
	fsm.GroupGauges
}

// RaftMetrics describe this node's member of one Raft group.
type RaftMetrics struct {
	Group        string // "meta" or "{project}/{queue}/{partition}"
	Leader       bool
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
}

// PartitionMetrics lists the partitions this node leads, with their groups.
func (n *Node) PartitionMetrics() []PartitionMetrics {
	var out []PartitionMetrics
	for _, p := range n.cat.Placements() {
		r, ok := n.host.Get(p.ID)
		if !ok || !r.IsLeader() {
			continue
		}
		pm := PartitionMetrics{Project: p.Queue.Project, Queue: p.Queue.Name, Partition: p.Index}
		r.Read(func(s *fsm.State) {
			_, next := s.Offsets()
			pm.Produced = int64(next)
			for _, g := range p.Queue.Groups {
				pm.Groups = append(pm.Groups, GroupMetrics{Group: g.Name, GroupGauges: s.Gauges(fsm.GroupID(g.ID))})
			}
		})
		out = append(out, pm)
	}
	return out
}

// RaftMetrics lists every Raft group this node is a member of.
func (n *Node) RaftMetrics() []RaftMetrics {
	out := []RaftMetrics{n.raftMetrics("meta", n.meta)}
	for _, p := range n.cat.Placements() {
		if r, ok := n.host.Get(p.ID); ok {
			out = append(out, n.raftMetrics(p.Queue.Project+"/"+p.Queue.Name+"/"+strconv.Itoa(p.Index), r.Node))
		}
	}
	return out
}

// raftMetrics describes this node's member of one group. Leader is Raft's
// own view (the leader GET /v1/cluster shows), set a moment before the new
// leader has applied its predecessors' entries and serves.
func (n *Node) raftMetrics(group string, pn *partition.Node) RaftMetrics {
	return RaftMetrics{Group: group, Leader: pn.Leader() == n.cfg.NodeID, Term: pn.Term(), CommitIndex: pn.CommitIndex(), AppliedIndex: pn.AppliedIndex()}
}

// NodeStates counts the cluster's nodes by state as this node sees them.
func (n *Node) NodeStates() map[string]int {
	out := map[string]int{"alive": 0, "suspect": 0, "dead": 0, catalogue.StateDecommissioning: 0}
	j := n.judge()
	for _, m := range n.members.Members() {
		if state := j.State(m.ID); state != "" {
			out[state]++
		}
	}
	return out
}
