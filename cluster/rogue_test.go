package cluster

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/transport"
	"raftmq/fsm"
)

// rogueTerm is far above any term a test cluster reaches by itself.
const rogueTerm = 1_000_000

const rogueQueueID = "0badc0de-0000-4000-8000-000000000000"

// rogue is a program without the cluster key that speaks the mux header
// and hashicorp/raft's protocol: what an attacker builds from the two.
type rogue struct {
	mux   *transport.Mux
	addr  string                            // the mux's listener
	trans map[string]*raft.NetworkTransport // by group
}

func newRogue(t *testing.T) *rogue {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := transport.NewMux(ln, transport.MuxConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rogue{mux: m, addr: ln.Addr().String(), trans: map[string]*raft.NetworkTransport{}}
	t.Cleanup(func() {
		for _, tr := range r.trans {
			tr.Close()
		}
		m.Close()
	})
	return r
}

func (r *rogue) transport(t *testing.T, group string) *raft.NetworkTransport {
	if tr, ok := r.trans[group]; ok {
		return tr
	}
	l, err := r.mux.Layer(group)
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: l, MaxPool: 1, Timeout: time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard})})
	r.trans[group] = tr
	return tr
}

// appendEntries claims leadership of group on target with rogueTerm and
// sends entries as committed right after (prevIndex, prevTerm).
func (r *rogue) appendEntries(t *testing.T, target *Node, group string, prevIndex, prevTerm uint64, entries ...[]byte) (bool, error) {
	tr := r.transport(t, group)
	req := &raft.AppendEntriesRequest{
		RPCHeader:    raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("rogue"), Addr: []byte(r.addr)},
		Term:         rogueTerm,
		PrevLogEntry: prevIndex, PrevLogTerm: prevTerm,
		LeaderCommitIndex: prevIndex + uint64(len(entries)),
	}
	for i, e := range entries {
		req.Entries = append(req.Entries, &raft.Log{Index: prevIndex + 1 + uint64(i), Term: rogueTerm, Type: raft.LogCommand, Data: e})
	}
	var resp raft.AppendEntriesResponse
	err := tr.AppendEntries(raft.ServerID(target.ID()), raft.ServerAddress(target.RaftAddr()), req, &resp)
	return err == nil && resp.Success, err
}

func rogueQueueCommand() []byte {
	b, _ := json.Marshal(&catalogue.Command{Op: catalogue.OpCreateQueue, Limit: 100,
		Queue:    &Queue{ID: rogueQueueID, Project: "p", Name: "rogue", Mode: ModeFIFO, Partitions: 1},
		Replicas: [][]string{{"n1"}}})
	return b
}

func aFollower(t *testing.T, nodes []*Node) *Node {
	leader := metaLeader(t, nodes)
	for _, n := range nodes {
		if n != leader {
			return n
		}
	}
	t.Fatal("no follower")
	return nil
}

// TestRaft_RogueClientInOpenModeInjects is the control of the next test: on
// an open cluster the rogue's AppendEntries takes over a follower's term and
// commits a queue into the catalogue, so the attack the keyed test repels
// is real. The same append carries poisoned entries: the follower applies
// them as no-ops, and the cluster (which now has to elect a leader above
// the rogue's term, and replicates the follower's log) serves again.
func TestRaft_RogueClientInOpenModeInjects(t *testing.T) {
	if testing.Short() {
		t.Skip("three nodes")
	}
	nodes := startTrio(t)
	f := aFollower(t, nodes)
	prev := f.meta.AppliedIndex()
	entries := append([][]byte{rogueQueueCommand()}, poisonedMetaEntries...)
	ok, err := newRogue(t).appendEntries(t, f, "meta", prev, f.meta.Term(), entries...)
	if err != nil || !ok {
		t.Fatalf("the rogue's append was not taken (%v): the control shows nothing", err)
	}
	waitUntil(t, 5*time.Second, "the injected entries applied on the follower", func() bool {
		_, ok := f.cat.Queue("p", rogueQueueID)
		return ok && f.cat.AppliedIndex() >= prev+uint64(len(entries))
	})
	if f.meta.Term() < rogueTerm {
		t.Fatalf("term %d after the rogue's append", f.meta.Term())
	}
	waitUntil(t, 20*time.Second, "a metadata leader above the rogue's term", func() bool {
		for _, n := range nodes {
			if n.meta.IsLeader() && n.meta.Term() > rogueTerm {
				return true
			}
		}
		return false
	})
	if _, err := nodes[0].CreateQueue(context.Background(), "p", QueueSpec{Name: "after", Mode: ModeFIFO}); err != nil {
		t.Fatalf("create queue after the poison: %v", err)
	}
}

// TestRaft_RogueClientWithoutTheKeyChangesNothing runs the same rogue,
// every 50 ms against every node's metadata group and a partition group,
// while the keyed cluster creates a queue and produces: every attempt
// fails, no term reaches the rogue's, nothing is injected, service goes on.
func TestRaft_RogueClientWithoutTheKeyChangesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("three nodes")
	}
	key := testKey(t)
	nodes := startTrioWith(t, trioOptions{config: func(_ int, c *Config) { c.ClusterKeys = [][]byte{key} }})
	leader := metaLeader(t, nodes)
	ctx := context.Background()
	q, err := leader.CreateQueue(ctx, "p", QueueSpec{Name: "before", Mode: ModeFIFO})
	if err != nil {
		t.Fatal(err)
	}
	pid := catalogue.PartitionID(q.ID, 0)
	r := newRogue(t)
	var attempts, taken atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, n := range nodes {
				for _, g := range []string{"meta", pid} {
					if ok, _ := r.appendEntries(t, n, g, n.meta.AppliedIndex(), n.meta.Term(), rogueQueueCommand()); ok {
						taken.Add(1)
					}
					attempts.Add(1)
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond): // the attack's pace, not synchronisation
			}
		}
	}()
	q2, err := leader.CreateQueue(ctx, "p", QueueSpec{Name: "during", Mode: ModeFIFO})
	if err != nil {
		t.Fatalf("create queue under attack: %v", err)
	}
	for _, qq := range []Queue{q, q2} {
		if _, err := nodes[1].Produce(ctx, qq, []fsm.Message{{Body: []byte(`"x"`)}}); err != nil {
			t.Fatalf("produce under attack: %v", err)
		}
	}
	waitUntil(t, 20*time.Second, "60 rogue attempts", func() bool { return attempts.Load() >= 60 })
	close(stop)
	<-done
	if taken.Load() != 0 {
		t.Fatalf("%d of the rogue's appends were taken", taken.Load())
	}
	for _, n := range nodes {
		if _, ok := n.cat.Queue("p", rogueQueueID); ok {
			t.Fatalf("node %s holds the rogue's queue", n.ID())
		}
		terms := []uint64{n.meta.Term()}
		if rp, ok := n.host.Get(pid); ok {
			terms = append(terms, rp.Term())
		}
		for _, term := range terms {
			if term >= rogueTerm {
				t.Fatalf("node %s reached the rogue's term", n.ID())
			}
		}
	}
}
