package main

import (
	"sync/atomic"
	"time"
)

// offsetClock is the TEST ONLY clock of --unsafe-test-clock: base shifted by
// an offset that httpapi.ClockOffsetPath sets at run time. Every partition
// replica of the node stamps its Now into the commands it proposes
// (partition.RaftConfig.Clock), so shifting it skews the leases and expiry
// the node's leaders decide, as a wrong wall clock would. The state machine
// itself never reads a clock. It implements httpapi.ClockControl.
type offsetClock struct {
	base   func() time.Time
	offset atomic.Int64 // nanoseconds
}

func newOffsetClock(base func() time.Time) *offsetClock { return &offsetClock{base: base} }

// Now is base() plus the offset.
func (c *offsetClock) Now() time.Time { return c.base().Add(c.Offset()) }

// Offset is the current offset.
func (c *offsetClock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// SetOffset replaces the offset.
func (c *offsetClock) SetOffset(d time.Duration) { c.offset.Store(int64(d)) }
