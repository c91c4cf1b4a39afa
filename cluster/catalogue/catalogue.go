package catalogue

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/hashicorp/raft"
)

// The catalogue is the state machine of the metadata group: every project's
// queues, their consumer groups, each partition's replica set, and the
// cluster-wide handler key. Like the partition state machine it is
// deterministic: ids, times and keys are chosen by the proposer and carried in
// the command; quotas travel in the command too.

// Op names a catalogue command. Values are part of the log format.
type Op string

const (
	OpSetKey       Op = "set_key"
	OpCreateQueue  Op = "create_queue"
	OpDeleteQueue  Op = "delete_queue"
	OpCreateGroups Op = "create_groups"
	OpDeleteGroup  Op = "delete_group"
	OpSetReplicas  Op = "set_replicas" // one partition's replica set (members.go)
	OpSetNode      Op = "set_node"     // a node's membership state (members.go)
)

// Command is one catalogue log entry, JSON-encoded: the metadata group
// carries few, small entries, so readability wins over compactness.
type Command struct {
	Op       Op                `json:"op"`
	Key      []byte            `json:"key,omitempty"`
	Queue    *Queue            `json:"queue,omitempty"`
	Replicas [][]string        `json:"replicas,omitempty"`
	Addrs    map[string]string `json:"addrs,omitempty"` // Raft address of each replica node at placement
	Project  string            `json:"project,omitempty"`
	QueueID  string            `json:"queue_id,omitempty"`
	GroupID  string            `json:"group_id,omitempty"`
	Groups   []Group           `json:"groups,omitempty"`
	Limit    int               `json:"limit,omitempty"`  // the quota in force when proposed
	Action   string            `json:"action,omitempty"` // OpQueueTags: TagActionCreate or TagActionDelete
	Tags     []QueueTag        `json:"tags,omitempty"`   // OpQueueTags
	// set_replicas: partition Index of QueueID gets Set, if its replica set
	// is still Expect (a decision taken on a stale view changes nothing).
	Index  int      `json:"index,omitempty"`
	Set    []string `json:"set,omitempty"`
	Expect []string `json:"expect,omitempty"`
	// set_node: Node gets State ("" clears it); Inc is the node's
	// incarnation (a fresh data directory draws a new one). With State ""
	// a non-empty Inc is recorded as the member's admitted incarnation.
	Node  string `json:"node,omitempty"`
	State string `json:"state,omitempty"`
	Inc   string `json:"inc,omitempty"`
}

// Result is what applying a Command returns on this node.
type Result struct {
	Queue  Queue
	Groups []Group
	Err    error
}

// queueRecord is a queue with the replica set of each partition.
type queueRecord struct {
	Queue    Queue             `json:"queue"`
	Replicas [][]string        `json:"replicas"`       // per partition: node ids; the first is the preferred leader
	Addrs    map[string]string `json:"addrs"`          // Raft address of each replica node when placed
	Tags     []QueueTag        `json:"tags,omitempty"` // sorted by key (queuetags.go)
	// Moved[i] is true once partition i's replica set changed after
	// creation (nil: none did). Only the founders of a partition that never
	// moved bootstrap its group; any other replica waits to be added by the
	// partition's leader, so a node that comes back empty under an old id
	// never founds a second group.
	Moved []bool `json:"moved,omitempty"`
}

// catalogueState is the data a snapshot holds.
type catalogueState struct {
	Key    []byte                  `json:"key"`
	Queues map[string]*queueRecord `json:"queues"` // by queue id
	Index  uint64                  `json:"index"`  // Raft index of the last command applied
	// Nodes holds the nodes being decommissioned or removed, by id.
	// Absent from older snapshots: then no node has such a state.
	Nodes map[string]*NodeRecord `json:"nodes,omitempty"`
	// Incs holds each admitted member's incarnation, by node id (set_node
	// with State "" and Inc; MemberInc). Absent from older snapshots:
	// then none is recorded, and any incarnation matches.
	Incs map[string]string `json:"incs,omitempty"`
}

// Catalogue is the metadata group's state machine (raft.FSM).
type Catalogue struct {
	log *slog.Logger

	mu      sync.RWMutex
	st      catalogueState
	index   uint64 // Raft index of the last command applied
	changed chan struct{}
}

// AppliedIndex is the Raft index of the last catalogue command applied here.
func (c *Catalogue) AppliedIndex() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.index
}

var _ raft.FSM = (*Catalogue)(nil)

func New(log *slog.Logger) *Catalogue {
	return &Catalogue{log: log, st: catalogueState{Queues: map[string]*queueRecord{}}, changed: make(chan struct{})}
}

// Changed returns a channel closed after the next applied change.
func (c *Catalogue) Changed() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.changed
}

func (c *Catalogue) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Apply applies one committed entry. An entry that does not decode or fails
// validation is applied as a no-op with an error logged: every node decides
// the same, so they stay in agreement, and a node replaying its log after a
// restart meets the same no-op instead of a crash.
func (c *Catalogue) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, err := DecodeCommand(l.Data)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index = l.Index
	defer c.notify()
	if err != nil {
		c.log.Error("catalogue: entry applied as a no-op", "index", l.Index, "err", err)
		return Result{Err: err}
	}
	return c.apply(cmd)
}

