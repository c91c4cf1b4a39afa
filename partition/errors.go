package partition

import (
	"errors"
	"fmt"
)

// ErrNotLeader reports that this replica does not lead its group; nothing was
// proposed, so the caller may send the request to the leader. Match with
// errors.Is; use errors.As with *NotLeaderError for the leader hint.
var ErrNotLeader = errors.New("partition: not leader")

// ErrOutcomeUnknown reports that leadership was lost after the entry was
// appended: it may or may not commit. Not safe to retry non-idempotent commands.
var ErrOutcomeUnknown = errors.New("partition: outcome unknown")

// ErrClosed reports a proposal to a replica that is shutting down.
var ErrClosed = errors.New("partition: replica closed")

// NotLeaderError carries the current leader, if known.
type NotLeaderError struct {
	Group    string
	LeaderID string // empty while an election is in progress
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return fmt.Sprintf("partition %s: not leader (election in progress)", e.Group)
	}
	return fmt.Sprintf("partition %s: not leader (leader is %s)", e.Group, e.LeaderID)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
