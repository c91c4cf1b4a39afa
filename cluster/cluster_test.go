package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/transport"
	"raftmq/fsm"
)

// startTrio starts three in-process nodes that form one cluster through
// gossip (bootstrap-expect 3), with short Raft timings, and waits until
// every node is ready. Each node's HTTP listener serves only the internal
// node-to-node path (the client API is httpapi's, tested there).
func startTrio(t *testing.T) []*Node {
	t.Helper()
	return startTrioWith(t, trioOptions{})
}

// trioOptions changes startTrio's nodes; every field may be nil.
type trioOptions struct {
	raftListener func(i int, ln net.Listener) net.Listener // wraps node i's Raft listener
	config       func(i int, cfg *Config)
	// internal sees node i's node-to-node requests first; when it returns
	// true, its answer is sent instead of the node's.
	internal func(i int, op string, body []byte) (status int, resp []byte, ok bool)
}

func startTrioWith(t *testing.T, o trioOptions) []*Node {
	t.Helper()
	var gossip []string
	var lns, httpLns []net.Listener
	for i := 0; i < 3; i++ {
		h, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		httpLns = append(httpLns, h)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		g, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gossip = append(gossip, g.Addr().String())
		g.Close() // memberlist binds it (TCP and UDP) below
	}
	var nodes []*Node
	for i := 0; i < 3; i++ {
		cfg := DefaultConfig()
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = t.TempDir()
		cfg.HTTPAddr = httpLns[i].Addr().String()
		cfg.GossipAddr = gossip[i]
		cfg.Join = gossip
		cfg.BootstrapExpect = 3
		cfg.FastGossip = true
		cfg.Raft.HeartbeatTimeout = 150 * time.Millisecond
		cfg.Raft.ElectionTimeout = 150 * time.Millisecond
		cfg.Raft.LeaderLeaseTimeout = 100 * time.Millisecond
		cfg.Raft.CommitTimeout = 5 * time.Millisecond
		cfg.Raft.RaftLog = io.Discard
		if o.config != nil {
			o.config(i, &cfg)
		}
		n, err := openTrioNode(t, cfg, lns[i], func(ln net.Listener) net.Listener {
			if o.raftListener != nil {
				return o.raftListener(i, ln)
			}
			return ln
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
			op := strings.TrimPrefix(string(rc.Path()), InternalPathPrefix)
			auth := string(rc.Request.Header.Peek(InternalAuthHeader))
			if o.internal != nil && n.rpcKeys() != nil {
				// The hook sees the request opened and its answer is sealed,
				// as the node's own would be.
				seal, plain, err := transport.OpenRequest(n.rpcKeys(), op, auth, rc.Request.Body(), time.Now())
				if err == nil {
					if status, body, ok := o.internal(i, op, plain); ok {
						rc.SetStatusCode(status)
						rc.SetBody(seal.SealAnswer(status, body))
						return
					}
				}
			}
			status, body := n.HandleInternal(context.Background(), op, auth, rc.Request.Body())
			rc.SetStatusCode(status)
			rc.SetBody(body)
		}}
		go srv.Serve(httpLns[i])
		t.Cleanup(func() { srv.Shutdown(); n.Close() })
		nodes = append(nodes, n)
	}
	waitUntil(t, 20*time.Second, "three ready nodes", func() bool {
		for _, n := range nodes {
			if !n.Ready() {
				return false
			}
		}
		return true
	})
	return nodes
}

// openTrioNode opens a test node on ln (wrapped by wrap). Its gossip port
// was picked free and released for memberlist to bind, so another process
// may take it first: then the node is opened again on new ports, a few
// times at most.
func openTrioNode(t *testing.T, cfg Config, ln net.Listener, wrap func(net.Listener) net.Listener) (*Node, error) {
	t.Helper()
	for try := 0; ; try++ {
		n, err := Open(cfg, wrap(ln))
		if err == nil || try == 4 || !strings.Contains(err.Error(), "address already in use") {
			return n, err
		}
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil { // Open closed the old one
			return nil, err
		}
		g, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		cfg.GossipAddr = g.Addr().String()
		g.Close()
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition against a deadline
	}
}

