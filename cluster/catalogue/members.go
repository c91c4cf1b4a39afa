package catalogue

import (
	"errors"
	"maps"
	"slices"
	"sort"
)

// Node states the catalogue records (API.md section 7). A node without a
// record is a plain member; its liveness comes from gossip.
const (
	StateDecommissioning = "decommissioning" // its replicas move away, then it leaves
	StateRemoved         = "removed"         // no longer a member; Inc names the incarnation removed
)

// NodeRecord is a node's membership state in the catalogue.
type NodeRecord struct {
	State string `json:"state"`
	Inc   string `json:"inc,omitempty"` // the incarnation the state applies to
}

// ErrReplicaSetChanged reports a set_replicas decided on a stale view: the
// partition's set is no longer what the proposer saw.
var ErrReplicaSetChanged = errors.New("cluster: replica set changed meanwhile")

// applySetReplicas replaces one partition's replica set when it is still
// the one the proposer saw, and records that the partition moved.
func (c *Catalogue) applySetReplicas(cmd *Command) Result {
	r, ok := c.st.Queues[cmd.QueueID]
	if !ok {
		return Result{Err: ErrQueueNotFound}
	}
	if cmd.Index < 0 || cmd.Index >= len(r.Replicas) {
		return Result{Err: ErrQueueNotFound}
	}
	if !slices.Equal(r.Replicas[cmd.Index], cmd.Expect) {
		return Result{Err: ErrReplicaSetChanged}
	}
	if len(r.Moved) != len(r.Replicas) {
		r.Moved = make([]bool, len(r.Replicas))
	}
	if !sameMembers(r.Replicas[cmd.Index], cmd.Set) {
		r.Moved[cmd.Index] = true
	}
	r.Replicas[cmd.Index] = slices.Clone(cmd.Set)
	if len(cmd.Addrs) > 0 {
		addrs := maps.Clone(r.Addrs)
		if addrs == nil {
			addrs = map[string]string{}
		}
		maps.Copy(addrs, cmd.Addrs)
		r.Addrs = addrs
	}
	return Result{}
}

// sameMembers reports whether a and b hold the same node ids in any order.
func sameMembers(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(x, y)
}

// applySetNode records (or, with State "", clears) a node's state.
func (c *Catalogue) applySetNode(cmd *Command) Result {
	if c.st.Nodes == nil {
		c.st.Nodes = map[string]*NodeRecord{}
	}
	if cmd.State == "" {
		delete(c.st.Nodes, cmd.Node)
		if cmd.Inc != "" {
			if c.st.Incs == nil {
				c.st.Incs = map[string]string{}
			}
			c.st.Incs[cmd.Node] = cmd.Inc
		}
		return Result{}
	}
	c.st.Nodes[cmd.Node] = &NodeRecord{State: cmd.State, Inc: cmd.Inc}
	return Result{}
}

// NodeState returns the catalogue's record of node id (zero: a plain member).
func (c *Catalogue) NodeState(id string) NodeRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if r := c.st.Nodes[id]; r != nil {
		return *r
	}
	return NodeRecord{}
}

// NodeStates returns every node record, by node id.
func (c *Catalogue) NodeStates() map[string]NodeRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]NodeRecord, len(c.st.Nodes))
	for id, r := range c.st.Nodes {
		out[id] = *r
	}
	return out
}

// validateSetReplicas checks a set_replicas command's fields.
func (c *Command) validateSetReplicas() error {
	if !boundedString(c.QueueID, maxIDLen) {
		return invalid(c.Op, "queue id missing or too long")
	}
	if c.Index < 0 || c.Index >= maxPartitions {
		return invalid(c.Op, "partition index %d", c.Index)
	}
	if err := validateReplicaSet(c.Set); err != nil {
		return invalid(c.Op, "%v", err)
	}
	if err := validateReplicaSet(c.Expect); err != nil {
		return invalid(c.Op, "expected set: %v", err)
	}
	for id, a := range c.Addrs {
		if !boundedString(id, maxIDLen) || len(a) > maxIDLen {
			return invalid(c.Op, "bad address entry")
		}
	}
	return nil
}

// validateSetNode checks a set_node command's fields.
func (c *Command) validateSetNode() error {
	if !boundedString(c.Node, maxIDLen) || len(c.Inc) > maxIDLen {
		return invalid(c.Op, "node id or incarnation missing or too long")
	}
	switch c.State {
	case "", StateDecommissioning, StateRemoved:
		return nil
	}
	return invalid(c.Op, "state %q", c.State)
}