func (c *Catalogue) apply(cmd *Command) Result {
	st := &c.st
	switch cmd.Op {
	case OpSetKey:
		if st.Key == nil {
			st.Key = slices.Clone(cmd.Key)
		}
		return Result{}
	case OpCreateQueue:
		q := *cmd.Queue
		used := 0
		for _, r := range st.Queues {
			if r.Queue.Project != q.Project {
				continue
			}
			used++
			if r.Queue.Name == q.Name {
				return Result{Err: ErrQueueExists}
			}
		}
		if used >= cmd.Limit {
			return Result{Err: ErrQueueQuota}
		}
		if _, dup := st.Queues[q.ID]; dup {
			return Result{Err: fmt.Errorf("cluster: queue id %s reused", q.ID)}
		}
		q.Groups = nil
		st.Queues[q.ID] = &queueRecord{Queue: q, Replicas: cmd.Replicas, Addrs: cmd.Addrs}
		return Result{Queue: cloneQueue(q)}
	case OpDeleteQueue:
		r, ok := st.Queues[cmd.QueueID]
		if !ok || r.Queue.Project != cmd.Project {
			return Result{Err: ErrQueueNotFound}
		}
		delete(st.Queues, cmd.QueueID)
		return Result{}
	case OpCreateGroups:
		r, ok := st.Queues[cmd.QueueID]
		if !ok || r.Queue.Project != cmd.Project {
			return Result{Err: ErrQueueNotFound}
		}
		if len(r.Queue.Groups)+len(cmd.Groups) > cmd.Limit {
			return Result{Err: ErrGroupQuota}
		}
		seen := map[string]bool{}
		for _, g := range r.Queue.Groups {
			seen[g.Name] = true
		}
		for _, g := range cmd.Groups {
			if seen[g.Name] {
				return Result{Err: ErrGroupExists}
			}
			seen[g.Name] = true
		}
		r.Queue.Groups = append(r.Queue.Groups, cmd.Groups...)
		return Result{Queue: cloneQueue(r.Queue), Groups: slices.Clone(cmd.Groups)}
	case OpDeleteGroup:
		r, ok := st.Queues[cmd.QueueID]
		if !ok || r.Queue.Project != cmd.Project {
			return Result{Err: ErrQueueNotFound}
		}
		i := slices.IndexFunc(r.Queue.Groups, func(g Group) bool { return g.ID == cmd.GroupID })
		if i < 0 {
			return Result{Err: ErrGroupNotFound}
		}
		r.Queue.Groups = slices.Delete(r.Queue.Groups, i, i+1)
		return Result{}
	case OpQueueTags:
		return applyQueueTags(st, cmd)
	case OpSetReplicas:
		return c.applySetReplicas(cmd)
	case OpSetNode:
		return c.applySetNode(cmd)
	}
	// validate and this switch disagree: a bug, but not one worth a crash.
	return Result{Err: &InvalidCommandError{Op: string(cmd.Op), Reason: "no handler"}}
}

func cloneQueue(q Queue) Queue {
	q.Groups = slices.Clone(q.Groups)
	return q
}

// Key returns the handler key, nil before one was set.
func (c *Catalogue) Key() []byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.Key
}

// Queue returns a copy of queue id if it belongs to project.
func (c *Catalogue) Queue(project, id string) (Queue, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.st.Queues[id]
	if !ok || r.Queue.Project != project {
		return Queue{}, false
	}
	return cloneQueue(r.Queue), true
}

// Queues returns the project's queues in creation order.
func (c *Catalogue) Queues(project string) []Queue {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Queue
	for _, r := range c.st.Queues {
		if r.Queue.Project == project {
			out = append(out, cloneQueue(r.Queue))
		}
	}
	slices.SortFunc(out, func(a, b Queue) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Placement is one partition and its replica set.
type Placement struct {
	ID       string // "<queue_id>/<index>"
	Queue    Queue
	Index    int
	Replicas []string          // the first is the preferred leader
	Addrs    map[string]string // Raft addresses at placement time
	// Founding is true while the replica set is the one placed at
	// creation: its members bootstrap the group.
	Founding bool
}

// Placements lists every partition of every queue, sorted by id.
func (c *Catalogue) Placements() []Placement {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Placement
	for _, id := range slices.Sorted(maps.Keys(c.st.Queues)) {
		r := c.st.Queues[id]
		for i, reps := range r.Replicas {
			founding := i >= len(r.Moved) || !r.Moved[i]
			out = append(out, Placement{ID: PartitionID(id, i), Queue: cloneQueue(r.Queue), Index: i, Replicas: slices.Clone(reps), Addrs: r.Addrs, Founding: founding})
		}
	}
	return out
}

// ReplicasOf returns the replica set of partition i of queue id.
func (c *Catalogue) ReplicasOf(id string, i int) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.st.Queues[id]
	if !ok || i < 0 || i >= len(r.Replicas) {
		return nil
	}
	return slices.Clone(r.Replicas[i])
}

// PartitionID names partition i of a queue.
func PartitionID(queueID string, i int) string { return fmt.Sprintf("%s/%d", queueID, i) }

// Snapshot captures the catalogue as JSON (maps are written in key order).
func (c *Catalogue) Snapshot() (raft.FSMSnapshot, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := c.st
	st.Index = c.index
	b, err := json.Marshal(&st)
	if err != nil {
		return nil, err
	}
	return &bytesSnapshot{b: b}, nil
}

// Restore replaces the catalogue.
func (c *Catalogue) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var st catalogueState
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("cluster: catalogue restore: %w", err)
	}
	if st.Queues == nil {
		st.Queues = map[string]*queueRecord{}
	}
	// A snapshot comes from the leader: one naming a record it cannot hold
	// must not crash every later lookup.
	maps.DeleteFunc(st.Queues, func(_ string, r *queueRecord) bool { return r == nil })
	maps.DeleteFunc(st.Nodes, func(_ string, r *NodeRecord) bool { return r == nil })
	c.mu.Lock()
	c.st = st
	c.index = st.Index
	c.notify()
	c.mu.Unlock()
	return nil
}

type bytesSnapshot struct{ b []byte }

func (s *bytesSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := io.Copy(sink, bytes.NewReader(s.b)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *bytesSnapshot) Release() {}
