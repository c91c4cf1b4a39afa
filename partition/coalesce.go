package partition

import (
	"context"
	"sync"

	"raftmq/fsm"
)

// leaseClaims keeps the leases of a leader's partition from racing for the
// same messages. Every consumer a produce wakes asks to lease; when the
// leases already in Raft will take every ready message, the others would
// only write empty Lease entries (and wait a Raft round each for nothing).
// So a lease waits while the leases in flight claim the whole backlog, and
// is answered empty, without an entry, when they took it all.
type leaseClaims struct {
	mu      sync.Mutex
	claimed map[claimKey]int64 // Max of the leases in flight
	done    chan struct{}      // closed and replaced whenever one ends
}

type claimKey struct {
	group      fsm.GroupID
	deadLetter bool
}

func newLeaseClaims() *leaseClaims {
	return &leaseClaims{claimed: map[claimKey]int64{}, done: make(chan struct{})}
}

// claim waits until l may go to Raft and returns the release to call once
// it is applied, or reports that l would lease nothing (no entry needed).
// backlog is the leader's view (fsm.State.Backlog).
func (c *leaseClaims) claim(ctx context.Context, l *fsm.Lease, backlog func() (int64, bool)) (release func(), empty bool, err error) {
	k := claimKey{l.Group, l.DeadLetter}
	for {
		c.mu.Lock()
		n, exact := backlog()
		inFlight := c.claimed[k]
		if !exact || n > inFlight || (inFlight == 0 && n > 0) {
			c.claimed[k] += int64(l.Max)
			c.mu.Unlock()
			return func() { c.release(k, int64(l.Max)) }, false, nil
		}
		if inFlight == 0 { // n == 0: nothing ready, nothing to settle
			c.mu.Unlock()
			return nil, true, nil
		}
		ch := c.done
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

func (c *leaseClaims) release(k claimKey, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimed[k] -= n; c.claimed[k] <= 0 {
		delete(c.claimed, k)
	}
	close(c.done)
	c.done = make(chan struct{})
}
