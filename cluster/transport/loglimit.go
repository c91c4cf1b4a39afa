package transport

import (
	"sync/atomic"
	"time"
)

// refusalLogEvery spaces the log lines about refused peers (Raft
// connections, gossip messages, internal requests), so that a flood of
// strangers cannot flood the log.
const refusalLogEvery = 10 * time.Second

// LogLimiter lets one log line through per refusalLogEvery and counts the
// events in between. The zero value is ready to use.
type LogLimiter struct {
	last   atomic.Int64  // unix ns of the last line let through
	missed atomic.Uint64 // events since then, that one included
}

// Allow records an event and reports whether to log it, with the number
// of events the line stands for.
func (l *LogLimiter) Allow() (bool, uint64) {
	l.missed.Add(1)
	now := time.Now().UnixNano()
	last := l.last.Load()
	if now-last < int64(refusalLogEvery) || !l.last.CompareAndSwap(last, now) {
		return false, 0
	}
	return true, l.missed.Swap(0)
}
