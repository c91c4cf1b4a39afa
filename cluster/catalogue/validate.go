package catalogue

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Limits on what a catalogue command may carry. They are checked before a
// command is proposed and again when a committed entry is applied, so an
// entry that slipped past the first check (an older binary, a rogue Raft
// peer in open mode) is a logged no-op on every node rather than a crash.
const (
	maxIDLen          = 128 // project, queue and group ids, node ids
	maxNameLen        = 128 // queue and group names
	maxDescriptionLen = 1024
	maxPartitions     = 64
	maxReplicasPerSet = 7
	maxMaxConsume     = 100 // fits fsm.Policy.MaxConsumeCount (uint8)
	maxRetentionHours = 72
	maxGroupsPerCmd   = 64
	handlerKeyLen     = 32
)

// DecodeCommand reads and validates one catalogue log entry.
func DecodeCommand(b []byte) (*Command, error) {
	var cmd Command
	if err := json.Unmarshal(b, &cmd); err != nil {
		return nil, &InvalidCommandError{Reason: "not JSON: " + err.Error()}
	}
	if err := cmd.Validate(); err != nil {
		return nil, err
	}
	return &cmd, nil
}

// validate checks that apply can act on the command: the op is known and
// every field that op reads is present and within bounds. It never looks at
// catalogue state (that is apply's job), so it gives the same answer on
// every node.
func (c *Command) Validate() error {
	switch c.Op {
	case OpSetKey:
		if len(c.Key) != handlerKeyLen {
			return invalid(c.Op, "key of %d bytes, want %d", len(c.Key), handlerKeyLen)
		}
		return nil
	case OpCreateQueue:
		return c.validateCreateQueue()
	case OpDeleteQueue:
		return c.validateQueueRef()
	case OpCreateGroups:
		if err := c.validateQueueRef(); err != nil {
			return err
		}
		return c.validateGroups()
	case OpDeleteGroup:
		if err := c.validateQueueRef(); err != nil {
			return err
		}
		if !boundedString(c.GroupID, maxIDLen) {
			return invalid(c.Op, "group id of %d bytes", len(c.GroupID))
		}
		return nil
	case OpQueueTags:
		return c.validateQueueTags()
	case OpSetReplicas:
		return c.validateSetReplicas()
	case OpSetNode:
		return c.validateSetNode()
	}
	return &InvalidCommandError{Op: string(c.Op), Reason: "unknown operation"}
}

func (c *Command) validateQueueRef() error {
	if !boundedString(c.Project, maxIDLen) || !boundedString(c.QueueID, maxIDLen) {
		return invalid(c.Op, "project or queue id missing or too long")
	}
	return nil
}

func (c *Command) validateGroups() error {
	if len(c.Groups) == 0 || len(c.Groups) > maxGroupsPerCmd {
		return invalid(c.Op, "%d groups", len(c.Groups))
	}
	if c.Limit < 1 {
		return invalid(c.Op, "group quota %d", c.Limit)
	}
	for _, g := range c.Groups {
		if !boundedString(g.ID, maxIDLen) || !boundedString(g.Name, maxNameLen) {
			return invalid(c.Op, "group with an empty or long id or name")
		}
	}
	return nil
}

func (c *Command) validateCreateQueue() error {
	q := c.Queue
	switch {
	case q == nil:
		return invalid(c.Op, "no queue")
	case !isUUID(q.ID):
		// The id names directories (partitions/<id>_<n>) and Raft groups:
		// only the form newUUID draws is safe there.
		return invalid(c.Op, "queue id %q is not a UUID", q.ID)
	case !boundedString(q.Project, maxIDLen) || !boundedString(q.Name, maxNameLen):
		return invalid(c.Op, "project or name missing or too long")
	case len(q.Description) > maxDescriptionLen:
		return invalid(c.Op, "description of %d bytes", len(q.Description))
	case !slices.Contains([]QueueMode{ModeNormal, ModeFIFO, ModeKafkaHA, ModeKafkaHT}, q.Mode):
		return invalid(c.Op, "mode %q", q.Mode)
	case q.MaxConsumeCount < 0 || q.MaxConsumeCount > maxMaxConsume:
		return invalid(c.Op, "max consume count %d", q.MaxConsumeCount)
	case q.RetentionHours < 0 || q.RetentionHours > maxRetentionHours:
		return invalid(c.Op, "retention %d h", q.RetentionHours)
	case !slices.Contains([]RetentionPolicy{"", RetentionTime, RetentionAcked}, q.RetentionPolicy):
		return invalid(c.Op, "retention policy %q", q.RetentionPolicy)
	case q.Partitions < 1 || q.Partitions > maxPartitions || len(c.Replicas) != q.Partitions:
		return invalid(c.Op, "%d partitions with %d replica sets", q.Partitions, len(c.Replicas))
	case c.Limit < 1:
		return invalid(c.Op, "queue quota %d", c.Limit)
	}
	for _, set := range c.Replicas {
		if err := validateReplicaSet(set); err != nil {
			return invalid(c.Op, "%v", err)
		}
	}
	return nil
}

func validateReplicaSet(set []string) error {
	if len(set) == 0 || len(set) > maxReplicasPerSet {
		return fmt.Errorf("replica set of %d nodes", len(set))
	}
	for i, id := range set {
		if !boundedString(id, maxIDLen) || slices.Contains(set[:i], id) {
			return fmt.Errorf("replica set %q: empty, long or repeated node id", set)
		}
	}
	return nil
}

func boundedString(s string, max int) bool { return s != "" && len(s) <= max }

// isUUID reports whether s has the lower-case 8-4-4-4-12 hex form newUUID
// writes.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
				return false
			}
		}
	}
	return true
}

func invalid(op Op, format string, args ...any) error {
	return &InvalidCommandError{Op: string(op), Reason: fmt.Sprintf(format, args...)}
}
