package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/cluster/placement"
	"raftmq/partition"
)

// place chooses the replica sets of a new queue's partitions
// (placement.Place) among the alive nodes that may take replicas, and
// returns the chosen nodes' Raft addresses.
func (n *Node) place(parts int) ([][]string, map[string]string) {
	nodes := n.judge().Placeable() // not on nodes being decommissioned or removed
	if len(nodes) == 0 {           // gossip has not seen even this node yet
		nodes = []Member{{ID: n.cfg.NodeID, RaftAddr: n.cfg.RaftAddr}}
	}
	return placement.Place(nodes, n.cat.Placements(), parts)
}

// reconcileLoop starts and stops local replicas as the catalogue changes.
func (n *Node) reconcileLoop() {
	n.every(5*time.Second, func() []<-chan struct{} { return []<-chan struct{}{n.cat.Changed()} }, func() bool {
		n.reconcile()
		return true
	})
}

// reconcile makes the local replicas match the catalogue's placements. Every
// founding replica of a partition that never moved bootstraps its group with
// the same server list, taken from the catalogue; a replica added later
// starts empty and waits for the group's leader to add it.
func (n *Node) reconcile() {
	n.reconcileMu.Lock()
	defer n.reconcileMu.Unlock()
	want, all := map[string]bool{}, map[string]bool{}
	for _, p := range n.cat.Placements() {
		all[p.ID] = true
		if !slices.Contains(p.Replicas, n.cfg.NodeID) {
			continue
		}
		want[p.ID] = true
		delete(n.unwanted, p.ID)
		if _, ok := n.host.Get(p.ID); ok || !n.admitted() {
			continue // a wiped node starts no replica before it is admitted
		}
		var servers []raft.Server
		if p.Founding {
			for _, id := range p.Replicas {
				addr := p.Addrs[id]
				if id == n.cfg.NodeID && addr == "" {
					addr = n.cfg.RaftAddr
				}
				servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: n.peerAddr(id, addr)})
			}
		}
		if _, err := n.host.Ensure(partition.Spec{ID: p.ID, Policy: p.Queue.Policy(), Servers: servers}); errors.Is(err, partition.ErrCorrupt) {
			n.fail(fmt.Errorf("cluster: the replica of %s on this node is corrupt, refusing to run: %w", p.ID, err))
			return
		} else if err != nil {
			n.log.Error("starting partition replica", "partition", p.ID, "err", err)
		}
	}
	for _, id := range n.host.IDs() {
		if !want[id] && (!all[id] || n.mayDrop(id)) {
			delete(n.unwanted, id)
			if err := n.host.Remove(id); err != nil {
				n.log.Error("removing partition replica", "partition", id, "err", err)
			}
		}
	}
}

// unwantedGrace bounds how long a replica that moved away keeps running
// while its group still names it.
const unwantedGrace = 20 * time.Second

// mayDrop reports whether the local replica of partition id, which the
// catalogue no longer places here, may stop now: it does not lead (a leader
// hands leadership over first), and its group no longer names it or
// unwantedGrace has passed. Stopping a voter the group still counts would
// cost the group a vote until its leader removes it.
func (n *Node) mayDrop(id string) bool {
	r, ok := n.host.Get(id)
	if !ok {
		return true
	}
	first, seen := n.unwanted[id]
	if !seen {
		first = time.Now()
		n.unwanted[id] = first
	}
	if r.IsLeader() {
		_ = r.TransferLeadership()
		return false
	}
	if time.Since(first) > unwantedGrace {
		return true
	}
	servers, err := r.Configuration()
	if err != nil {
		return true
	}
	return !slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == n.cfg.NodeID })
}

// balanceInterval is how often a node hands partitions back to their
// preferred leaders.
const balanceInterval = 3 * time.Second

// balanceLoop gives leadership back to each partition's preferred leader once
// that node is alive again, so leaders stay spread after a failover.
func (n *Node) balanceLoop() {
	n.every(balanceInterval, nil, func() bool {
		for _, p := range n.cat.Placements() {
			if len(p.Replicas) < 2 || p.Replicas[0] == n.cfg.NodeID {
				continue
			}
			r, ok := n.host.Get(p.ID)
			if !ok || !r.IsLeader() {
				continue
			}
			pref, ok := n.members.Member(p.Replicas[0])
			if !ok || !pref.Alive || !n.followsUs(p.ID, pref.ID) {
				continue
			}
			if err := r.TransferLeadershipTo(pref.ID, string(n.peerAddr(pref.ID, pref.RaftAddr))); err != nil {
				n.log.Debug("leadership transfer to preferred leader", "partition", p.ID, "to", pref.ID, "err", err)
			}
			select {
			case <-n.stop:
				return false
			default:
			}
		}
		return true
	})
}

// followsUs reports whether node id's replica of partition pid names this
// node as its leader. Alive in gossip is not enough to hand leadership to a
// node: one whose Raft traffic is lost (a "deaf" node) cannot catch up, and
// while hashicorp/raft tries for an election timeout it refuses every
// proposal, again at each balance round.
func (n *Node) followsUs(pid, id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	body, _ := json.Marshal(leaderRequest{Partition: pid})
	var a leaderAnswer
	return n.call(ctx, id, rpcLeader, body, &a) == nil && a.Leader == n.cfg.NodeID
}

// Status describes the cluster as this node sees it: every node that was
// not removed, with its state, and every partition with its leader (asked
// of the replicas when this node holds none).
func (n *Node) Status() Status {
	st := Status{NodeID: n.cfg.NodeID, MetaLeader: n.meta.Leader(), Nodes: []NodeInfo{}, Partitions: []PartitionInfo{}}
	j := n.judge()
	for _, m := range n.members.Members() {
		state := j.State(m.ID)
		if state == "" {
			continue
		}
		st.Nodes = append(st.Nodes, NodeInfo{ID: m.ID, HTTPAddr: m.HTTPAddr, RaftAddr: m.RaftAddr, GossipAddr: m.GossipAddr, Alive: m.Alive, State: state, DiskLow: m.DiskLow})
	}
	parts := n.cat.Placements()
	st.Partitions = make([]PartitionInfo, len(parts))
	ctx, cancel := context.WithTimeout(context.Background(), statusLeaderWait)
	defer cancel()
	var wg sync.WaitGroup
	for k, p := range parts {
		st.Partitions[k] = PartitionInfo{ID: p.ID, QueueID: p.Queue.ID, QueueName: p.Queue.Name, Project: p.Queue.Project, Replicas: p.Replicas}
		if r, ok := n.host.Get(p.ID); ok && r.Leader() != "" {
			st.Partitions[k].Leader = r.Leader()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.Partitions[k].Leader = n.partitionLeader(ctx, p)
		}()
	}
	wg.Wait()
	return st
}

// statusLeaderWait bounds how long Status asks other nodes for the leaders
// of partitions this node holds no replica of.
const statusLeaderWait = time.Second
