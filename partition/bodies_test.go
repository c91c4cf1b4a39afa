package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"raftmq/bodystore"
	"raftmq/fsm"
)

// bigMsgs returns n messages of about 1 KiB, each body naming its prefix and
// index.
func bigMsgs(n int, prefix string) []fsm.Message {
	out := make([]fsm.Message, n)
	for i := range out {
		body := fmt.Sprintf("%q", fmt.Sprintf("%s-%d-%s", prefix, i, bytes.Repeat([]byte("x"), 1000)))
		out[i] = fsm.Message{Body: []byte(body), Attributes: []byte(`{"i":1}`)}
	}
	return out
}

// waitFor polls cond against a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition against a deadline
	}
}

// snapshotBytes is the size of the newest snapshot file of m's partition.
func snapshotBytes(t *testing.T, m *member) int64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(m.dir, "q_0", "snapshots", "*", "state.bin"))
	var newest int64
	var at time.Time
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().After(at) {
			newest, at = fi.Size(), fi.ModTime()
		}
	}
	return newest
}

// leaseAll leases every ready message of group g (in rounds of 16) and checks
// each body against want, by offset.
func leaseAll(t *testing.T, r *Replica, g fsm.GroupID, want map[uint64][]byte) {
	t.Helper()
	ctx := context.Background()
	seen := 0
	for range len(want)/16 + 2 {
		lr, err := r.Lease(ctx, fsm.Lease{Group: g, Max: 16, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 60000})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range lr.Deliveries {
			if !bytes.Equal(d.Message.Body, want[d.Offset]) || string(d.Message.Attributes) != `{"i":1}` {
				t.Fatalf("offset %d: body %.30q, want %.30q", d.Offset, d.Message.Body, want[d.Offset])
			}
			seen++
		}
	}
	if seen != len(want) {
		t.Fatalf("leased %d messages, want %d", seen, len(want))
	}
}

