package partition

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/fsm"
)

func testRaftConfig(id string) RaftConfig {
	c := DefaultRaftConfig()
	c.NodeID = id
	c.HeartbeatTimeout = 150 * time.Millisecond
	c.ElectionTimeout = 150 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.ApplyTimeout = 5 * time.Second
	c.LeaderWait = 3 * time.Second
	c.RaftLog = io.Discard
	return c
}

// member is one replica of a test group with what is needed to restart it.
// It runs in a Host of its own, on the node's shared log.
type member struct {
	id, dir, addr string
	h             *Host
	r             *Replica
	cfg           func(*RaftConfig) // adjusts the test settings, when set
	pol           *fsm.Policy       // the partition's policy; nil is testPolicy
}

func newTCPTransport(t testing.TB, addr string) raft.Transport {
	t.Helper()
	var tr *raft.NetworkTransport
	var err error
	// Rebinding a just-closed port can briefly fail; retry a bounded number of times.
	for i := 0; i < 50; i++ {
		tr, err = raft.NewTCPTransport(addr, nil, 3, 5*time.Second, io.Discard)
		if err == nil {
			return tr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("transport on %s: %v", addr, err)
	return nil
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var testPolicy = fsm.Policy{RetentionMs: 72 * 3600 * 1000, MaxConsumeCount: 3}

// startGroup starts n replicas of one partition on loopback TCP and waits for a leader.
func startGroup(t testing.TB, n int) []*member { return startGroupWith(t, n, nil) }

// startGroupWith is startGroup with cfg adjusting every member's settings.
func startGroupWith(t testing.TB, n int, cfg func(*RaftConfig)) []*member {
	t.Helper()
	return startGroupPolicy(t, n, nil, cfg)
}

// startGroupPolicy is startGroupWith with the partition's policy (nil:
// testPolicy).
func startGroupPolicy(t testing.TB, n int, pol *fsm.Policy, cfg func(*RaftConfig)) []*member {
	t.Helper()
	ms := make([]*member, n)
	var servers []raft.Server
	for i := range ms {
		ms[i] = &member{id: fmt.Sprintf("n%d", i+1), dir: t.TempDir(), addr: freeAddr(t), cfg: cfg, pol: pol}
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(ms[i].id), Address: raft.ServerAddress(ms[i].addr)})
	}
	for _, m := range ms {
		m.start(t, servers)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			if m.h != nil {
				m.h.Close()
			}
		}
	})
	waitLeader(t, ms)
	return ms
}

func (m *member) start(t testing.TB, servers []raft.Server) {
	t.Helper()
	cfg := testRaftConfig(m.id)
	if m.cfg != nil {
		m.cfg(&cfg)
	}
	h, err := NewHost(m.dir, cfg, func(string) (raft.Transport, error) { return newTCPTransport(t, m.addr), nil })
	if err != nil {
		t.Fatal(err)
	}
	pol := testPolicy
	if m.pol != nil {
		pol = *m.pol
	}
	r, err := h.Ensure(Spec{ID: "q/0", Policy: pol, Servers: servers})
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	m.h, m.r = h, r
}

func (m *member) stop(t testing.TB) {
	t.Helper()
	if err := m.h.Close(); err != nil {
		t.Fatal(err)
	}
	m.h, m.r = nil, nil
}

