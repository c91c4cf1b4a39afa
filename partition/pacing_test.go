package partition

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"raftmq/fsm"
)

const testGroup fsm.GroupID = "g7"

// backlogProbe is a backlog func whose value the test sets and which reports
// every read, so a test knows admit has looked and is waiting.
type backlogProbe struct {
	n      atomic.Int64
	looked chan struct{}
}

func newBacklogProbe(n int64) *backlogProbe {
	p := &backlogProbe{looked: make(chan struct{}, 64)}
	p.n.Store(n)
	return p
}

func (p *backlogProbe) read(fsm.GroupID) (int64, bool) {
	select {
	case p.looked <- struct{}{}:
	default:
	}
	return p.n.Load(), true
}

func admitAsync(g *produceGate, ctx context.Context, p *backlogProbe) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	go func() { out <- g.admit(ctx, p.read) }()
	return out
}

func TestProduceGate_AdmitsAtOnceWithoutBusyConsumers(t *testing.T) {
	clock := time.Unix(1000, 0)
	g := newProduceGate(Pacing{Backlog: 10, MaxHold: time.Hour, BusyGap: 20 * time.Millisecond}, func() time.Time { return clock })
	p := newBacklogProbe(1_000_000)
	if waited := g.admit(context.Background(), p.read); waited != 0 {
		t.Fatalf("no consumer round seen, deep backlog: waited %v, want 0", waited)
	}
	leave := g.enter(testGroup)
	leave()
	clock = clock.Add(20 * time.Millisecond) // the group's last round is BusyGap old
	if waited := g.admit(context.Background(), p.read); waited != 0 {
		t.Fatalf("BusyGap after the last round: waited %v, want 0", waited)
	}
}

// A group whose last round ended less than BusyGap ago still counts as
// busy, but only until BusyGap has passed: a consumer busy with its own work
// holds producers back for at most that long.
func TestProduceGate_BusyGapEndsTheWait(t *testing.T) {
	g := newProduceGate(Pacing{Backlog: 10, MaxHold: time.Hour, BusyGap: 30 * time.Millisecond}, nil)
	g.enter(testGroup)()
	start := time.Now()
	waited := g.admit(context.Background(), newBacklogProbe(50).read)
	if waited <= 0 || time.Since(start) > 10*time.Second {
		t.Fatalf("waited %v (%v in all), want more than 0 and about BusyGap", waited, time.Since(start))
	}
	if waited := g.admit(context.Background(), newBacklogProbe(50).read); waited != 0 {
		t.Fatalf("after BusyGap: waited %v, want 0", waited)
	}
}

func TestProduceGate_AdmitsAtOnceBelowBacklog(t *testing.T) {
	g := newProduceGate(Pacing{Backlog: 10, MaxHold: time.Hour}, nil)
	defer g.enter(testGroup)()
	if waited := g.admit(context.Background(), newBacklogProbe(9).read); waited != 0 {
		t.Fatalf("backlog 9 < 10: waited %v, want 0", waited)
	}
}

func TestProduceGate_OffNeverWaits(t *testing.T) {
	g := newProduceGate(Pacing{}, nil)
	defer g.enter(testGroup)()
	if waited := g.admit(context.Background(), newBacklogProbe(1_000_000).read); waited != 0 {
		t.Fatalf("pacing off: waited %v, want 0", waited)
	}
}

// A produce that finds a busy group over the backlog waits for the
// consumers' round to end and goes once the backlog is below.
func TestProduceGate_WaitsForConsumerRound(t *testing.T) {
	g := newProduceGate(Pacing{Backlog: 10, MaxHold: time.Hour}, nil)
	p := newBacklogProbe(50)
	leave := g.enter(testGroup)
	done := admitAsync(g, context.Background(), p)
	<-p.looked // admit has seen the backlog over the mark and waits

	// A round ends but leaves the backlog over the mark: still waiting.
	leave2 := g.enter(testGroup)
	leave()
	<-p.looked
	select {
	case w := <-done:
		t.Fatalf("admitted after %v with the backlog still at 50", w)
	default:
	}

	p.n.Store(5)
	leave2()
	select {
	case w := <-done:
		if w <= 0 {
			t.Fatalf("waited %v, want > 0", w)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("produce still held after the backlog fell below the mark")
	}
}

func TestProduceGate_HoldIsBounded(t *testing.T) {
	g := newProduceGate(Pacing{Backlog: 10, MaxHold: 20 * time.Millisecond}, nil)
	defer g.enter(testGroup)()
	waited := g.admit(context.Background(), newBacklogProbe(50).read)
	if waited < 20*time.Millisecond {
		t.Fatalf("waited %v, want at least MaxHold 20ms", waited)
	}
}

func TestProduceGate_ContextEndsWait(t *testing.T) {
	g := newProduceGate(Pacing{Backlog: 10, MaxHold: time.Hour}, nil)
	defer g.enter(testGroup)()
	ctx, cancel := context.WithCancel(context.Background())
	p := newBacklogProbe(50)
	done := admitAsync(g, ctx, p)
	<-p.looked
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("admit ignored its context")
	}
}
