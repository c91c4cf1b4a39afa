package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"raftmq/cluster"
	"raftmq/cluster/clustertest"
	"raftmq/cluster/transport"
)

// TestServeFlags_ClusterKey loads keys from --cluster-key (twice: the first
// sends) and from RAFTMQ_CLUSTER_KEY, and refuses a file that is not a key.
func TestServeFlags_ClusterKey(t *testing.T) {
	a, b := clustertest.WriteClusterKey(t), clustertest.WriteClusterKey(t)
	ka, _ := transport.LoadClusterKey(a)
	kb, _ := transport.LoadClusterKey(b)
	noEnv := func(string) string { return "" }

	m := NewMain()
	if err := m.ParseFlags([]string{"--cluster-key", b, "--cluster-key", a}, noEnv); err != nil {
		t.Fatal(err)
	}
	if len(m.Cluster.ClusterKeys) != 2 || !bytes.Equal(m.Cluster.ClusterKeys[0], kb) || !bytes.Equal(m.Cluster.ClusterKeys[1], ka) {
		t.Fatalf("keys %x, want B then A", m.Cluster.ClusterKeys)
	}
	m = NewMain()
	if err := m.ParseFlags(nil, func(k string) string {
		if k == "RAFTMQ_CLUSTER_KEY" {
			return a
		}
		return ""
	}); err != nil || len(m.Cluster.ClusterKeys) != 1 || !bytes.Equal(m.Cluster.ClusterKeys[0], ka) {
		t.Fatalf("from the environment: %x, %v", m.Cluster.ClusterKeys, err)
	}
	m = NewMain()
	if err := m.ParseFlags(nil, noEnv); err != nil || m.Cluster.ClusterKeys != nil {
		t.Fatalf("no flag: %x, %v; want open mode", m.Cluster.ClusterKeys, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	for _, content := range []string{"", "c2hvcnQ=\n", strings.Repeat("A", 43) + "\n"} {
		os.WriteFile(bad, []byte(content), 0o600)
		if err := NewMain().ParseFlags([]string{"--cluster-key", bad}, noEnv); err == nil {
			t.Fatalf("key file %q accepted", content)
		}
	}
	if err := NewMain().ParseFlags([]string{"--cluster-key", a, "--cluster-key", b, "--cluster-key", a}, noEnv); err == nil {
		t.Fatal("three keys accepted")
	}
}

// TestKeygen_PrintsAKeyFile runs `raftmq keygen`: one line that the
// --cluster-key parser accepts, new every time.
func TestKeygen_PrintsAKeyFile(t *testing.T) {
	var out1, out2, errs bytes.Buffer
	if keygen(nil, &out1, &errs) != 0 || keygen(nil, &out2, &errs) != 0 {
		t.Fatalf("keygen failed: %s", errs.String())
	}
	if !strings.HasSuffix(out1.String(), "\n") || strings.Count(out1.String(), "\n") != 1 {
		t.Fatalf("keygen printed %q, want one line", out1.String())
	}
	if _, err := transport.ParseClusterKey(out1.Bytes()); err != nil {
		t.Fatal(err)
	}
	if out1.String() == out2.String() {
		t.Fatal("keygen printed the same key twice")
	}
}

// statusIDs lists the node ids and the partitions' replicas that base's
// GET /v1/cluster names.
func statusIDs(t *testing.T, base string) (nodes, replicas []string) {
	t.Helper()
	st, err := getStatus(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		nodes = append(nodes, n.ID)
	}
	for _, p := range st.Partitions {
		replicas = append(replicas, p.Replicas...)
	}
	return nodes, replicas
}

// TestCluster_StrangerCannotJoin starts, next to a keyed three-node
// cluster, a fourth node with the key and two strangers (no key; another
// key), all joining the same way at the same moment. The fourth node joins
// and takes replicas; by then no node has heard of the strangers, they have
// heard of nobody, and the internal endpoints refuse a request without the
// key.
func TestCluster_StrangerCannotJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	key := clustertest.WriteClusterKey(t)
	c := clustertest.StartCluster(t, binPath, 3, clustertest.KeyArgs(key)...)
	join := []string{"--bootstrap-expect", "3", "--join", c.Nodes[0].Gossip}
	good := clustertest.NewProcess(t, binPath, "n4", slices.Concat(join, clustertest.KeyArgs(key))...)
	strangers := []*clustertest.Process{
		clustertest.NewProcess(t, binPath, "s1", join...),
		clustertest.NewProcess(t, binPath, "s2", slices.Concat(join, clustertest.KeyArgs(clustertest.WriteClusterKey(t)))...),
	}
	for _, p := range append([]*clustertest.Process{good}, strangers...) {
		p.StartNoWait(t)
	}
	good.WaitReady(t, 30*time.Second)
	cl := newDMSClient(t, "proj", good.URL())
	cl.createQueue("after-join", map[string]any{"queue_mode": "NORMAL"})
	waitFor(t, 20*time.Second, "n4 in every node's view", func() error {
		for _, p := range c.Nodes {
			if nodes, _ := statusIDs(t, p.URL()); !slices.Contains(nodes, "n4") {
				return fmt.Errorf("%s sees %v", p.NodeID, nodes)
			}
		}
		return nil
	})
	for _, p := range append(c.Nodes, good) {
		nodes, replicas := statusIDs(t, p.URL())
		for _, s := range strangers {
			if slices.Contains(nodes, s.NodeID) || slices.Contains(replicas, s.NodeID) {
				t.Fatalf("%s knows stranger %s: nodes %v, replicas %v", p.NodeID, s.NodeID, nodes, replicas)
			}
		}
	}
	for _, s := range strangers {
		if nodes, _ := statusIDs(t, s.URL()); len(nodes) != 1 {
			t.Fatalf("stranger %s sees %v", s.NodeID, nodes)
		}
		if resp, err := http.Get(s.URL() + "/ready"); err != nil || resp.StatusCode != 503 {
			t.Fatalf("stranger %s ready: %v %v", s.NodeID, resp, err)
		}
	}
	if out := c.Nodes[0].Output(); !strings.Contains(out, "gossip: refused a message") {
		t.Fatalf("n1 logged no refused gossip: did the strangers try at all?\n%s", out)
	}
	resp, err := http.Post(c.Nodes[0].URL()+cluster.InternalPathPrefix+"metaindex", "application/json", nil)
	if err != nil || resp.StatusCode != 403 {
		t.Fatalf("internal request without the key: %v %v", resp, err)
	}
}

// TestCluster_ClusterKeysRoll rolls two nodes from key A to key B without
// downtime: A; then A+B (A sends); then B+A (B sends); then B. One node is
// restarted at a time, and both serve after every restart.
func TestCluster_ClusterKeysRoll(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	a, b := clustertest.WriteClusterKey(t), clustertest.WriteClusterKey(t)
	c := clustertest.StartCluster(t, binPath, 2, clustertest.KeyArgs(a)...)
	base := slices.Clone(c.Nodes[0].Args[:len(c.Nodes[0].Args)-2]) // without the key flags
	cl := newDMSClient(t, "proj", baseURLs(c)...)
	q := cl.createQueue("roll", nil)
	for _, stage := range []struct {
		name string
		keys []string
	}{{"A+B", []string{a, b}}, {"B+A", []string{b, a}}, {"B", []string{b}}} {
		for i, p := range c.Nodes {
			if code := p.Stop(t, 30*time.Second); code != 0 {
				t.Fatalf("%s: %s exited %d", stage.name, p.NodeID, code)
			}
			p.Args = slices.Concat(base, clustertest.KeyArgs(stage.keys...))
			p.Start(t)
			other := c.Nodes[1-i]
			other.WaitReady(t, 30*time.Second)
			waitFor(t, 30*time.Second, stage.name+": produce through both nodes", func() error {
				for node := range c.Nodes {
					if err := cl.produce(node, q, stage.name); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
}

// TestServe_WarnsInOpenMode: a node without --cluster-key says so loudly at
// start; a keyed node says its node-to-node traffic is protected.
func TestServe_WarnsInOpenMode(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	open := clustertest.NewProcess(t, binPath, "open")
	keyed := clustertest.NewProcess(t, binPath, "keyed", clustertest.KeyArgs(clustertest.WriteClusterKey(t))...)
	open.Start(t)
	keyed.Start(t)
	if out := open.Output(); !strings.Contains(out, "WARNING: no --cluster-key") {
		t.Fatalf("open node's output has no warning:\n%s", out)
	}
	if out := keyed.Output(); strings.Contains(out, "WARNING: no --cluster-key") || !strings.Contains(out, "cluster key on") {
		t.Fatalf("keyed node's output:\n%s", out)
	}
}
