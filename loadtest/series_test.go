package loadtest

import (
	"testing"
	"time"
)

func TestSeries_BucketsBySecondAndPadsToTheDuration(t *testing.T) {
	start := time.Unix(100, 0)
	s := newSeries(start)
	s.add(start.Add(300*time.Millisecond), func(p *SecondPoint) { p.Produced += 5 })
	s.add(start.Add(999*time.Millisecond), func(p *SecondPoint) { p.Produced += 1 })
	s.add(start.Add(1500*time.Millisecond), func(p *SecondPoint) { p.Acked += 2; p.Errors++ })
	s.add(start.Add(-time.Second), func(p *SecondPoint) { p.Consumed++ }) // before the start: second 0
	got := s.list(3200 * time.Millisecond)
	want := []SecondPoint{{T: 0, Produced: 6, Consumed: 1}, {T: 1, Acked: 2, Errors: 1}, {T: 2}, {T: 3}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("second %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if l := newSeries(start).list(0); l == nil || len(l) != 0 {
		t.Fatalf("empty series %#v, want an empty slice", l)
	}
}
