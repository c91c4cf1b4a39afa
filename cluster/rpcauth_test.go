package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/transport"
	"raftmq/fsm"
)

// internalCall seals body with keys as a peer would, serves it on n and
// returns the status and the opened answer.
func internalCall(t *testing.T, n *Node, keys *transport.Keyring, op string, body []byte) (int, []byte) {
	t.Helper()
	auth, sealed, seal, err := transport.SealRequest(keys.Primary(), op, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	status, resp := n.HandleInternal(context.Background(), op, auth, sealed)
	answer, err := seal.OpenAnswer(status, resp)
	if err != nil {
		t.Fatalf("%s answered %d %q: %v", op, status, resp, err)
	}
	return status, answer
}

func testKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, transport.ClusterKeyLen)
	rand.Read(k)
	return k
}

func mustKeyring(t testing.TB, keys ...[]byte) *transport.Keyring {
	t.Helper()
	kr, err := transport.NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// startKeyedSingle is startSingle with cluster keys.
func startKeyedSingle(t *testing.T, keys ...[]byte) *Node {
	t.Helper()
	return startSingleWith(t, t.TempDir(), func(c *Config) { c.ClusterKeys = keys })
}

// enqueueRequest is an rpcCommand body producing one message to partition 0
// of a new FIFO queue on n.
func enqueueRequest(t *testing.T, n *Node) (*fsm.Enqueue, []byte, string) {
	t.Helper()
	q, err := n.CreateQueue(context.Background(), "p", QueueSpec{Name: "q", Mode: ModeFIFO})
	if err != nil {
		t.Fatal(err)
	}
	e := &fsm.Enqueue{Messages: []fsm.Message{{Body: []byte(`"secret-body"`)}}}
	cmd, err := fsm.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	pid := catalogue.PartitionID(q.ID, 0)
	body, _ := json.Marshal(commandRequest{Partition: pid, Command: cmd})
	return e, body, pid
}

func produced(n *Node, pid string) int64 {
	r, ok := n.host.Get(pid)
	if !ok {
		return -1
	}
	var p int64
	r.Read(func(s *fsm.State) { p = s.Produced() })
	return p
}

// TestRPC_ReplayedRequestIsRefused sends one sealed enqueue twice: the
// replay gets a plain 403 and adds nothing, in open mode (sealed with the
// handler key) and with a cluster key.
func TestRPC_ReplayedRequestIsRefused(t *testing.T) {
	for _, mode := range []string{"open", "keyed"} {
		t.Run(mode, func(t *testing.T) {
			var n *Node
			if mode == "open" {
				n = startSingle(t, t.TempDir())
			} else {
				n = startKeyedSingle(t, testKey(t))
			}
			_, body, pid := enqueueRequest(t, n)
			auth, sealed, seal, err := transport.SealRequest(n.rpcKeys().Primary(), rpcCommand, body, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			status, resp := n.HandleInternal(context.Background(), rpcCommand, auth, sealed)
			if _, err := seal.OpenAnswer(status, resp); err != nil || status != 200 {
				t.Fatalf("first request: %d %v", status, err)
			}
			status, resp = n.HandleInternal(context.Background(), rpcCommand, auth, sealed)
			if status != 403 {
				t.Fatalf("replayed request answered %d %q, want 403", status, resp)
			}
			if p := produced(n, pid); p != 1 {
				t.Fatalf("%d messages after a request and its replay, want 1", p)
			}
		})
	}
}

// TestRPC_ForgedStaleAndForeignRequestsAreRefused: a request sealed with
// another key, stamped outside the window or before the node started,
// altered in transit, or sent to another operation is a plain 403.
func TestRPC_ForgedStaleAndForeignRequestsAreRefused(t *testing.T) {
	key := testKey(t)
	n := startKeyedSingle(t, key)
	_, body, pid := enqueueRequest(t, n)
	good := mustKeyring(t, key).Primary()
	for _, tt := range []struct {
		name string
		key  transport.Key
		at   time.Time
		op   string
		edit func(auth string, sealed []byte) (string, []byte)
	}{
		{name: "other key", key: mustKeyring(t, testKey(t)).Primary()},
		{name: "stale", at: time.Now().Add(-transport.RPCWindow - time.Second)},
		{name: "future", at: time.Now().Add(transport.RPCWindow + time.Second)},
		{name: "before start", at: n.replay.Start().Add(-time.Millisecond)},
		{name: "other op", op: rpcStats},
		{name: "body flipped", edit: func(a string, b []byte) (string, []byte) { b[0] ^= 1; return a, b }},
		{name: "header edited", edit: func(a string, b []byte) (string, []byte) { return a[:10] + "A" + a[11:], b }},
		{name: "unsigned", edit: func(string, []byte) (string, []byte) { return "", body }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, at, op := tt.key, tt.at, tt.op
			if k.Secret == nil {
				k = good
			}
			if at.IsZero() {
				at = time.Now()
			}
			if op == "" {
				op = rpcCommand
			}
			auth, sealed, _, err := transport.SealRequest(k, rpcCommand, body, at)
			if err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				auth, sealed = tt.edit(auth, sealed)
			}
			if status, resp := n.HandleInternal(context.Background(), op, auth, sealed); status != 403 {
				t.Fatalf("answered %d %q, want 403", status, resp)
			}
		})
	}
	if p := produced(n, pid); p != 0 {
		t.Fatalf("%d messages produced by refused requests", p)
	}
}

// TestRPC_BodiesArePrivate checks that with a cluster key neither the
// request nor the answer shows its content.
func TestRPC_BodiesArePrivate(t *testing.T) {
	n := startKeyedSingle(t, testKey(t))
	_, body, pid := enqueueRequest(t, n)
	auth, sealed, _, err := transport.SealRequest(n.rpcKeys().Primary(), rpcCommand, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret-body")) || bytes.Contains(sealed, []byte(pid)) {
		t.Fatal("the sealed request shows its content")
	}
	status, resp := n.HandleInternal(context.Background(), rpcCommand, auth, sealed)
	if status != 200 || bytes.Contains(resp, []byte("enqueue")) {
		t.Fatalf("answer %d %q shows its content", status, resp)
	}
}
