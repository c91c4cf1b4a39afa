package main

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// counters are a queue's and one group's counters as one node answers them.
type counters struct {
	produced, available, consumed int
}

// readCounters reads the queue's produced_messages and the group's counters
// through node, once (no retry: a 503 is an error here).
func readCounters(cl *dmsClient, node int, queue, group string) (counters, error) {
	var q struct {
		Produced int `json:"produced_messages"`
	}
	if _, err := cl.do(node, "GET", "/queues/"+queue, nil, &q); err != nil {
		return counters{}, err
	}
	var gs struct {
		Groups []struct {
			ID        string `json:"id"`
			Available int    `json:"available_messages"`
			Consumed  int    `json:"consumed_messages"`
		} `json:"groups"`
	}
	if _, err := cl.do(node, "GET", "/queues/"+queue+"/groups", nil, &gs); err != nil {
		return counters{}, err
	}
	for _, g := range gs.Groups {
		if g.ID == group {
			return counters{produced: q.Produced, available: g.Available, consumed: g.Consumed}, nil
		}
	}
	return counters{}, fmt.Errorf("group %s not listed", group)
}

// produceBatch produces n (≤ 10) messages in one request through node.
func produceBatch(cl *dmsClient, node int, queue string, n int, tag string) error {
	msgs := make([]map[string]any, n)
	for i := range msgs {
		msgs[i] = map[string]any{"body": fmt.Sprintf("%s-%d", tag, i)}
	}
	_, err := cl.do(node, "POST", "/queues/"+queue+"/messages", map[string]any{"messages": msgs}, nil)
	return err
}

// TestCluster_CountersSeeEveryAnsweredWrite: counters are read from each
// partition's leader after it confirmed it leads, so a read that starts
// after a produce or an ack was answered counts it, through whichever node.
// Read from a follower, the last batch was often missing (the follower
// applies it with the leader's next append).
func TestCluster_CountersSeeEveryAnsweredWrite(t *testing.T) {
	c, cl, q, g := startQueueCluster(t, "counted")
	want := counters{}
	check := func(when string) {
		t.Helper()
		for node := range c.Nodes {
			got, err := readCounters(cl, node, q, g)
			if err != nil {
				t.Fatalf("%s: counters through %s: %v", when, c.Nodes[node].NodeID, err)
			}
			if got != want {
				t.Fatalf("%s: counters through %s = %+v, want %+v", when, c.Nodes[node].NodeID, got, want)
			}
		}
	}
	for round := range 24 {
		node := round % len(c.Nodes)
		if err := produceBatch(cl, node, q, 10, fmt.Sprint("r", round)); err != nil {
			t.Fatalf("round %d: produce through %s: %v", round, c.Nodes[node].NodeID, err)
		}
		want.produced += 10
		want.available += 10
		check(fmt.Sprintf("after produce round %d", round))
	}
	// Acks count at once too: drain "until available is 0" ends exactly.
	for round := 0; want.available > 0 && round < 100; round++ {
		node := round % len(c.Nodes)
		ds, err := cl.consume(node, q, g, 10, 1)
		if err != nil {
			t.Fatalf("consume through %s: %v", c.Nodes[node].NodeID, err)
		}
		if len(ds) == 0 {
			continue
		}
		n, err := cl.ack(node, q, g, ds)
		if err != nil || n != len(ds) {
			t.Fatalf("ack through %s: %d of %d, %v", c.Nodes[node].NodeID, n, len(ds), err)
		}
		want.available -= n
		want.consumed += n
		check(fmt.Sprintf("after acking %d", want.consumed))
	}
	if want.available != 0 {
		t.Fatalf("%d messages left after 100 consumes", want.available)
	}
}

