package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/placement"
)

// Membership errors of the node endpoints (API.md section 7); match with
// errors.Is.
var (
	// ErrNodeNotFound: no such node, or it was removed already.
	ErrNodeNotFound = errors.New("cluster: node not found")
	// ErrNodeConflict: the node's state forbids the change (removing a
	// node that is alive or suspect; decommissioning the last node).
	ErrNodeConflict = errors.New("cluster: node state forbids the change")
)

// leaveGrace bounds how long a removed node waits to see itself leave the
// metadata group before it reports that it may stop.
const leaveGrace = 15 * time.Second

// Decommission starts moving every replica and leadership off node id; once
// it holds none, the metadata leader removes it from the metadata group and
// the membership, and the node stops (Left).
func (n *Node) Decommission(ctx context.Context, id string) error {
	j := n.judge()
	if !n.knownNode(j, id) {
		return ErrNodeNotFound
	}
	if j.Records[id].State == catalogue.StateDecommissioning {
		return nil
	}
	if j.Records[id].State == catalogue.StateRemoved {
		return fmt.Errorf("%w: node %s is back with a new data directory and is being replaced", ErrNodeConflict, id)
	}
	if !slices.ContainsFunc(j.Placeable(), func(m Member) bool { return m.ID != id }) {
		return fmt.Errorf("%w: no other node could take its replicas", ErrNodeConflict)
	}
	_, err := n.proposeMeta(ctx, &catalogue.Command{Op: catalogue.OpSetNode, Node: id, State: catalogue.StateDecommissioning, Inc: j.Members[id].Inc})
	return err
}

// RemoveNode removes a dead node at once: its replicas are rebuilt on other
// nodes without waiting for DeadNodeTimeout. An alive or suspect node must
// be decommissioned instead (ErrNodeConflict).
func (n *Node) RemoveNode(ctx context.Context, id string) error {
	j := n.judge()
	if !n.knownNode(j, id) {
		return ErrNodeNotFound
	}
	if j.Alive(id) || j.State(id) == "suspect" {
		return fmt.Errorf("%w: node %s is %s; decommission it instead", ErrNodeConflict, id, map[bool]string{true: "alive", false: "suspect"}[j.Alive(id)])
	}
	_, err := n.proposeMeta(ctx, &catalogue.Command{Op: catalogue.OpSetNode, Node: id, State: catalogue.StateRemoved, Inc: j.Members[id].Inc})
	return err
}

// knownNode reports whether id names a node of the cluster that was not
// removed: one gossip knows, or one the catalogue or the metadata group
// still names.
func (n *Node) knownNode(j placement.Judge, id string) bool {
	if j.Removed(id) {
		return false
	}
	if _, ok := j.Members[id]; ok {
		return true
	}
	if _, ok := j.Records[id]; ok || n.holdsReplicas(id) {
		return true
	}
	servers, err := n.meta.Configuration()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}

// Left is closed once this node was removed from the cluster (decommissioned):
// it serves nothing any more and the process may exit.
func (n *Node) Left() <-chan struct{} { return n.left }

// leaveLoop watches the catalogue for this node's own removal.
func (n *Node) leaveLoop() {
	var since time.Time
	n.every(time.Second, func() []<-chan struct{} { return []<-chan struct{}{n.cat.Changed()} }, func() bool {
		r := n.cat.NodeState(n.cfg.NodeID)
		if r.State != catalogue.StateRemoved || r.Inc != n.inc {
			since = time.Time{}
			return true
		}
		if since.IsZero() {
			since = time.Now()
			n.log.Info("this node was removed from the cluster; leaving")
		}
		if n.inMetaGroup() && time.Since(since) < leaveGrace {
			return true
		}
		n.leave()
		return false
	})
}

// leave closes Left, once.
func (n *Node) leave() { n.leaveOnce.Do(func() { close(n.left) }) }

// leaveRequest is the body of rpcLeave: the metadata leader tells a removed
// node, which may not have applied its removal before it left the metadata
// group, that it may stop. Inc names the incarnation removed, so a node back
// under the same id with a new data directory is not stopped.
type leaveRequest struct {
	Inc string `json:"inc"`
}

// tellLeave is the metadata leader's best-effort rpcLeave to node id.
func (n *Node) tellLeave(id, inc string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	body, _ := json.Marshal(leaveRequest{Inc: inc})
	if err := n.call(ctx, id, rpcLeave, body, nil); err != nil {
		n.log.Debug("telling a removed node to leave", "node", id, "err", err)
	}
}

// serveLeave answers rpcLeave.
func (n *Node) serveLeave(body []byte) (any, error) {
	var req leaveRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &badRPCError{err.Error()}
	}
	if req.Inc == "" || req.Inc != n.inc {
		return nil, &badRPCError{"not this node's incarnation"}
	}
	n.log.Info("the metadata leader says this node was removed; leaving")
	n.leave()
	return struct{}{}, nil
}

// inMetaGroup reports whether this node's view of the metadata group still
// names it.
func (n *Node) inMetaGroup() bool {
	servers, err := n.meta.Configuration()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if string(s.ID) == n.cfg.NodeID {
			return true
		}
	}
	return false
}
