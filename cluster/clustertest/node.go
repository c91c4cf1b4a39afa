package clustertest

import (
	"io"
	"net"
	"testing"
	"time"

	"raftmq/cluster"
	"raftmq/partition"
)

// RaftTimings are shrunk Raft timings for tests on loopback.
func RaftTimings() partition.RaftConfig {
	c := partition.DefaultRaftConfig()
	c.HeartbeatTimeout = 150 * time.Millisecond
	c.ElectionTimeout = 150 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.ApplyTimeout = 5 * time.Second
	c.LeaderWait = 3 * time.Second
	return c
}

// Option adjusts a node's configuration before it starts.
type Option func(*cluster.Config)

// StartNode starts a single-node cluster in a temporary directory and waits
// until it is ready. The node is closed when the test ends.
func StartNode(t testing.TB, opts ...Option) *cluster.Node {
	t.Helper()
	cfg := cluster.DefaultConfig()
	cfg.NodeID = "n1"
	cfg.DataDir = t.TempDir()
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.FastGossip = true
	cfg.Raft = RaftTimings()
	cfg.Raft.RaftLog = io.Discard // hashicorp/raft's own chatter; the test's assertions say what failed
	for _, o := range opts {
		o(&cfg)
	}
	n := Open(t, cfg)
	t.Cleanup(func() { n.Close() })
	return n
}

// Open starts a node with cfg on a loopback Raft listener and waits until it
// is ready; the caller closes it.
func Open(t testing.TB, cfg cluster.Config) *cluster.Node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := cluster.Open(cfg, ln)
	if err != nil {
		t.Fatal(err)
	}
	WaitReady(t, n, 10*time.Second)
	return n
}

// WaitReady polls until the node is ready or fails the test at the deadline.
func WaitReady(t testing.TB, n *cluster.Node, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !n.Ready() {
		if time.Now().After(deadline) {
			n.Close()
			t.Fatalf("node %s not ready after %v: %+v", n.ID(), d, n.Status())
		}
		time.Sleep(10 * time.Millisecond) // polling a condition against a deadline
	}
}
