package partition

import (
	"context"
	"sync"
	"testing"
	"time"

	"raftmq/fsm"
)

// Leases racing for fewer messages than they ask for: those the leases in
// flight leave nothing for wait, and are answered empty without an entry.
func TestLeaseClaims_WaitWhileTheBacklogIsClaimed(t *testing.T) {
	c := newLeaseClaims()
	backlog := int64(25)
	var mu sync.Mutex
	look := func() (int64, bool) { mu.Lock(); defer mu.Unlock(); return backlog, true }
	ctx := context.Background()
	l := &fsm.Lease{Group: "g", Max: 10}
	var releases []func()
	for i := range 3 { // 0, 10, 20 claimed: each finds more ready than claimed
		rel, empty, err := c.claim(ctx, l, look)
		if err != nil || empty {
			t.Fatalf("lease %d: empty=%v err=%v", i, empty, err)
		}
		releases = append(releases, rel)
	}
	got := make(chan bool, 1)
	go func() {
		_, empty, _ := c.claim(ctx, l, look) // 30 claimed of 25: waits
		got <- empty
	}()
	select {
	case <-got:
		t.Fatal("a fourth lease went ahead while the three in flight claim all 25")
	case <-time.After(50 * time.Millisecond): // nothing to await: asserting it keeps waiting
	}
	mu.Lock()
	backlog = 0 // the three leases took everything
	mu.Unlock()
	releases[0]()
	releases[1]()
	select {
	case <-got:
		t.Fatal("answered while a lease that may leave messages is still in flight")
	case <-time.After(50 * time.Millisecond):
	}
	releases[2]()
	if empty := <-got; !empty {
		t.Fatal("the waiting lease went to Raft although nothing was left")
	}

	// A backlog the leader cannot count (FIFO, tags, an expired lease) never waits.
	rel, empty, err := c.claim(ctx, l, func() (int64, bool) { return 0, false })
	if err != nil || empty {
		t.Fatalf("inexact backlog: empty=%v err=%v", empty, err)
	}
	rel()
}

// Eight consumers woken by one message: one Lease entry delivers it, the
// other seven write nothing.
func TestReplica_RacingLeasesWriteOneEntry(t *testing.T) {
	ms := startGroup(t, 1)
	r := ms[0].r
	ctx := context.Background()
	lease := fsm.Lease{Group: "g", Max: 10, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 30000}
	if _, err := r.Lease(ctx, lease); err != nil { // creates the group
		t.Fatal(err)
	}
	if _, err := r.Enqueue(ctx, msgs(1, "m")); err != nil {
		t.Fatal(err)
	}
	before := r.AppliedIndex()
	var wg sync.WaitGroup
	var mu sync.Mutex
	delivered := 0
	for range 8 {
		wg.Go(func() {
			res, err := r.Lease(ctx, lease)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			delivered += len(res.Deliveries)
			mu.Unlock()
		})
	}
	wg.Wait()
	if delivered != 1 {
		t.Fatalf("%d deliveries of one message", delivered)
	}
	if entries := r.AppliedIndex() - before; entries != 1 {
		t.Fatalf("eight racing leases wrote %d entries, want 1", entries)
	}
}
