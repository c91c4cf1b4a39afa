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
// backlog would grow without end although the consumers never rest. While a
// group's lease or ack is in Raft and that group's ready backlog is at least
// Backlog messages, a produce waits for the consumers' next round to end
// (and looks again) instead of going straight to Raft, for at most MaxHold.
// Producers then run at the pace the consumers drain, plus Backlog.
//
// Pacing never delays a produce when no consumer is in the middle of a
// round (an idle or slow-processing consumer leaves the pipeline to the
// producers, and the queue absorbs the burst), nor when the backlog is
// below Backlog.
type Pacing struct {
	// Backlog is the ready backlog of a busy group at which producers start
	// to wait; 0 turns pacing off.
	Backlog int64
	// MaxHold bounds each produce's wait.
	MaxHold time.Duration
}

// DefaultPacing is the production setting.
func DefaultPacing() Pacing {
	return Pacing{Backlog: 256, MaxHold: time.Second}
}

// produceGate applies Pacing on one replica.
type produceGate struct {
	cfg Pacing

	mu   sync.Mutex
	busy map[fsm.GroupID]int // lease and ack proposals in Raft, normal lane
	done chan struct{}       // closed and replaced when one of them ends
}

func newProduceGate(cfg Pacing) *produceGate {
	return &produceGate{cfg: cfg, busy: map[fsm.GroupID]int{}, done: make(chan struct{})}
}

// enter records a consumer round of group id going to Raft; the returned
// func ends it.
func (g *produceGate) enter(id fsm.GroupID) (leave func()) {
	if g.cfg.Backlog <= 0 {
		return func() {}
	}
	g.mu.Lock()
	g.busy[id]++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		if g.busy[id]--; g.busy[id] <= 0 {
			delete(g.busy, id)
		}
		close(g.done)
		g.done = make(chan struct{})
		g.mu.Unlock()
	}
}

// admit returns when a produce may go to Raft: at once unless a busy group's
// backlog (per backlog, the leader's view) is at least cfg.Backlog, else
// after consumer rounds have brought it below, after cfg.MaxHold, or when
// ctx ends (the proposal then reports ctx's end itself). It reports how long
// the produce waited.
func (g *produceGate) admit(ctx context.Context, backlog func(fsm.GroupID) (int64, bool)) time.Duration {
	if g.cfg.Backlog <= 0 {
		return 0
	}
	var start time.Time
	var timer *time.Timer
	for {
		ids, ch := g.snapshot()
		if !g.over(ids, backlog) {
			if timer == nil {
				return 0
			}
			timer.Stop()
			return time.Since(start)
		}
		if timer == nil {
			start = time.Now()
			timer = time.NewTimer(g.cfg.MaxHold)
		}
		select {
		case <-ch:
		case <-timer.C:
			return time.Since(start)
		case <-ctx.Done():
			timer.Stop()
			return time.Since(start)
		}
	}
}

// snapshot returns the busy groups and the channel their next round's end
// closes.
func (g *produceGate) snapshot() ([]fsm.GroupID, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]fsm.GroupID, 0, len(g.busy))
	for id := range g.busy {
		ids = append(ids, id)
	}
	return ids, g.done
}

func (g *produceGate) over(ids []fsm.GroupID, backlog func(fsm.GroupID) (int64, bool)) bool {
	for _, id := range ids {
		if n, exact := backlog(id); exact && n >= g.cfg.Backlog {
			return true
		}
	}
	return false
}