// readyCode is GET /ready's status through p (0 when it does not answer).
func readyCode(p *clustertest.Process) int {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(p.URL() + "/ready")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCluster_ReadyWaitsForItsPartitionsLeaders: /ready is 200 only while
// the node's partitions have a leader. Five nodes, so that the metadata
// group (five voters) keeps its quorum while a partition (three replicas)
// loses its own: the partition's two other replicas are killed and the
// third is restarted. It must answer 503 for as long as its partition has
// no leader, though the metadata group is served, and 200 once a second
// replica is back, with counters that count every message produced.
func TestCluster_ReadyWaitsForItsPartitionsLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	c := clustertest.StartCluster(t, binPath, 5)
	cl := newDMSClient(t, "proj", baseURLs(c)...)
	q := cl.createQueue("fifo", map[string]any{"queue_mode": "FIFO"})
	g := cl.createGroup(q, "workers")
	var replicas []string
	waitFor(t, 20*time.Second, "the FIFO partition's replicas and leader", func() error {
		st, err := getStatus(c.Nodes[0].URL())
		if err != nil {
			return err
		}
		for _, p := range st.Partitions {
			if p.QueueID == q && p.Leader != "" {
				replicas = p.Replicas
				return nil
			}
		}
		return fmt.Errorf("no leader yet")
	})
	if len(replicas) != 3 {
		t.Fatalf("replicas %v, want 3", replicas)
	}
	for i := range 3 {
		cl.must("POST", "/queues/"+q+"/messages", map[string]any{"messages": []map[string]any{{"body": fmt.Sprint("m", i)}}}, nil)
	}
	keep, down := c.Node(replicas[0]), []*clustertest.Process{c.Node(replicas[1]), c.Node(replicas[2])}
	for _, p := range down {
		p.Kill(t)
	}
	keep.Kill(t)
	keep.StartNoWait(t)
	// Its metadata group has a leader (three of five voters live), its
	// partition none (one of three).
	waitFor(t, 20*time.Second, keep.NodeID+" seeing the metadata leader", func() error {
		st, err := getStatus(keep.URL())
		if err != nil {
			return err
		}
		if st.MetaLeader == "" {
			return fmt.Errorf("no metadata leader")
		}
		return nil
	})
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if code := readyCode(keep); code != 503 {
			t.Fatalf("%s: /ready answered %d while its partition has no leader", keep.NodeID, code)
		}
		time.Sleep(100 * time.Millisecond) // sampling /ready over a span of time
	}
	down[0].StartNoWait(t)
	keep.WaitReady(t, 30*time.Second)
	node := slices.IndexFunc(c.Nodes, func(p *clustertest.Process) bool { return p == keep })
	got, err := readCounters(cl, node, q, g)
	if err != nil {
		t.Fatalf("counters through %s right after it became ready: %v", keep.NodeID, err)
	}
	if want := (counters{produced: 3, available: 3}); got != want {
		t.Fatalf("counters through %s right after it became ready = %+v, want %+v", keep.NodeID, got, want)
	}
}

