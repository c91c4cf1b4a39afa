package partition

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// VerifyLeader confirms that this node leads the group and serves it: it
// returns nil once a majority of the voters answered a heartbeat sent after
// the call began, so no other node led a later term at that moment. The
// local state then holds every entry committed before the call: those of
// earlier terms through the leader's Barrier (IsLeader waits for it), those
// of this term because the leader applies an entry before it reports it
// committed. Reading the state after VerifyLeader is therefore a
// linearizable read. Otherwise it returns a *NotLeaderError.
func (n *Node) VerifyLeader(ctx context.Context) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	err := n.await(ctx, n.raft.VerifyLeader())
	switch {
	case err == nil && n.IsLeader():
		return nil
	case err == nil, errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return n.notLeader()
	case errors.Is(err, errAbandoned):
		return fmt.Errorf("partition %s: verify leader: %w", n.name, context.Cause(ctx))
	}
	return fmt.Errorf("partition %s: verify leader: %w", n.name, err)
}
