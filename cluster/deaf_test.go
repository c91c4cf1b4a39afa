package cluster

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

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

// TestCluster_DeafNodeServesThroughPeers makes one node deaf to Raft
// traffic while its HTTP still works, then produces into a partition it
// follows and consumes through it. Its own replica there is stale and knows
// no leader; the node must still route to the leader its peers know of,
// for a produce and for a consume, instead of waiting out an election it
// cannot hear the end of (T4-deaf: consumes through the deaf node hung until
// the client gave up, and with them every consumer of the queue).
func TestCluster_DeafNodeServesThroughPeers(t *testing.T) {
	gates := []*earGate{newEarGate(), newEarGate(), newEarGate()}
	nodes := startTrioWith(t, func(i int, ln net.Listener) net.Listener { return gatedListener{ln, gates[i]} })
	leader := metaLeader(t, nodes)
	ctx := context.Background()
	q, err := leader.CreateQueue(ctx, "p", QueueSpec{Name: "q", Mode: ModeNormal})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := leader.CreateGroups(ctx, "p", q.ID, []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	gid := groups[0].ID
	// Deafen a node that is not the metadata leader, once every partition
	// has a serving leader and every node knows the queue and group.
	var deaf *Node
	for _, n := range nodes {
		if n != leader {
			deaf = n
			break
		}
	}
	waitUntil(t, 20*time.Second, "serving leaders and the group everywhere", func() bool {
		for i := range q.Partitions {
			led := false
			for _, n := range nodes {
				r, ok := n.host.Get(PartitionID(q.ID, i))
				if !ok {
					return false
				}
				led = led || r.IsLeader()
			}
			if !led {
				return false
			}
		}
		_, err := deaf.GetGroup(ctx, "p", q.ID, gid)
		return err == nil
	})
	var idx int
	for i := range nodes {
		if nodes[i] == deaf {
			idx = i
		}
	}
	gates[idx].deafen()
	t.Cleanup(gates[idx].hear)

	// A partition the deaf node follows, and a node that leads it.
	part, by := -1, (*Node)(nil)
	waitUntil(t, 10*time.Second, "a partition whose deaf replica knows no leader", func() bool {
		for i := range q.Partitions {
			r, _ := deaf.host.Get(PartitionID(q.ID, i))
			if r.IsLeader() || r.Leader() != "" {
				continue
			}
			for _, n := range nodes {
				if rr, _ := n.host.Get(PartitionID(q.ID, i)); n != deaf && rr.IsLeader() {
					part, by = i, n
					return true
				}
			}
		}
		return false
	})
	if by.followsUs(PartitionID(q.ID, part), deaf.ID()) {
		t.Fatalf("leader %s believes the deaf node follows it", by.ID())
	}

	if _, err := by.partitionCall(ctx, q, part, &fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"one"`)}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := deaf.Consume(ctx, q, gid, ConsumeRequest{Max: 10, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 30_000, WaitMs: 3_000})
	if err != nil {
		t.Fatalf("consume through the deaf node: %v after %v", err, time.Since(start))
	}
	if len(got) != 1 || got[0].Partition != part || string(got[0].Message.Body) != `"one"` {
		t.Fatalf("consume through the deaf node got %+v after %v, want the message of partition %d", got, time.Since(start), part)
	}

	start = time.Now()
	if _, err := deaf.partitionCall(ctx, q, part, &fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"two"`)}}}); err != nil {
		t.Fatalf("produce through the deaf node: %v after %v", err, time.Since(start))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("produce through the deaf node took %v", d)
	}
}
