package loadtest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that only moves when a pacer waits on it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Wait(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return ctx.Err()
}

func TestPacer_HandsOutSlotsOnScheduleUntilEnd(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := &fakeClock{now: start}
	p := newPacer(start, 200, clk.Now, clk.Wait) // 200 slots/s: every 5 ms
	if p.Interval() != 5*time.Millisecond {
		t.Fatalf("interval %v", p.Interval())
	}
	end := start.Add(time.Second)
	var got []time.Time
	for {
		at, ok := p.Next(context.Background(), end)
		if !ok {
			break
		}
		if now := clk.Now(); now.Before(at) {
			t.Fatalf("slot %v handed out early, at %v", at, now)
		}
		got = append(got, at)
	}
	if len(got) != 200 {
		t.Fatalf("%d slots in 1 s at 200/s", len(got))
	}
	for i, at := range got {
		if want := start.Add(time.Duration(i) * 5 * time.Millisecond); !at.Equal(want) {
			t.Fatalf("slot %d at %v, want %v", i, at, want)
		}
	}
}

func TestPacer_LateCallerGetsPastSlotsAtOnce(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := &fakeClock{now: start.Add(100 * time.Millisecond)} // 10 slots behind
	waited := 0
	p := newPacer(start, 100, clk.Now, func(ctx context.Context, d time.Duration) error {
		waited++
		return clk.Wait(ctx, d)
	})
	if late := p.Late(clk.Now()); late != 100*time.Millisecond {
		t.Fatalf("late %v", late)
	}
	for i := range 11 {
		at, ok := p.Next(context.Background(), start.Add(time.Second))
		if !ok || !at.Equal(p.Slot(int64(i))) {
			t.Fatalf("slot %d: %v %v", i, at, ok)
		}
	}
	if waited != 0 {
		t.Fatalf("waited %d times for slots already due", waited)
	}
	if _, ok := p.Next(context.Background(), start.Add(time.Second)); !ok || waited != 1 {
		t.Fatalf("slot 11 should wait once; waited %d", waited)
	}
}

func TestPacer_NoSlotAfterEnd(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := &fakeClock{now: start.Add(2 * time.Second)} // past end, 100 slots still due
	p := newPacer(start, 100, clk.Now, clk.Wait)
	if _, ok := p.Next(context.Background(), start.Add(time.Second)); ok {
		t.Fatal("a slot was handed out after the end")
	}
}

func TestPacer_ConcurrentCallersGetDistinctSlots(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := &fakeClock{now: start.Add(1999 * time.Millisecond)} // every slot due, end not reached: no waiting
	p := newPacer(start, 1000, clk.Now, clk.Wait)
	end := start.Add(2 * time.Second)
	var mu sync.Mutex
	seen := map[time.Time]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				at, ok := p.Next(context.Background(), end)
				if !ok {
					return
				}
				mu.Lock()
				if seen[at] {
					t.Errorf("slot %v handed out twice", at)
				}
				seen[at] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 2000 {
		t.Fatalf("%d slots, want 2000", len(seen))
	}
}

func TestPacer_StopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	p := NewPacer(start.Add(time.Hour), 1) // the first slot is an hour away
	if _, ok := p.Next(ctx, start.Add(2*time.Hour)); ok {
		t.Fatal("Next returned a slot after the context ended")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Next waited for its slot despite the cancelled context")
	}
}