// A restarted replica serves the bodies of messages whose log entries were
// compacted away after a snapshot: the snapshot holds metadata only, the
// bodies come from the body store.
func TestReplica_BodiesSurviveSnapshotAndRestart(t *testing.T) {
	cache := bodystore.NewCache(32 << 10) // far less than the bodies: it evicts
	ms := startGroupWith(t, 1, func(c *RaftConfig) {
		c.SnapshotThreshold = 50
		c.SnapshotInterval = 50 * time.Millisecond
		c.TrailingLogs = 5
		c.BodySegmentBytes = 64 << 10
		c.BodyCache = cache
	})
	m := ms[0]
	ctx := context.Background()
	want := map[uint64][]byte{}
	for i := range 60 {
		batch := bigMsgs(5, fmt.Sprint("r", i))
		er, err := m.r.Enqueue(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for j, msg := range batch {
			want[er.FirstOffset+uint64(j)] = msg.Body
		}
	}
	waitFor(t, "a compacted log", func() bool { f, _ := groupFirst(m); return f > 20 })
	if n := snapshotBytes(t, m); n == 0 || n > 16<<10 {
		t.Fatalf("snapshot of 300 1 KiB messages is %d bytes: bodies inside?", n)
	}
	m.stop(t)
	if s := cache.Stats(); s.Entries != 0 {
		t.Fatalf("a closed store left %d entries in the cache", s.Entries)
	}
	m.start(t, nil)
	waitLeader(t, ms)
	leaseAll(t, m.r, "g", want)
	if s := cache.Stats(); s.Hits == 0 || s.Misses == 0 || s.Bytes > s.Budget {
		t.Fatalf("cache after a drain: %+v", s)
	}
}

// checkBodies checks that m's body store holds exactly the bodies of want.
func checkBodies(t *testing.T, m *member, want map[uint64][]byte) {
	t.Helper()
	for off, body := range want {
		p, err := m.r.bodies.Get(off)
		if err != nil {
			t.Fatalf("%s: body %d: %v", m.id, off, err)
		}
		var msg fsm.Message
		if err := fsm.DecodeBody(p, &msg); err != nil || !bytes.Equal(msg.Body, body) {
			t.Fatalf("%s: body %d = %.30q, %v", m.id, off, msg.Body, err)
		}
	}
}

// A replica that joins with an empty directory (a replaced node) gets the
// bodies with the leader's snapshot, streamed from the leader's body store,
// and serves them once it leads; the leader serves meanwhile.
func TestReplica_NewReplicaReceivesBodiesBySnapshot(t *testing.T) {
	cache := bodystore.NewCache(64 << 10) // one node's cache, shared by the three
	ms := startGroupWith(t, 3, func(c *RaftConfig) {
		c.BodyCache = cache
		c.SnapshotThreshold = 20
		c.SnapshotInterval = 50 * time.Millisecond
		c.TrailingLogs = 5
		c.BodySegmentBytes = 32 << 10
	})
	ctx := context.Background()
	leader := waitLeader(t, ms)
	var fresh *member
	for _, m := range ms {
		if m != leader {
			fresh = m
			break
		}
	}
	fresh.stop(t)
	if err := os.RemoveAll(fresh.dir); err != nil {
		t.Fatal(err)
	}
	want := map[uint64][]byte{}
	for i := range 80 {
		batch := bigMsgs(3, fmt.Sprint("n", i))
		er, err := leader.r.Enqueue(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for j, msg := range batch {
			want[er.FirstOffset+uint64(j)] = msg.Body
		}
	}
	waitFor(t, "a compacted log", func() bool { f, _ := groupFirst(leader); return f > 20 })
	fresh.start(t, nil) // an empty directory: it needs the snapshot
	// The leader keeps serving while the new replica catches up.
	er, err := leader.r.Enqueue(ctx, bigMsgs(1, "during"))
	if err != nil {
		t.Fatal(err)
	}
	want[er.FirstOffset] = bigMsgs(1, "during")[0].Body
	waitSameState(t, leader, fresh, "the new replica")
	checkBodies(t, fresh, want)
	if err := leader.r.TransferLeadershipTo(fresh.id, fresh.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new replica to lead", func() bool { return fresh.r.IsLeader() })
	leaseAll(t, fresh.r, "g", want)
}

// Retention trims messages from the state; the next snapshot deletes the
// body segments below the oldest retained message, and what is retained is
// still served.
func TestReplica_ReclaimsBodiesPastRetention(t *testing.T) {
	var skew atomic.Int64
	cache := bodystore.NewCache(1 << 20) // holds every body: reclamation must drop them
	ms := startGroupWith(t, 1, func(c *RaftConfig) {
		c.BodyCache = cache
		c.SnapshotThreshold = 20
		c.SnapshotInterval = 50 * time.Millisecond
		c.TrailingLogs = 5
		c.BodySegmentBytes = 16 << 10
		c.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	m := ms[0]
	ctx := context.Background()
	for i := range 40 {
		if _, err := m.r.Enqueue(ctx, bigMsgs(5, fmt.Sprint("old", i))); err != nil {
			t.Fatal(err)
		}
	}
	segs := m.r.bodies.Segments()
	if segs < 8 {
		t.Fatalf("%d body segments for 200 KiB", segs)
	}
	skew.Store(int64(testPolicy.RetentionMs+60_000) * int64(time.Millisecond))
	want := produceUntilReclaimed(t, m, segs)
	if _, err := m.r.bodies.Get(0); !errors.Is(err, bodystore.ErrNotFound) {
		t.Fatalf("a reclaimed body: %v", err)
	}
	if s := cache.Stats(); s.Bytes > 150*1200 {
		t.Fatalf("the cache holds %d bytes after reclamation: reclaimed bodies kept", s.Bytes)
	}
	leaseAll(t, m.r, "g", want)
}

// A node upgraded from a version that kept bodies in the partition state
// and its snapshots restores that snapshot at start: the bodies move to the
// body store, are served, and the next snapshot holds metadata only.
func TestReplica_UpgradeFromSnapshotsWithBodies(t *testing.T) {
	old := true
	ms := startGroupWith(t, 1, func(c *RaftConfig) {
		c.inlineBodies = old
		c.TrailingLogs = 2
		c.SnapshotThreshold = 1 << 30 // snapshots only when asked
	})
	m := ms[0]
	ctx := context.Background()
	want := map[uint64][]byte{}
	for i := range 10 {
		batch := bigMsgs(3, fmt.Sprint("u", i))
		er, err := m.r.Enqueue(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for j, msg := range batch {
			want[er.FirstOffset+uint64(j)] = msg.Body
		}
	}
	if err := m.r.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if n := snapshotBytes(t, m); n < 25<<10 {
		t.Fatalf("the old version's snapshot is %d bytes: no bodies in it?", n)
	}
	m.stop(t)
	old = false
	m.start(t, nil)
	waitLeader(t, ms)
	checkBodies(t, m, want)
	er, err := m.r.Enqueue(ctx, bigMsgs(1, "after"))
	if err != nil {
		t.Fatal(err)
	}
	want[er.FirstOffset] = bigMsgs(1, "after")[0].Body
	if err := m.r.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if n := snapshotBytes(t, m); n > 4<<10 {
		t.Fatalf("the upgraded replica's snapshot is %d bytes: bodies inside?", n)
	}
	leaseAll(t, m.r, "g", want)
}

// Under the acked retention policy, messages leave once every group has
// acknowledged them, long before retention ends, and the next snapshot
// deletes their body segments; while one group has not, nothing goes.
func TestReplica_ReclaimsBodiesAckedByEveryGroup(t *testing.T) {
	pol := testPolicy
	pol.AckedRetention = true
	ms := startGroupPolicy(t, 1, &pol, func(c *RaftConfig) {
		c.SnapshotThreshold = 20
		c.SnapshotInterval = 50 * time.Millisecond
		c.TrailingLogs = 5
		c.BodySegmentBytes = 16 << 10
	})
	m := ms[0]
	ctx := context.Background()
	for _, g := range []fsm.GroupID{"g1", "g2"} {
		if _, err := m.r.Ack(ctx, fsm.Ack{Group: g}); err != nil { // registers the group
			t.Fatal(err)
		}
	}
	for i := range 40 {
		if _, err := m.r.Enqueue(ctx, bigMsgs(5, fmt.Sprint("old", i))); err != nil {
			t.Fatal(err)
		}
	}
	segs := m.r.bodies.Segments()
	if segs < 8 {
		t.Fatalf("%d body segments for 200 KiB", segs)
	}
	ackAll(t, m.r, "g1", 200)
	if err := m.r.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if lo, _ := m.r.bodies.Range(); lo != 0 || m.r.bodies.Segments() != segs {
		t.Fatalf("g2 acked nothing, yet the store starts at %d with %d segments (of %d)", lo, m.r.bodies.Segments(), segs)
	}
	ackAll(t, m.r, "g2", 200)
	want := produceUntilReclaimed(t, m, segs)
	leaseAll(t, m.r, "g-new", want)
}

// produceUntilReclaimed produces 30 more messages to m's partition, whose
// first 200 messages have just left the state (retention or acks): their
// housekeeping and snapshots must delete the body segments below, on disk
// too, while the store held segs. It returns the new messages' bodies by
// offset.
func produceUntilReclaimed(t *testing.T, m *member, segs int) map[uint64][]byte {
	t.Helper()
	want := map[uint64][]byte{}
	for i := range 30 { // enough entries for more snapshots
		batch := bigMsgs(1, fmt.Sprint("new", i))
		er, err := m.r.Enqueue(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		want[er.FirstOffset] = batch[0].Body
	}
	var first uint64
	m.r.Read(func(s *fsm.State) { first, _ = s.Offsets() })
	if first != 200 {
		t.Fatalf("oldest retained offset %d, want 200", first)
	}
	waitFor(t, "old body segments deleted", func() bool {
		lo, _ := m.r.bodies.Range()
		return lo > 150 && m.r.bodies.Segments() < segs
	})
	files, _ := filepath.Glob(filepath.Join(m.dir, "q_0", "bodies", "*.seg"))
	if len(files) != m.r.bodies.Segments() {
		t.Fatalf("%d segment files, the store knows %d", len(files), m.r.bodies.Segments())
	}
	return want
}

// ackAll leases and acknowledges n messages for group g.
func ackAll(t *testing.T, r *Replica, g fsm.GroupID, n int) {
	t.Helper()
	ctx := context.Background()
	acked := 0
	for range n/16 + 2 {
		lr, err := r.Lease(ctx, fsm.Lease{Group: g, Max: 16, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 60000})
		if err != nil {
			t.Fatal(err)
		}
		var items []fsm.AckItem
		for _, d := range lr.Deliveries {
			items = append(items, fsm.AckItem{Offset: d.Offset, DeliveryID: d.DeliveryID, Success: true})
		}
		ar, err := r.Ack(ctx, fsm.Ack{Group: g, Items: items})
		if err != nil || ar.Success != len(items) {
			t.Fatalf("ack: %+v, %v", ar, err)
		}
		acked += len(items)
	}
	if acked != n {
		t.Fatalf("acked %d messages, want %d", acked, n)
	}
}
