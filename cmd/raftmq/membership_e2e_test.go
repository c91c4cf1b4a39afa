package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// These tests change a running cluster's membership (API.md section 7):
// nodes join, are decommissioned, die and are removed, come back wiped.

// adminCall sends a membership request and returns the status and body.
func adminCall(t testing.TB, base, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// joinNode starts one more node that joins the cluster through the first
// node's gossip address (--bootstrap-expect > 1: it waits to be added, it
// never founds a cluster of its own).
func joinNode(t *testing.T, c *clustertest.Cluster, id string, extra ...string) *clustertest.Process {
	t.Helper()
	p := clustertest.NewProcess(t, binPath, id, append([]string{"--bootstrap-expect", "3", "--join", c.Nodes[0].Gossip}, extra...)...)
	p.Start(t)
	c.Nodes = append(c.Nodes, p)
	return p
}

// placementCheck is a condition on one node's view of the cluster.
type placementCheck func(st clusterStatus) error

// spread checks that every partition has rf replicas and a leader, that the
// nodes listed are exactly want (all alive), and that every node holds
// within one of the average number of replicas and of preferred leaders
// (the first replica), leaders within one of the average too.
func spread(want []string, rf int) placementCheck {
	return func(st clusterStatus) error {
		var ids []string
		for _, n := range st.Nodes {
			if n.State != "alive" {
				return fmt.Errorf("node %s is %s", n.ID, n.State)
			}
			ids = append(ids, n.ID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, want) {
			return fmt.Errorf("nodes %v, want %v", ids, want)
		}
		holds, leads := map[string]int{}, map[string]int{}
		for _, p := range st.Partitions {
			if len(p.Replicas) != rf || p.Leader == "" {
				return fmt.Errorf("partition %s: replicas %v, leader %q", p.ID, p.Replicas, p.Leader)
			}
			for _, id := range p.Replicas {
				if !slices.Contains(want, id) {
					return fmt.Errorf("partition %s has a replica on %s", p.ID, id)
				}
				holds[id]++
			}
			leads[p.Leader]++
		}
		if err := withinOne("replicas", want, holds); err != nil {
			return err
		}
		return withinOne("leaders", want, leads)
	}
}

// withinOne checks that every node's count is within one of the average.
func withinOne(what string, nodes []string, count map[string]int) error {
	sum := 0
	for _, id := range nodes {
		sum += count[id]
	}
	avg := float64(sum) / float64(len(nodes))
	for _, id := range nodes {
		if d := float64(count[id]) - avg; d > 1 || d < -1 {
			return fmt.Errorf("%s: %s has %d, average %.2f (%v)", what, id, count[id], avg, count)
		}
	}
	return nil
}

// waitView waits until the node at base sees the cluster pass check.
func waitView(t testing.TB, base string, d time.Duration, what string, check placementCheck) {
	t.Helper()
	waitFor(t, d, what, func() error {
		st, err := getStatus(base)
		if err != nil {
			return err
		}
		return check(st)
	})
}

// TestMembership_JoinRebalancesUnderTraffic grows a three-node cluster to
// five while producers and consumers run: the newcomers take their share of
// replicas and leaderships (every node within one of the average), and
// nothing acknowledged is lost.
func TestMembership_JoinRebalancesUnderTraffic(t *testing.T) {
	c, cl, q, g := startQueueCluster(t, "grow")
	q2 := cl.createQueue("grow2", nil)
	cl.createGroup(q2, "workers")
	waitBalanced(t, c, 1)
	tr := startTraffic(cl, q, g, 3, 2)
	joinNode(t, c, "n4")
	joinNode(t, c, "n5")
	start := time.Now()
	waitView(t, c.Nodes[0].URL(), 60*time.Second, "replicas and leaders spread over five nodes",
		spread([]string{"n1", "n2", "n3", "n4", "n5"}, 3))
	t.Logf("rebalanced over five nodes %v after the second joined", time.Since(start).Round(time.Millisecond))
	tr.finish(t)
}

// TestMembership_DecommissionUnderTraffic decommissions the metadata leader
// of a four-node cluster while traffic runs: its replicas move to the others
// (three each), another node leads the metadata group, the decommissioned
// node leaves the node list, its process exits 0, and nothing is lost.
func TestMembership_DecommissionUnderTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	c := clustertest.StartCluster(t, binPath, 4)
	st, err := getStatus(c.Nodes[0].URL())
	if err != nil {
		t.Fatal(err)
	}
	victim := c.Node(st.MetaLeader)
	var survivors, ids []string
	for _, p := range c.Nodes {
		if p != victim {
			survivors = append(survivors, p.URL())
			ids = append(ids, p.NodeID)
		}
	}
	cl := newDMSClient(t, "proj", survivors...)
	q := cl.createQueue("drain", nil)
	g := cl.createGroup(q, "workers")
	tr := startTraffic(cl, q, g, 3, 2)
	time.Sleep(time.Second) // let traffic run before the change
	if out := mustRun(t, "", "node", "decommission", victim.NodeID, "--server="+survivors[0]); !strings.Contains(out, "decommission accepted") {
		t.Fatalf("raftmq node decommission: %q", out)
	}
	waitView(t, survivors[0], 60*time.Second, victim.NodeID+" drained and gone", func(st clusterStatus) error {
		if st.MetaLeader == "" || st.MetaLeader == victim.NodeID {
			return fmt.Errorf("metadata leader %q", st.MetaLeader)
		}
		return spread(ids, 3)(st)
	})
	select {
	case <-victim.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("the decommissioned node did not stop")
	}
	if code := victim.ExitCode(); code != 0 {
		t.Errorf("decommissioned node exited %d, want 0", code)
	}
	tr.finish(t)
	if code, _ := adminCall(t, survivors[0], "POST", "/v1/cluster/nodes/"+victim.NodeID+"/decommission"); code != 404 {
		t.Errorf("decommission of a removed node: %d, want 404", code)
	}
}

// TestMembership_DeadNodeRepairRemoveAndWipedRejoin kills one node of four:
// after --dead-node-timeout its replicas are rebuilt on the others. Removing
// an alive node is refused (409); removing the dead one takes it off the
// node list. Started again with an empty data directory under the same id,
// it joins as a new member and takes its share. Messages produced before
// the kill are all still there.
func TestMembership_DeadNodeRepairRemoveAndWipedRejoin(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	c := clustertest.StartCluster(t, binPath, 4, "--dead-node-timeout", "3s")
	cl := newDMSClient(t, "proj", baseURLs(c)[:3]...)
	q := cl.createQueue("repair", nil)
	g := cl.createGroup(q, "workers")
	var want []string
	for k := range 30 {
		v := fmt.Sprintf("m%d", k)
		if err := cl.produce(k%3, q, v); err != nil {
			t.Fatal(err)
		}
		want = append(want, v)
	}
	base := c.Nodes[0].URL()
	if _, errOut, code := runBin(t, "", "node", "remove", "n4", "--server="+base); code != 1 || !strings.Contains(errOut, "10240409") {
		t.Fatalf("raftmq node remove of an alive node: exit %d, %q; want 1 and 10240409", code, errOut)
	}
	if code, _ := adminCall(t, base, "DELETE", "/v1/cluster/nodes/nobody"); code != 404 {
		t.Fatalf("remove of an unknown node: %d, want 404", code)
	}
	c.Nodes[3].Kill(t)
	waitView(t, base, 60*time.Second, "replicas rebuilt off the dead node", func(st clusterStatus) error {
		for _, n := range st.Nodes {
			if n.ID == "n4" && n.State != "dead" {
				return fmt.Errorf("n4 is %s", n.State)
			}
		}
		for _, p := range st.Partitions {
			if len(p.Replicas) != 3 || slices.Contains(p.Replicas, "n4") || p.Leader == "" {
				return fmt.Errorf("partition %s: replicas %v, leader %q", p.ID, p.Replicas, p.Leader)
			}
		}
		return nil
	})
	mustRun(t, "", "node", "remove", "n4", "--server="+base)
	waitView(t, base, 20*time.Second, "n4 gone", spread([]string{"n1", "n2", "n3"}, 3))

	wiped := clustertest.NewProcess(t, binPath, "n4", "--bootstrap-expect", "3", "--join", c.Nodes[0].Gossip, "--dead-node-timeout", "3s")
	wiped.Start(t)
	waitView(t, base, 60*time.Second, "the wiped node back as a member with its share",
		spread([]string{"n1", "n2", "n3", "n4"}, 3))
	got := drainValues(t, cl, q, g, len(want))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %v, want %v", got, want)
	}
}

