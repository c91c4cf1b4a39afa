package partition

import (
	"context"
	"sync"
)

// admission bounds the proposals of one replica that are in Raft at once and
// hands free places to consumers' proposals (lease, ack, housekeeping)
// before producers'. A consumer needs two round trips (lease, then ack) for
// what a producer sends in one; served in arrival order, closed-loop
// consumers get half the producers' rate and a backlog grows without end.
// Serving them first lets consumption keep pace.
type admission struct {
	mu       sync.Mutex
	limit    int
	inflight int
	high     []chan struct{} // waiting consumer proposals, oldest first
	low      []chan struct{} // waiting producer proposals, oldest first
}

func newAdmission(limit int) *admission { return &admission{limit: limit} }

// acquire waits for a place; the caller must release it. urgent proposals
// are served before the others.
func (a *admission) acquire(ctx context.Context, urgent bool) error {
	a.mu.Lock()
	if a.inflight < a.limit {
		a.inflight++
		a.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if urgent {
		a.high = append(a.high, ch)
	} else {
		a.low = append(a.low, ch)
	}
	a.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.drop(ch) {
			return ctx.Err()
		}
		// The place was handed over as ctx ended: pass it on.
		a.handOff()
		return ctx.Err()
	}
}

// release frees a place, handing it to the next waiter.
func (a *admission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.handOff()
}

// handOff gives the caller's place to the next waiter, consumers first (mu
// held).
func (a *admission) handOff() {
	switch {
	case len(a.high) > 0:
		close(a.high[0])
		a.high = a.high[1:]
	case len(a.low) > 0:
		close(a.low[0])
		a.low = a.low[1:]
	default:
		a.inflight--
	}
}

// drop removes a waiter that gave up; false when it was already served.
func (a *admission) drop(ch chan struct{}) bool {
	for _, q := range []*[]chan struct{}{&a.high, &a.low} {
		for i, c := range *q {
			if c == ch {
				*q = append((*q)[:i], (*q)[i+1:]...)
				return true
			}
		}
	}
	return false
}
