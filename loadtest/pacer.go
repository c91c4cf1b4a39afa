package loadtest

import (
	"context"
	"sync/atomic"
	"time"
)

// Pacer is the open-loop rate limiter: it hands out send slots at fixed
// intervals from a start time, whatever the answers take. A caller that
// claims a slot whose time has passed gets it at once, so a slow broker does
// not slow the offered load down (no coordinated omission); the slot's
// intended time, not the moment the request left, is the produce timestamp.
//
// Pacer is safe for concurrent use; every slot is handed out once.
type Pacer struct {
	start    time.Time
	interval time.Duration
	next     atomic.Int64
	now      func() time.Time
	wait     func(ctx context.Context, d time.Duration) error
}

// NewPacer returns a Pacer that hands out perSecond slots a second from
// start. perSecond must be positive.
func NewPacer(start time.Time, perSecond float64) *Pacer {
	return newPacer(start, perSecond, time.Now, waitFor)
}

func newPacer(start time.Time, perSecond float64, now func() time.Time, wait func(context.Context, time.Duration) error) *Pacer {
	iv := time.Duration(float64(time.Second) / perSecond)
	if iv <= 0 {
		iv = 1
	}
	return &Pacer{start: start, interval: iv, now: now, wait: wait}
}

// Interval is the time between two slots.
func (p *Pacer) Interval() time.Duration { return p.interval }

// Slot returns the intended time of slot n (0-based).
func (p *Pacer) Slot(n int64) time.Time { return p.start.Add(time.Duration(n) * p.interval) }

// Next claims the next slot and waits until its time. It returns the slot's
// intended time and true, or false when the slot falls at or after end, end
// has passed (slots still due then are never sent), or ctx ends first.
func (p *Pacer) Next(ctx context.Context, end time.Time) (time.Time, bool) {
	at := p.Slot(p.next.Add(1) - 1)
	now := p.now()
	if !at.Before(end) || !now.Before(end) {
		return time.Time{}, false
	}
	if d := at.Sub(now); d > 0 {
		if p.wait(ctx, d) != nil {
			return time.Time{}, false
		}
	}
	return at, ctx.Err() == nil
}

// Late reports how far behind its schedule the pacer is at now: the time
// since the oldest slot not yet claimed was due, or 0 when it is not due yet.
func (p *Pacer) Late(now time.Time) time.Duration {
	return max(0, now.Sub(p.Slot(p.next.Load())))
}

// waitFor waits d or until ctx ends (pacing a schedule, not synchronising).
func waitFor(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