// TestMembership_QueueCreatedWhileNodeDownGetsThirdReplica creates a queue
// while one node of three is down (two replicas), then restarts the node:
// each partition gets its third replica there.
func TestMembership_QueueCreatedWhileNodeDownGetsThirdReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	c := clustertest.StartCluster(t, binPath, 3)
	c.Nodes[2].Kill(t)
	cl := newDMSClient(t, "proj", baseURLs(c)[:2]...)
	base := c.Nodes[0].URL()
	waitFor(t, 30*time.Second, "n3 seen failed by both survivors", func() error {
		for _, u := range cl.nodes {
			st, err := getStatus(u)
			if err != nil {
				return err
			}
			for _, n := range st.Nodes {
				if n.ID == "n3" && n.Alive {
					return fmt.Errorf("%s still sees n3 alive", st.NodeID)
				}
			}
		}
		return nil
	})
	q := cl.createQueue("late", nil)
	st, err := getStatus(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Partitions {
		if p.QueueID == q && len(p.Replicas) != 2 {
			t.Fatalf("partition %s placed on %v while n3 was down", p.ID, p.Replicas)
		}
	}
	c.Nodes[2].Start(t)
	waitView(t, base, 60*time.Second, "three replicas each", spread([]string{"n1", "n2", "n3"}, 3))
}

// drainValues consumes and acks until n values came or 30 s passed.
func drainValues(t *testing.T, cl *dmsClient, q, g string, n int) []string {
	t.Helper()
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; len(got) < n && time.Now().Before(deadline) && round < 300; round++ {
		ds, err := cl.consume(round%len(cl.nodes), q, g, 10, 1)
		if err != nil {
			continue
		}
		if len(ds) == 0 {
			continue
		}
		if _, err := cl.ack(round%len(cl.nodes), q, g, ds); err != nil {
			t.Logf("ack: %v", err)
		}
		for _, d := range ds {
			got = append(got, d.value())
		}
	}
	return got
}