// waitLeader waits until exactly one running member serves as leader.
func waitLeader(t testing.TB, ms []*member) *member {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var leaders []*member
		for _, m := range ms {
			if m.r != nil && m.r.IsLeader() {
				leaders = append(leaders, m)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single leader after 10s: %d leaders", len(leaders))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition against a deadline
	}
}

func msgs(n int, prefix string) []fsm.Message {
	out := make([]fsm.Message, n)
	for i := range out {
		out[i] = fsm.Message{Body: []byte(fmt.Sprintf("%q", fmt.Sprintf("%s-%d", prefix, i)))}
	}
	return out
}

func TestReplica_EnqueueLeaseAck(t *testing.T) {
	ms := startGroup(t, 1)
	r := ms[0].r
	ctx := context.Background()
	er, err := r.Enqueue(ctx, msgs(3, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if er.FirstOffset != 0 || er.Count != 3 {
		t.Fatalf("enqueue result %+v", er)
	}
	lr, err := r.Lease(ctx, fsm.Lease{Group: "g", Max: 10, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 30000})
	if err != nil {
		t.Fatal(err)
	}
	if len(lr.Deliveries) != 3 {
		t.Fatalf("leased %d, want 3", len(lr.Deliveries))
	}
	items := make([]fsm.AckItem, len(lr.Deliveries))
	for i, d := range lr.Deliveries {
		items[i] = fsm.AckItem{Offset: d.Offset, DeliveryID: d.DeliveryID, Success: true}
	}
	ar, err := r.Ack(ctx, fsm.Ack{Group: "g", Items: items})
	if err != nil {
		t.Fatal(err)
	}
	if ar.Success != 3 || ar.Fail != 0 {
		t.Fatalf("ack %+v", ar)
	}
	var st fsm.GroupStats
	r.Read(func(s *fsm.State) { st = s.Stats("g") })
	if st.Consumed != 3 || st.Available != 0 || st.Produced != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestReplica_RestartKeepsState closes a replica and opens it again on the
// same directory: the log replays to the same state.
func TestReplica_RestartKeepsState(t *testing.T) {
	ms := startGroup(t, 1)
	m := ms[0]
	ctx := context.Background()
	if _, err := m.r.Enqueue(ctx, msgs(5, "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.r.Lease(ctx, fsm.Lease{Group: "g", Max: 2, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 60000}); err != nil {
		t.Fatal(err)
	}
	idx, before := m.r.Digest()
	m.stop(t)
	m.start(t, nil)
	waitLeader(t, ms)
	deadline := time.Now().Add(5 * time.Second)
	for m.r.AppliedIndex() < idx && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling a condition against a deadline
	}
	_, after := m.r.Digest()
	if before != after {
		t.Fatal("state digest differs after restart")
	}
	var st fsm.GroupStats
	m.r.Read(func(s *fsm.State) { st = s.Stats("g") })
	if st.Produced != 5 || st.Available != 5 {
		t.Fatalf("stats after restart %+v", st)
	}
}

// TestReplica_FailoverKeepsAckedMessages stops the leader of a three-replica
// group; a new leader serves, every enqueued message is still there, and a
// follower answers with the leader hint.
func TestReplica_FailoverKeepsAckedMessages(t *testing.T) {
	ms := startGroup(t, 3)
	ctx := context.Background()
	leader := waitLeader(t, ms)
	for i := 0; i < 5; i++ {
		if _, err := leader.r.Enqueue(ctx, msgs(10, fmt.Sprint("b", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		if m == leader {
			continue
		}
		_, err := m.r.Enqueue(ctx, msgs(1, "f"))
		var nl *NotLeaderError
		if !errors.As(err, &nl) || !errors.Is(err, ErrNotLeader) {
			t.Fatalf("follower enqueue: %v, want NotLeaderError", err)
		}
		if nl.LeaderID != leader.id {
			t.Fatalf("leader hint %q, want %q", nl.LeaderID, leader.id)
		}
	}
	leader.stop(t)
	next := waitLeader(t, ms)
	var produced int64
	next.r.Read(func(s *fsm.State) { produced = s.Produced() })
	if produced != 50 {
		t.Fatalf("new leader has %d messages, want 50", produced)
	}
	if _, err := next.r.Enqueue(ctx, msgs(1, "after")); err != nil {
		t.Fatal(err)
	}
}

// TestReplica_ConcurrentProposalsShareEntries checks group commit: many
// concurrent proposals complete and each gets its own offsets.
func TestReplica_ConcurrentProposalsShareEntries(t *testing.T) {
	ms := startGroup(t, 1)
	r := ms[0].r
	const workers, each = 32, 20
	var wg sync.WaitGroup
	offsets := make(chan uint64, workers*each)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				res, err := r.Enqueue(context.Background(), msgs(1, "c"))
				if err != nil {
					errs <- err
					return
				}
				offsets <- res.FirstOffset
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(offsets)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for o := range offsets {
		if seen[o] {
			t.Fatalf("offset %d assigned twice", o)
		}
		seen[o] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d offsets, want %d", len(seen), workers*each)
	}
}

// TestReplica_FailedTransferDoesNotStallProposals: hashicorp/raft refuses
// proposals while a leadership transfer runs. A transfer to a member that is
// down fails after an election timeout without any change of leadership,
// and proposals that waited for a change waited LeaderWait and failed (T1:
// the balance loop handed a partition back to its restarted preferred
// leader just before that node was killed again; produces answered 503
// after 4 s). They must go through once the transfer has failed.
func TestReplica_FailedTransferDoesNotStallProposals(t *testing.T) {
	ms := startGroup(t, 3)
	leader := waitLeader(t, ms)
	var target *member
	for _, m := range ms {
		if m != leader {
			target = m
		}
	}
	targetAddr := target.addr
	target.stop(t)
	ctx := context.Background()
	// Entries the stopped member lacks: the transfer first waits for it to
	// catch up, for an election timeout.
	if _, err := leader.r.Enqueue(ctx, msgs(3, "behind")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- leader.r.TransferLeadershipTo(target.id, targetAddr) }()
	var worst time.Duration
	for transferring := true; transferring; {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("leadership transferred to a stopped member")
			}
			transferring = false
		default:
		}
		start := time.Now()
		if _, err := leader.r.Enqueue(ctx, msgs(1, "during")); err != nil {
			t.Fatalf("proposal during a failing transfer: %v after %v", err, time.Since(start))
		}
		worst = max(worst, time.Since(start))
	}
	if worst > time.Second {
		t.Fatalf("a proposal during a failing transfer took %v", worst)
	}
}
