package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// GroupKey is the attribute that tells repeated records apart besides their
// message: the Raft group (meta or project/queue/partition), so that one
// group's complaints never hide another's.
const GroupKey = "group"

// SuppressedKey is the attribute that counts the records of one kind the
// limiter dropped since the last one it let through.
const SuppressedKey = "suppressed"

// maxKinds bounds the limiter's memory: past it, kinds whose window has
// passed are forgotten.
const maxKinds = 4096

// RateLimiter is a slog.Handler that writes a warning or error at most once
// per window for each (level, message, group); the next one written after the
// window carries how many were dropped. Lower levels pass untouched: they
// are off by default and an operator who turns debug on wants all of it.
type RateLimiter struct {
	next   slog.Handler
	group  string // value of GroupKey given through WithAttrs
	shared *limitState
}

type limitState struct {
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	kinds  map[limitKey]*limitEntry
}

type limitKey struct {
	level slog.Level
	msg   string
	group string
}

type limitEntry struct {
	last       time.Time
	suppressed int
}

// NewRateLimiter wraps next. now nil means time.Now.
func NewRateLimiter(next slog.Handler, window time.Duration, now func() time.Time) *RateLimiter {
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{next: next, shared: &limitState{window: window, now: now, kinds: map[limitKey]*limitEntry{}}}
}

// Enabled implements slog.Handler.
func (r *RateLimiter) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (r *RateLimiter) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level < slog.LevelWarn {
		return r.next.Handle(ctx, rec)
	}
	key := limitKey{level: rec.Level, msg: rec.Message, group: r.group}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == GroupKey {
			key.group = a.Value.String()
			return false
		}
		return true
	})
	dropped, ok := r.shared.admit(key)
	if !ok {
		return nil
	}
	if dropped > 0 {
		rec = rec.Clone()
		rec.AddAttrs(slog.Int(SuppressedKey, dropped))
	}
	return r.next.Handle(ctx, rec)
}

// admit reports whether a record of kind k may be written now and how many
// of its kind were dropped before it.
func (s *limitState) admit(k limitKey) (dropped int, ok bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.kinds[k]
	if e == nil {
		if len(s.kinds) >= maxKinds {
			s.forgetOld(now)
		}
		s.kinds[k] = &limitEntry{last: now}
		return 0, true
	}
	if now.Sub(e.last) < s.window {
		e.suppressed++
		return 0, false
	}
	dropped, e.suppressed, e.last = e.suppressed, 0, now
	return dropped, true
}

// forgetOld drops the kinds whose window has passed; their suppressed counts
// are lost, which only makes the log shorter, never wrong about what was
// written.
func (s *limitState) forgetOld(now time.Time) {
	for k, e := range s.kinds {
		if now.Sub(e.last) >= s.window {
			delete(s.kinds, k)
		}
	}
}

// WithAttrs implements slog.Handler.
func (r *RateLimiter) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *r
	c.next = r.next.WithAttrs(attrs)
	for _, a := range attrs {
		if a.Key == GroupKey {
			c.group = a.Value.String()
		}
	}
	return &c
}

// WithGroup implements slog.Handler.
func (r *RateLimiter) WithGroup(name string) slog.Handler {
	c := *r
	c.next = r.next.WithGroup(name)
	return &c
}
