package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// readInc returns the incarnation in a node's identity file.
func readInc(t *testing.T, p *clustertest.Process) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.DataDir, "node.json"))
	if err != nil {
		t.Fatal(err)
	}
	var id struct {
		Inc string `json:"inc"`
	}
	if err := json.Unmarshal(b, &id); err != nil || id.Inc == "" {
		t.Fatalf("identity file of %s: %q, %v", p.NodeID, b, err)
	}
	return id.Inc
}

// TestMembership_WipedNodeWithoutRemovalIsReplaced kills one node of three,
// wipes its data directory and starts it again under the same id and
// addresses, without removing it first, in open mode and with a cluster
// key. Its old Raft identity must not be trusted: peers' connections meant
// for it are refused, the metadata leader replaces it (its replicas leave
// every group, then the new incarnation is admitted and takes its share),
// and every message produced before is consumed exactly once afterwards.
func TestMembership_WipedNodeWithoutRemovalIsReplaced(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Run("open", func(t *testing.T) { wipeAndRestart(t) })
	t.Run("keyed", func(t *testing.T) { wipeAndRestart(t, clustertest.KeyArgs(clustertest.WriteClusterKey(t))...) })
}

// wipeAndRestart runs TestMembership_WipedNodeWithoutRemovalIsReplaced on a
// cluster started with extra flags.
func wipeAndRestart(t *testing.T, extra ...string) {
	c := clustertest.StartCluster(t, binPath, 3, extra...)
	cl := newDMSClient(t, "proj", baseURLs(c)...)
	q := cl.createQueue("wiped", nil)
	g := cl.createGroup(q, "workers")
	var want []string
	for k := range 30 {
		v := fmt.Sprintf("w%d", k)
		code, err := cl.do(k%3, "POST", "/queues/"+q+"/messages", map[string]any{"messages": []map[string]any{{"body": v}}}, nil)
		if err != nil || code != 201 {
			t.Fatalf("produce %s: %d, %v", v, code, err)
		}
		want = append(want, v)
	}
	victim := c.Nodes[2]
	oldInc := readInc(t, victim)
	victim.Kill(t)
	if err := os.RemoveAll(victim.DataDir); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	victim.StartNoWait(t)
	victim.WaitReady(t, 90*time.Second)
	t.Logf("the wiped node was admitted and ready %v after its restart", time.Since(restarted).Round(100*time.Millisecond))
	newInc := readInc(t, victim)
	if newInc == oldInc {
		t.Fatalf("the wiped node kept incarnation %s", oldInc)
	}

	line := fmt.Sprintf("node %s restarted with a new data directory (incarnation %s, was %s): replacing it", victim.NodeID, newInc, oldInc)
	if !strings.Contains(c.Nodes[0].Output()+c.Nodes[1].Output(), line) {
		t.Fatalf("no survivor logged %q", line)
	}
	if !strings.Contains(victim.Output(), "another incarnation") {
		t.Fatal("the wiped node refused no Raft connection meant for its old incarnation")
	}
	base := c.Nodes[0].URL()
	waitView(t, base, 60*time.Second, "three replicas each again, n3 included", spread([]string{"n1", "n2", "n3"}, 3))
	t.Logf("every partition back to three replicas, balanced, %v after the restart", time.Since(restarted).Round(100*time.Millisecond))

	got := drainValues(t, cl, q, g, len(want))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %d messages %v, want each of %d exactly once %v", len(got), got, len(want), want)
	}
}