func metaLeader(t *testing.T, nodes []*Node) *Node {
	t.Helper()
	var leader *Node
	waitUntil(t, 10*time.Second, "a metadata leader", func() bool {
		for _, n := range nodes {
			if n.meta.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// TestCluster_BootstrapExpectFormsOneGroup checks that three nodes started
// with bootstrap-expect 3 form one metadata group with all three as voters
// and share one handler key.
func TestCluster_BootstrapExpectFormsOneGroup(t *testing.T) {
	nodes := startTrio(t)
	leader := metaLeader(t, nodes)
	servers, err := leader.meta.Configuration()
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("metadata group has %d servers, want 3", len(servers))
	}
	k0, _ := nodes[0].HandlerKey()
	for _, n := range nodes[1:] {
		k, ok := n.HandlerKey()
		if !ok || string(k) != string(k0) {
			t.Fatalf("node %s has another handler key", n.ID())
		}
	}
}

// TestCluster_PlacementSpreadsPreferredLeaders creates queues and checks that
// each partition has three replicas on distinct nodes and that preferred
// leaders are spread evenly.
func TestCluster_PlacementSpreadsPreferredLeaders(t *testing.T) {
	nodes := startTrio(t)
	leader := metaLeader(t, nodes)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := leader.CreateQueue(ctx, "p", QueueSpec{Name: fmt.Sprint("q", i), Mode: ModeNormal}); err != nil {
			t.Fatal(err)
		}
	}
	prefers := map[string]int{}
	for _, p := range leader.cat.Placements() {
		seen := map[string]bool{}
		for _, id := range p.Replicas {
			if seen[id] {
				t.Fatalf("partition %s has node %s twice: %v", p.ID, id, p.Replicas)
			}
			seen[id] = true
		}
		if len(p.Replicas) != 3 {
			t.Fatalf("partition %s has %d replicas", p.ID, len(p.Replicas))
		}
		prefers[p.Replicas[0]]++
	}
	for _, n := range nodes {
		if prefers[n.ID()] != 2 {
			t.Fatalf("preferred leaders per node %v, want 2 each", prefers)
		}
	}
}

// TestCluster_ForwardedCommandIsNeverForwardedAgain sends a partition command
// to a follower's internal endpoint: it answers not_leader with the leader's
// id and applies nothing, instead of passing the command on.
func TestCluster_ForwardedCommandIsNeverForwardedAgain(t *testing.T) {
	nodes := startTrio(t)
	leader := metaLeader(t, nodes)
	q, err := leader.CreateQueue(context.Background(), "p", QueueSpec{Name: "q", Mode: ModeFIFO})
	if err != nil {
		t.Fatal(err)
	}
	pid := catalogue.PartitionID(q.ID, 0)
	var lead, follower *Node
	waitUntil(t, 10*time.Second, "a partition leader and a follower replica", func() bool {
		lead, follower = nil, nil
		for _, n := range nodes {
			r, ok := n.host.Get(pid)
			if !ok {
				return false
			}
			if r.IsLeader() {
				lead = n
			} else {
				follower = n
			}
		}
		return lead != nil && follower != nil
	})
	cmd, err := fsm.Encode(&fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"x"`)}}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(commandRequest{Partition: pid, Command: cmd})
	status, resp := internalCall(t, follower, follower.rpcKeys(), rpcCommand, body)
	var e rpcError
	if err := json.Unmarshal(resp, &e); err != nil {
		t.Fatal(err)
	}
	if status != 421 || e.Code != "not_leader" || e.Leader != lead.ID() {
		t.Fatalf("follower answered %d %+v, want 421 not_leader naming %s", status, e, lead.ID())
	}
	for _, n := range nodes {
		r, _ := n.host.Get(pid)
		var produced int64
		r.Read(func(s *fsm.State) { produced = s.Produced() })
		if produced != 0 {
			t.Fatalf("node %s applied the refused command", n.ID())
		}
	}

	// A bad signature is refused before anything is looked at.
	status, _ = lead.HandleInternal(context.Background(), rpcCommand, "forged", body)
	if status != 403 {
		t.Fatalf("forged internal request answered %d, want 403", status)
	}

	// The leader applies it.
	status, resp = internalCall(t, lead, lead.rpcKeys(), rpcCommand, body)
	if status != 200 {
		t.Fatalf("leader answered %d %s", status, resp)
	}
	var a commandAnswer
	if err := json.Unmarshal(resp, &a); err != nil || a.Enqueue == nil || a.Enqueue.Count != 1 {
		t.Fatalf("leader answer %s (%v)", resp, err)
	}
}

// TestCluster_RestartedNodeKeepsIdentity refuses a data directory under
// another node id, and keeps the directory's incarnation across restarts
// (a fresh directory draws another).
func TestCluster_RestartedNodeKeepsIdentity(t *testing.T) {
	dir := t.TempDir()
	inc, err := checkIdentity(dir, "a")
	if err != nil || inc == "" {
		t.Fatal(inc, err)
	}
	if again, err := checkIdentity(dir, "a"); err != nil || again != inc {
		t.Fatalf("same id: incarnation %q (first %q), %v", again, inc, err)
	}
	if other, _ := checkIdentity(t.TempDir(), "a"); other == inc {
		t.Fatal("a fresh data directory got the same incarnation")
	}
	if _, err := checkIdentity(dir, "b"); err == nil {
		t.Fatal("data directory of node a accepted for node b")
	}
}
