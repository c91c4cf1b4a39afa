package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"raftmq/partition"
)

// maxRouteHops bounds how many nodes one request reaches that answer "not
// leader" (each is one hop), should stale hints send it back and forth.
// Waiting for an election, and peers that cannot be reached, are bounded by
// LeaderWait instead.
const maxRouteHops = 12

// leaderRetryPoll is how often the leader-wait loop looks again when nothing
// signals a leadership change (a remote leader that could not be reached).
const leaderRetryPoll = 100 * time.Millisecond

// leaderTry is what one attempt of the leader-wait loop is told.
type leaderTry struct {
	hint string // the leader named by the last refusal; "" when none
	// avoid is the node the last attempt was sent to when it failed
	// without an answer (not reachable, or silent too long): whoever still
	// names it leader is not followed until the next attempt succeeds.
	avoid    string
	n        int       // attempts made before this one
	deadline time.Time // when the loop gives up
}

// errNoLeaderYet is an attempt's answer while no leader is known: nothing
// was sent, look again.
var errNoLeaderYet = fmt.Errorf("%w: no leader known yet", errNotSent)

// untilLeader is the one retry loop of every request that must reach a
// group's leader (catalogue commands, partition commands, reads from a
// leader). It calls attempt until it succeeds or fails for good, for up to
// LeaderWait. attempt returns the node it tried and its error:
//
//   - nil: done.
//   - *partition.NotLeaderError: the target does not lead. The next attempt
//     follows its hint at once, unless it names the target itself (that
//     node has won an election but does not serve yet); at most maxRouteHops
//     such answers.
//   - errNotSent: the attempt certainly changed nothing (no leader known,
//     the target could not be reached); look again once watch's channel
//     fires (the group's leadership changed as this node sees it) or after
//     leaderRetryPoll.
//   - anything else is returned as it is: a business outcome, or a step
//     whose outcome is unknown, which is never run again.
//
// When it gives up, the last error is returned as ErrUnavailable.
func (n *Node) untilLeader(ctx context.Context, watch func() <-chan struct{}, attempt func(leaderTry) (string, error)) error {
	t := leaderTry{deadline: time.Now().Add(n.cfg.Raft.LeaderWait)}
	hops := 0
	for ; ; t.n++ {
		var changed <-chan struct{}
		if watch != nil {
			changed = watch() // taken before the attempt: no lost wake-up
		}
		target, err := attempt(t)
		if err == nil {
			return nil
		}
		var nl *partition.NotLeaderError
		switch {
		case errors.As(err, &nl):
			hops++
			t.hint = nl.LeaderID
			if t.hint == target || t.hint == t.avoid {
				t.hint = "" // the target names itself but does not serve yet, or a lost leader
			}
		case errors.Is(err, errNotSent):
			t.hint, t.avoid = "", target
		default:
			return err
		}
		if hops >= maxRouteHops || time.Now().After(t.deadline) {
			return unavailable(err)
		}
		if t.hint != "" {
			continue
		}
		select {
		case <-changed:
		case <-time.After(leaderRetryPoll):
		case <-ctx.Done():
			return unavailable(ctx.Err())
		}
	}
}

// retryable marks the failure of an idempotent step (a read, a question) as
// safe to try again: whatever happened, nothing changed. A not-leader answer
// keeps its hint.
func retryable(err error) error {
	var nl *partition.NotLeaderError
	if err == nil || errors.As(err, &nl) || errors.Is(err, errNotSent) {
		return err
	}
	return fmt.Errorf("%w: %w", errNotSent, err)
}