// TestCluster_ForwardToFrozenLeaderFailsOver: a node that holds no replica
// of a partition forwards every lease and read to its leader. When that
// leader stops answering (frozen with SIGSTOP: its sockets stay open and
// swallow requests, as a killed container's address does, so no reset ever
// comes), a consume is answered within a bound tied to the election
// timeout, not after the 30 s read timeout: a lease whose outcome is
// unknown is answered 503 and not sent again, and the client's retry is
// served by the new leader. A counters read meanwhile (idempotent) is
// retried on the new leader.
func TestCluster_ForwardToFrozenLeaderFailsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	c := clustertest.StartCluster(t, binPath, 4, "--partitions", "1")
	cl := newDMSClient(t, "proj", baseURLs(c)...)
	q := cl.createQueue("one", nil)
	g := cl.createGroup(q, "workers")
	var leader string
	var replicas []string
	waitFor(t, 20*time.Second, "a leader of the partition", func() error {
		st, err := getStatus(c.Nodes[0].URL())
		if err != nil {
			return err
		}
		for _, p := range st.Partitions {
			if p.QueueID == q && p.Leader != "" {
				leader, replicas = p.Leader, p.Replicas
				return nil
			}
		}
		return fmt.Errorf("no leader yet")
	})
	via := slices.IndexFunc(c.Nodes, func(p *clustertest.Process) bool { return !slices.Contains(replicas, p.NodeID) })
	if via < 0 {
		t.Fatalf("every node holds a replica: %v", replicas)
	}
	if err := produceBatch(cl, via, q, 5, "m"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the leader settled", func() error {
		st, err := getStatus(c.Node(replicas[1]).URL())
		if err != nil {
			return err
		}
		for _, p := range st.Partitions {
			if p.QueueID == q && p.Leader != "" {
				leader = p.Leader
				return nil
			}
		}
		return fmt.Errorf("no leader")
	})
	c.Node(leader).Freeze(t)
	const bound = 12 * time.Second // an election is 1–3 s; the read timeout was 30 s
	var wg sync.WaitGroup
	wg.Add(1)
	var statsErr error
	var statsTook time.Duration
	go func() {
		defer wg.Done()
		start := time.Now()
		_, statsErr = readCounters(cl, via, q, g)
		statsTook = time.Since(start)
	}()
	start := time.Now()
	ds, err := cl.consume(via, q, g, 10, 20)
	took := time.Since(start)
	wg.Wait()
	t.Logf("consume through %s after freezing %s: %d messages, err %v, in %v; counters read in %v (%v)",
		c.Nodes[via].NodeID, leader, len(ds), err, took, statsTook, statsErr)
	if took > bound {
		t.Fatalf("consume through %s answered after %v (bound %v)", c.Nodes[via].NodeID, took, bound)
	}
	if statsErr != nil {
		t.Fatalf("counters through %s were not read again from the new leader: %v", c.Nodes[via].NodeID, statsErr)
	}
	if statsTook > bound {
		t.Fatalf("counters through %s answered after %v (bound %v)", c.Nodes[via].NodeID, statsTook, bound)
	}
	// The client retries: the new leader serves the messages (unless the
	// first answer had them).
	for deadline := time.Now().Add(bound); len(ds) == 0 && time.Now().Before(deadline); {
		ds, err = cl.consume(via, q, g, 10, 1)
		if err != nil {
			time.Sleep(100 * time.Millisecond) // client back-off after a 503
		}
	}
	if len(ds) == 0 {
		t.Fatalf("no messages through %s after the leader froze: %v", c.Nodes[via].NodeID, err)
	}
}

// TestServe_SIGTERMWithoutQuorumExitsInTime: a node whose peers are gone
// cannot hand off leadership nor finish elections; SIGTERM still ends it
// within its 25 s shutdown bound (an orchestrator kills it at 30 s). The
// peers are frozen rather than killed: like killed containers, whose
// addresses swallow packets, they accept connections and never answer, so
// every vote request and transfer waits for the transport's timeout.
func TestServe_SIGTERMWithoutQuorumExitsInTime(t *testing.T) {
	c, cl, q, _ := startQueueCluster(t, "orphan")
	if err := produceBatch(cl, 0, q, 3, "m"); err != nil {
		t.Fatal(err)
	}
	c.Nodes[1].Freeze(t)
	c.Nodes[2].Freeze(t)
	last := c.Nodes[0]
	// Let it notice: its groups step down and elect in vain.
	waitFor(t, 20*time.Second, last.NodeID+" losing its leaders", func() error {
		if code := readyCode(last); code != 503 {
			return fmt.Errorf("/ready %d", code)
		}
		return nil
	})
	start := time.Now()
	code := last.Stop(t, shutdownTimeout+3*time.Second)
	t.Logf("%s exited %d, %v after SIGTERM", last.NodeID, code, time.Since(start))
	if code != 0 {
		t.Fatalf("%s exited %d after SIGTERM", last.NodeID, code)
	}
}
