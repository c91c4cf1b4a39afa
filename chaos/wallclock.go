package chaos

import (
	"time"
)

// wallShiftStep is how far the wall clock must move against the monotonic
// clock before watchWallClock records it.
const wallShiftStep = 5 * time.Millisecond

// watchWallClock records, as nemesis ops "wall-clock-shift" with OffsetMs,
// how far the host's wall clock has moved against its monotonic clock since
// the history began, each time that grows by wallShiftStep, until stop
// closes. Nodes stamp leases with the wall clock and the history times them
// with the monotonic one, so a wall clock that is stepped or slewed during a
// run (by whatever adjusts it on the host) is a clock fault the run did not
// inject: LeaseEps counts it like one. It samples every 250 ms, at most
// 100,000 times.
func watchWallClock(h *History, stop <-chan struct{}) {
	recorded := time.Duration(0)
	for k := 0; k < 100_000; k++ {
		select {
		case <-stop:
			return
		case <-time.After(250 * time.Millisecond): // a sampling period
		}
		shift := wallShift(h.start, time.Now())
		if abs(shift) >= abs(recorded)+wallShiftStep {
			recorded = shift
			now := h.Now()
			h.Add(Op{Kind: KindNemesis, Proc: "clock-watch", Fault: "wall-clock-shift", OffsetMs: shift.Milliseconds(), Call: now, Ret: now, Outcome: OK,
				Detail: "the host's wall clock moved against its monotonic clock"})
		}
	}
}

// wallShift is how much more wall-clock time than monotonic time passed from
// start to now.
func wallShift(start, now time.Time) time.Duration {
	wall := time.Duration(now.UnixNano() - start.UnixNano()) // UnixNano reads the wall clock only
	return wall - now.Sub(start)                             // Sub uses the monotonic readings
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
