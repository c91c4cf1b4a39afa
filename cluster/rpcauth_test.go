package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
)

// internalCall seals body with keys as a peer would, serves it on n and
// returns the status and the opened answer.
func internalCall(t *testing.T, n *Node, keys *keyring, op string, body []byte) (int, []byte) {
	t.Helper()
	auth, sealed, seal, err := sealRequest(keys.primary(), op, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	status, resp := n.HandleInternal(context.Background(), op, auth, sealed)
	answer, err := seal.openAnswer(status, resp)
	if err != nil {
		t.Fatalf("%s answered %d %q: %v", op, status, resp, err)
	}
	return status, answer
}

func testKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, ClusterKeyLen)
	rand.Read(k)
	return k
}

func mustKeyring(t testing.TB, keys ...[]byte) *keyring {
	t.Helper()
	kr, err := newKeyring(keys)
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
			auth, sealed, seal, err := sealRequest(n.rpcKeys().primary(), rpcCommand, body, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			status, resp := n.HandleInternal(context.Background(), rpcCommand, auth, sealed)
			if _, err := seal.openAnswer(status, resp); err != nil || status != 200 {
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
	good := mustKeyring(t, key).primary()
	for _, tt := range []struct {
		name string
		key  clusterKey
		at   time.Time
		op   string
		edit func(auth string, sealed []byte) (string, []byte)
	}{
		{name: "other key", key: mustKeyring(t, testKey(t)).primary()},
		{name: "stale", at: time.Now().Add(-rpcWindow - time.Second)},
		{name: "future", at: time.Now().Add(rpcWindow + time.Second)},
		{name: "before start", at: time.UnixMilli(n.replay.start - 1)},
		{name: "other op", op: rpcStats},
		{name: "body flipped", edit: func(a string, b []byte) (string, []byte) { b[0] ^= 1; return a, b }},
		{name: "header edited", edit: func(a string, b []byte) (string, []byte) { return a[:10] + "A" + a[11:], b }},
		{name: "unsigned", edit: func(string, []byte) (string, []byte) { return "", body }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, at, op := tt.key, tt.at, tt.op
			if k.secret == nil {
				k = good
			}
			if at.IsZero() {
				at = time.Now()
			}
			if op == "" {
				op = rpcCommand
			}
			auth, sealed, _, err := sealRequest(k, rpcCommand, body, at)
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
	auth, sealed, _, err := sealRequest(n.rpcKeys().primary(), rpcCommand, body, time.Now())
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

// TestRPC_ReplayCacheForgetsAndStaysBounded checks that the cache forgets
// nonces once their time left the window, and refuses rather than grows.
func TestRPC_ReplayCacheForgetsAndStaysBounded(t *testing.T) {
	t0 := time.Now()
	c := newReplayCache(t0.Add(-time.Minute), 2)
	k := mustKeyring(t, testKey(t)).primary()
	seal := func(at time.Time) *rpcSeal {
		_, _, s, err := sealRequest(k, rpcMeta, nil, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, d := seal(t0), seal(t0), seal(t0)
	if c.admit(a, t0) != nil || c.admit(b, t0) != nil {
		t.Fatal("fresh nonces refused")
	}
	if err := c.admit(a, t0); !errors.Is(err, ErrRPCAuth) {
		t.Fatalf("replay: %v", err)
	}
	if err := c.admit(d, t0); !errors.Is(err, errReplayCacheFull) {
		t.Fatalf("third nonce in a cache of two: %v", err)
	}
	later := t0.Add(rpcWindow + 2*time.Second)
	if err := c.admit(d, later); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if c.entries != 1 || len(c.seen) != 1 {
		t.Fatalf("%d entries (%d seen) after expiry, want 1", c.entries, len(c.seen))
	}
}
