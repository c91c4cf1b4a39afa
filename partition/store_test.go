package partition

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"raftmq/fsm"
)

// waitApplied waits until m has applied idx.
func waitApplied(t *testing.T, m *member, idx uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m.r.AppliedIndex() < idx {
		if time.Now().After(deadline) {
			t.Fatalf("%s applied %d, want %d", m.id, m.r.AppliedIndex(), idx)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition against a deadline
	}
}

// A replica that ran on a bolt store keeps its state when the node comes back
// on the shared log: the store is copied in and then deleted.
func TestHost_CopiesBoltStoresIntoTheSharedLog(t *testing.T) {
	ms := startGroupWith(t, 1, func(c *RaftConfig) { c.LogStore = LogStoreBolt })
	m := ms[0]
	ctx := context.Background()
	if _, err := m.r.Enqueue(ctx, msgs(20, "old")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.r.Lease(ctx, fsm.Lease{Group: "g", Max: 3, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 60000}); err != nil {
		t.Fatal(err)
	}
	idx, before := m.r.Digest()
	term := m.r.Term()
	m.stop(t)
	if _, err := os.Stat(filepath.Join(m.dir, "q_0", "raft.db")); err != nil {
		t.Fatalf("the bolt store is not where the upgrade looks: %v", err)
	}

	for round := range 2 { // the copy, then a plain restart on the shared log
		m.cfg = nil
		m.start(t, nil)
		waitLeader(t, ms)
		waitApplied(t, m, idx)
		if _, after := m.r.Digest(); after != before {
			t.Fatalf("round %d: state differs after moving to the shared log", round)
		}
		if m.r.Term() < term {
			t.Fatalf("round %d: term went back from %d to %d", round, term, m.r.Term())
		}
		if _, err := os.Stat(filepath.Join(m.dir, "q_0", "raft.db")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("round %d: the bolt store is still there: %v", round, err)
		}
		if _, err := m.r.Enqueue(ctx, msgs(1, "new")); err != nil {
			t.Fatal(err)
		}
		idx, before = m.r.Digest()
		m.stop(t)
	}
}

// A flipped bit in the shared log stops the node from starting, with an
// error matching ErrCorrupt.
func TestHost_CorruptSharedLogRefusesToStart(t *testing.T) {
	ms := startGroup(t, 1)
	m := ms[0]
	ctx := context.Background()
	for range 3 {
		if _, err := m.r.Enqueue(ctx, msgs(5, "marker-body")); err != nil {
			t.Fatal(err)
		}
	}
	m.stop(t)
	segs, _ := filepath.Glob(filepath.Join(m.dir, "wal", "*.wal"))
	if len(segs) == 0 {
		t.Fatal("no shared log segments")
	}
	b, _ := os.ReadFile(segs[0])
	i := bytes.Index(b, []byte("marker-body-3"))
	if i < 0 {
		t.Fatal("marker not in the shared log")
	}
	b[i+4] ^= 1
	os.WriteFile(segs[0], b, 0o644)
	_, err := NewHost(m.dir, testRaftConfig(m.id), nil)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("starting on a corrupt shared log: %v", err)
	}
}

// A follower that missed entries the others have compacted away catches up
// by snapshot: hashicorp/raft then deletes its whole log in the shared log
// and continues after the snapshot, and every replica ends with the same
// state, also after a restart.
func TestReplica_SnapshotInstallOnTheSharedLog(t *testing.T) {
	ms := startGroupWith(t, 3, func(c *RaftConfig) {
		c.SnapshotThreshold = 20
		c.SnapshotInterval = 50 * time.Millisecond
		c.TrailingLogs = 5
	})
	ctx := context.Background()
	leader := waitLeader(t, ms)
	var lagging *member
	for _, m := range ms {
		if m != leader {
			lagging = m
			break
		}
	}
	lagging.stop(t)
	for i := range 100 {
		if _, err := leader.r.Enqueue(ctx, msgs(2, string(rune('a'+i%26)))); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f, _ := groupFirst(leader); f > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leader never compacted its log")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition against a deadline
	}
	lagging.start(t, nil)
	waitSameState(t, leader, lagging, "the follower restored from a snapshot")
	lagging.stop(t)
	lagging.start(t, nil)
	waitSameState(t, leader, lagging, "the follower after a restart")
}

// waitSameState waits until m has applied what other has and holds the same
// state. Both may apply more meanwhile (a leader's housekeeping, or an
// election's entry on a loaded machine), so the two are compared at one
// index.
func waitSameState(t *testing.T, other, m *member, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		oi, od := other.r.Digest()
		mi, md := m.r.Digest()
		if oi == mi && od == md {
			return
		}
		if oi == mi && time.Now().After(deadline) {
			t.Fatalf("%s has another state at index %d", what, mi)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s applied %d, the other replica %d", what, mi, oi)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition against a deadline
	}
}

func groupFirst(m *member) (uint64, error) {
	g, err := m.h.wal.Group("q/0")
	if err != nil {
		return 0, err
	}
	return g.FirstIndex()
}
