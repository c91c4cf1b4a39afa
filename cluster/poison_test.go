package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
)

// poisonedMetaEntries are catalogue entries no node should ever have
// proposed: each crashed every node before, and again at every restart.
var poisonedMetaEntries = [][]byte{
	[]byte(`not json`),
	[]byte(`{"op":"drop_everything"}`),
	[]byte(`{"op":"create_queue"}`),
	[]byte(`{"op":"create_queue","queue":{"ID":"../../x","Project":"p","Name":"q","Mode":"NORMAL","Partitions":1},"replicas":[["n1"]],"limit":9}`),
	[]byte(`{"op":"create_groups","project":"p","queue_id":"x"}`),
}

// TestCatalogue_CommandsAreValidatedBeforeProposing refuses a malformed
// catalogue command before it reaches the log, locally and from a peer.
func TestCatalogue_CommandsAreValidatedBeforeProposing(t *testing.T) {
	n := startSingle(t, t.TempDir())
	ctx := context.Background()
	if _, err := n.proposeMetaLocal(ctx, &catalogue.Command{Op: "drop_everything"}); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("unknown op: %v, want ErrInvalidCommand", err)
	}
	before := n.cat.AppliedIndex()
	if _, err := n.serveInternal(ctx, rpcMeta, []byte(`{"op":"create_queue"}`)); err == nil {
		t.Fatal("rpcMeta accepted a create_queue without a queue")
	}
	if n.cat.AppliedIndex() != before {
		t.Fatal("the refused command reached the log")
	}
}

// TestCluster_PoisonedEntriesKeepEveryNodeRunning commits poisoned entries
// straight through the Raft API (past every validation) to the metadata
// group and to a partition group: every node applies them as no-ops and
// keeps serving.
func TestCluster_PoisonedEntriesKeepEveryNodeRunning(t *testing.T) {
	nodes := startTrio(t)
	leader := metaLeader(t, nodes)
	ctx := context.Background()
	for _, b := range poisonedMetaEntries {
		if _, err := leader.meta.Propose(ctx, b); err != nil {
			t.Fatalf("proposing poison: %v", err)
		}
	}
	q, err := leader.CreateQueue(ctx, "p", QueueSpec{Name: "after", Mode: ModeFIFO})
	if err != nil {
		t.Fatalf("create queue after the poison: %v", err)
	}
	pid := catalogue.PartitionID(q.ID, 0)
	var lead *Node
	waitUntil(t, 10*time.Second, "a partition leader", func() bool {
		for _, n := range nodes {
			if r, ok := n.host.Get(pid); ok && r.IsLeader() {
				lead = n
				return true
			}
		}
		return false
	})
	r, _ := lead.host.Get(pid)
	for _, b := range [][]byte{{}, {0x01}, {byte(fsm.TypeEnqueue), 1, 0x80}, []byte("garbage")} {
		if _, err := r.Propose(ctx, b); err != nil {
			t.Fatalf("proposing partition poison: %v", err)
		}
	}
	if _, err := lead.Produce(ctx, q, []fsm.Message{{Body: []byte(`"x"`)}}); err != nil {
		t.Fatalf("produce after the poison: %v", err)
	}
	waitUntil(t, 10*time.Second, "every replica to apply the message", func() bool {
		for _, n := range nodes {
			r, ok := n.host.Get(pid)
			if !ok || !n.Ready() {
				return false
			}
			var produced int64
			r.Read(func(s *fsm.State) { produced = s.Produced() })
			if produced != 1 {
				return false
			}
		}
		return true
	})
}

// TestNode_PoisonedLogReplaysAfterRestart commits poisoned entries on a
// single node, stops it and starts it again on the same data directory: the
// replay applies them as no-ops and the node becomes ready.
func TestNode_PoisonedLogReplaysAfterRestart(t *testing.T) {
	dir := t.TempDir()
	n := startSingle(t, dir)
	ctx := context.Background()
	q, err := n.CreateQueue(ctx, "p", QueueSpec{Name: "q", Mode: ModeFIFO})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range poisonedMetaEntries {
		if _, err := n.meta.Propose(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	r, ok := n.host.Get(catalogue.PartitionID(q.ID, 0))
	if !ok {
		t.Fatal("no local replica")
	}
	if _, err := r.Propose(ctx, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startSingle(t, dir)
	if _, err := n2.Produce(ctx, q, []fsm.Message{{Body: []byte(`"x"`)}}); err != nil {
		t.Fatalf("produce after the restart: %v", err)
	}
}

// startSingle opens a one-node cluster on dir and waits until it is ready;
// it is closed when the test ends (closing twice is harmless).
func startSingle(t *testing.T, dir string) *Node {
	t.Helper()
	return startSingleWith(t, dir, nil)
}

// startSingleWith is startSingle with a configuration hook (may be nil).
func startSingleWith(t *testing.T, dir string, config func(*Config)) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeID = "n1"
	cfg.DataDir = dir
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.FastGossip = true
	cfg.Raft.HeartbeatTimeout = 150 * time.Millisecond
	cfg.Raft.ElectionTimeout = 150 * time.Millisecond
	cfg.Raft.LeaderLeaseTimeout = 100 * time.Millisecond
	cfg.Raft.CommitTimeout = 5 * time.Millisecond
	cfg.Raft.RaftLog = io.Discard
	if config != nil {
		config(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(cfg, ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	waitUntil(t, 10*time.Second, "a ready node", n.Ready)
	return n
}
