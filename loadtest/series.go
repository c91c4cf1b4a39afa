package loadtest

import (
	"sync"
	"time"
)

// SecondPoint is what happened in one second of a phase: messages answered
// 201, delivered, acknowledged with success, and errors counted.
type SecondPoint struct {
	T        int   `json:"t"` // seconds since the phase started
	Produced int64 `json:"produced"`
	Consumed int64 `json:"consumed"`
	Acked    int64 `json:"acked"`
	Errors   int64 `json:"errors"`
}

// series is a concurrency-safe per-second time series of one phase.
type series struct {
	mu     sync.Mutex
	start  time.Time
	points []SecondPoint
}

func newSeries(start time.Time) *series { return &series{start: start} }

// add applies f to the point of the second that holds at.
func (s *series) add(at time.Time, f func(*SecondPoint)) {
	i := max(0, int(at.Sub(s.start)/time.Second))
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.points) <= i {
		s.points = append(s.points, SecondPoint{T: len(s.points)})
	}
	f(&s.points[i])
}

// list returns a copy of the points, one per second (started) of a phase
// that lasted d: seconds in which nothing happened are zero points.
func (s *series) list(d time.Duration) []SecondPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := max(len(s.points), int((d+time.Second-1)/time.Second))
	out := make([]SecondPoint, n)
	copy(out, s.points)
	for i := len(s.points); i < n; i++ {
		out[i].T = i
	}
	return out
}
