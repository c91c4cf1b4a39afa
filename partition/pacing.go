package partition

import (
	"context"
	"sync"
	"time"

	"raftmq/fsm"
)

// Pacing shares a leader's Raft pipeline between the producers and the
// consumers of its partition when both keep it busy.
//
// A consumer needs two Raft rounds per batch (the lease, then the ack) where
// a producer needs one, so with the pipeline saturated by both, producers
// would enqueue twice as fast as consumers can take messages out and the
// backlog would grow without end although the consumers never rest. A
// group is busy while one of its leases or acks is in Raft, and for
// BusyGap after the last one ended (a consumer that is waiting on the
// broker, not on its own work, is back within that). While a busy group's
// ready backlog is at least Backlog messages, a produce waits, for at most
// MaxHold, until the backlog is below the mark or no group is busy any
// more. Producers then run at the pace the consumers drain, plus Backlog.
//
// Consumers that are idle, or busy with their own work between requests,
// leave the pipeline to the producers (a produce waits at most BusyGap
// after their last round), so a burst is absorbed as before.
type Pacing struct {
	// Backlog is the ready backlog of a busy group at which producers start
	// to wait; 0 turns pacing off.
	Backlog int64
	// MaxHold bounds each produce's wait.
	MaxHold time.Duration
	// BusyGap is how long a group counts as busy after its last round.
	BusyGap time.Duration
}

// DefaultPacing is the production setting.
func DefaultPacing() Pacing {
	return Pacing{Backlog: 256, MaxHold: time.Second, BusyGap: 20 * time.Millisecond}
}

// produceGate applies Pacing on one replica.
type produceGate struct {
	cfg Pacing
	now func() time.Time

	mu     sync.Mutex
	groups map[fsm.GroupID]*roundState
	done   chan struct{} // closed and replaced when a round ends
}

// roundState is one group's consumer rounds on this replica.
type roundState struct {
	inFlight int       // leases and acks in Raft, normal lane
	lastEnd  time.Time // when the last one ended
}

func newProduceGate(cfg Pacing, now func() time.Time) *produceGate {
	if now == nil {
		now = time.Now
	}
	return &produceGate{cfg: cfg, now: now, groups: map[fsm.GroupID]*roundState{}, done: make(chan struct{})}
}

// enter records a consumer round of group id going to Raft; the returned
// func ends it.
func (g *produceGate) enter(id fsm.GroupID) (leave func()) {
	if g.cfg.Backlog <= 0 {
		return func() {}
	}
	g.mu.Lock()
	st := g.groups[id]
	if st == nil {
		st = &roundState{}
		g.groups[id] = st
	}
	st.inFlight++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		st.inFlight--
		st.lastEnd = g.now()
		close(g.done)
		g.done = make(chan struct{})
		g.mu.Unlock()
	}
}

// admit returns when a produce may go to Raft: at once unless a busy group's
// backlog (per backlog, the leader's view) is at least cfg.Backlog; else
// once that is no longer so, after cfg.MaxHold, or when ctx ends (the
// proposal then reports ctx's end itself). It reports how long it waited.
func (g *produceGate) admit(ctx context.Context, backlog func(fsm.GroupID) (int64, bool)) time.Duration {
	if g.cfg.Backlog <= 0 {
		return 0
	}
	var start time.Time
	var hold *time.Timer
	defer func() {
		if hold != nil {
			hold.Stop()
		}
	}()
	for {
		ids, ch, idleIn := g.busy()
		if !g.over(ids, backlog) {
			if hold == nil {
				return 0
			}
			return g.now().Sub(start)
		}
		if hold == nil {
			start = g.now()
			hold = time.NewTimer(g.cfg.MaxHold)
		}
		if !g.wait(ctx, ch, hold.C, idleIn) {
			return g.now().Sub(start)
		}
	}
}

// wait waits for a round to end (ch) or idleIn to pass (when not 0) and
// reports true, or for the hold or ctx to end and reports false.
func (g *produceGate) wait(ctx context.Context, ch <-chan struct{}, hold <-chan time.Time, idleIn time.Duration) bool {
	var idle <-chan time.Time
	if idleIn > 0 {
		t := time.NewTimer(idleIn)
		defer t.Stop()
		idle = t.C
	}
	select {
	case <-ch:
	case <-idle:
	case <-hold:
		return false
	case <-ctx.Done():
		return false
	}
	return true
}

// busy returns the busy groups, the channel the next round's end closes,
// and, when some of them are busy only by BusyGap, how long until the first
// of those stops being busy (0 when none).
func (g *produceGate) busy() ([]fsm.GroupID, <-chan struct{}, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	var ids []fsm.GroupID
	var idleIn time.Duration
	for id, st := range g.groups {
		switch left := st.lastEnd.Add(g.cfg.BusyGap).Sub(now); {
		case st.inFlight > 0:
			ids = append(ids, id)
		case left > 0:
			ids = append(ids, id)
			if idleIn == 0 || left < idleIn {
				idleIn = left
			}
		default:
			delete(g.groups, id)
		}
	}
	return ids, g.done, idleIn
}

func (g *produceGate) over(ids []fsm.GroupID, backlog func(fsm.GroupID) (int64, bool)) bool {
	for _, id := range ids {
		if n, exact := backlog(id); exact && n >= g.cfg.Backlog {
			return true
		}
	}
	return false
}
