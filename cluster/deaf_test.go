package cluster

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
)

// earGate stops the Raft traffic a node receives while it is closed: every
// connection accepted by the node's Raft listener blocks in Read. The node
// still sends (heartbeats, votes) and reads the answers on the connections
// it dials itself, so it keeps leading what it leads; the groups it follows
// stop hearing their leaders, and its replicas there go stale and leaderless,
// as on a node whose Raft port drops incoming packets (the fault suite's deaf
// node).
type earGate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the node hears
}

func newEarGate() *earGate {
	g := &earGate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *earGate) deafen() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *earGate) hear() {
	g.mu.Lock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
	g.mu.Unlock()
}

func (g *earGate) wait() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
}

type gatedListener struct {
	net.Listener
	g *earGate
}

func (l gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return gatedConn{Conn: c, g: l.g}, nil
}

type gatedConn struct {
	net.Conn
	g *earGate
}

func (c gatedConn) Read(b []byte) (int, error) {
	c.g.wait()
	return c.Conn.Read(b)
}

// deafCluster is a trio in which one node no longer hears Raft traffic.
type deafCluster struct {
	nodes []*Node
	q     Queue
	gid   string
	deaf  *Node // deaf, not the metadata leader
	part  int   // a partition the deaf node follows, and now knows no leader of
	by    *Node // the leader of part
}

// startDeafCluster starts a trio with a queue and a group, waits until
// every partition has a serving leader, then makes a node that is not the
// metadata leader deaf, and waits until its replica of a partition it
// follows knows no leader.
func startDeafCluster(t *testing.T, o trioOptions) *deafCluster {
	t.Helper()
	gates := []*earGate{newEarGate(), newEarGate(), newEarGate()}
	o.raftListener = func(i int, ln net.Listener) net.Listener { return gatedListener{ln, gates[i]} }
	c := &deafCluster{nodes: startTrioWith(t, o)}
	leader := metaLeader(t, c.nodes)
	ctx := context.Background()
	var err error
	if c.q, err = leader.CreateQueue(ctx, "p", QueueSpec{Name: "q", Mode: ModeNormal}); err != nil {
		t.Fatal(err)
	}
	groups, err := leader.CreateGroups(ctx, "p", c.q.ID, []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	c.gid = groups[0].ID
	idx := 0
	for i, n := range c.nodes {
		if n != leader {
			c.deaf, idx = n, i
			break
		}
	}
	waitUntil(t, 20*time.Second, "serving leaders and the group everywhere", func() bool {
		for i := range c.q.Partitions {
			led := false
			for _, n := range c.nodes {
				r, ok := n.host.Get(catalogue.PartitionID(c.q.ID, i))
				if !ok {
					return false
				}
				led = led || r.IsLeader()
			}
			if !led {
				return false
			}
		}
		_, err := c.deaf.GetGroup(ctx, "p", c.q.ID, c.gid)
		return err == nil
	})
	gates[idx].deafen()
	t.Cleanup(gates[idx].hear)
	c.part = -1
	waitUntil(t, 10*time.Second, "a partition whose deaf replica knows no leader", func() bool {
		for i := range c.q.Partitions {
			r, _ := c.deaf.host.Get(catalogue.PartitionID(c.q.ID, i))
			if r.IsLeader() || r.Leader() != "" {
				continue
			}
			for _, n := range c.nodes {
				if rr, _ := n.host.Get(catalogue.PartitionID(c.q.ID, i)); n != c.deaf && rr.IsLeader() {
					c.part, c.by = i, n
					return true
				}
			}
		}
		return false
	})
	return c
}

// TestCluster_DeafNodeServesThroughPeers makes one node deaf to Raft
// traffic while its HTTP still works, then produces into a partition it
// follows and consumes through it. Its own replica there is stale and knows
// no leader; the node must still route to the leader its peers know of,
// for a produce and for a consume, instead of waiting out an election it
// cannot hear the end of (T4-deaf: consumes through the deaf node hung until
// the client gave up, and with them every consumer of the queue).
func TestCluster_DeafNodeServesThroughPeers(t *testing.T) {
	c := startDeafCluster(t, trioOptions{})
	ctx := context.Background()
	// The balance loop must not hand leadership to the deaf node. (A read
	// already under way when the gate closed may still deliver one last
	// heartbeat to it: wait that out.)
	waitUntil(t, 5*time.Second, "the leader to see that the deaf node does not follow it", func() bool {
		return !c.by.followsUs(catalogue.PartitionID(c.q.ID, c.part), c.deaf.ID())
	})
	if _, err := c.by.partitionCall(ctx, c.q, c.part, &fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"one"`)}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := c.deaf.Consume(ctx, c.q, c.gid, ConsumeRequest{Max: 10, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 30_000, WaitMs: 3_000})
	if err != nil {
		t.Fatalf("consume through the deaf node: %v after %v", err, time.Since(start))
	}
	if len(got) != 1 || got[0].Partition != c.part || string(got[0].Message.Body) != `"one"` {
		t.Fatalf("consume through the deaf node got %+v after %v, want the message of partition %d", got, time.Since(start), c.part)
	}

	start = time.Now()
	if _, err := c.deaf.partitionCall(ctx, c.q, c.part, &fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"two"`)}}}); err != nil {
		t.Fatalf("produce through the deaf node: %v after %v", err, time.Since(start))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("produce through the deaf node took %v", d)
	}
}

// TestCluster_DeafNodeIgnoresPeersNamingIt: right after a deaf leader steps
// down, its peers still name it as the leader for an election timeout.
// Taking that answer, the deaf node waited for its own leadership until
// LeaderWait ran out (T4-deaf seed 4002: produces through it answered 503
// after 4 s while the new leader served). An answer naming this node is
// now no answer, and the next lookup finds the leader.
func TestCluster_DeafNodeIgnoresPeersNamingIt(t *testing.T) {
	var deafID atomic.Pointer[string]
	var armed [3]atomic.Int32 // answer the next rpcLeader: 1 with the deaf node's id, 2 with nobody
	c := startDeafCluster(t, trioOptions{internal: func(i int, op string, _ []byte) (int, []byte, bool) {
		if op != rpcLeader {
			return 0, nil, false
		}
		var a leaderAnswer
		switch armed[i].Swap(0) {
		case 1:
			a.Leader = *deafID.Load()
		case 2:
		default:
			return 0, nil, false
		}
		b, _ := json.Marshal(a)
		return 200, b, true
	}})
	id := c.deaf.ID()
	deafID.Store(&id)
	for i, n := range c.nodes {
		switch n {
		case c.by:
			armed[i].Store(2)
		case c.deaf:
		default:
			armed[i].Store(1)
		}
	}
	start := time.Now()
	if _, err := c.deaf.partitionCall(context.Background(), c.q, c.part, &fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"x"`)}}}); err != nil {
		t.Fatalf("produce through the deaf node: %v after %v", err, time.Since(start))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("produce through the deaf node took %v", d)
	}
}
