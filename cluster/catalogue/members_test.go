package catalogue

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestCatalogue_SetReplicasIsConditionalAndEndsFounding: a set_replicas
// decided on a stale set changes nothing; one that changes the members
// marks the partition moved (its replicas no longer bootstrap), while a
// reorder alone does not.
func TestCatalogue_SetReplicasIsConditionalAndEndsFounding(t *testing.T) {
	c := seedCatalogue(t)
	founding := func(i int) bool { return c.Placements()[i].Founding }
	if !founding(0) || founding(1) { // the seed grew partition 1's set
		t.Fatal("founding flags of the seed queue wrong")
	}
	stale := applyMeta(t, c, 100, &Command{Op: OpSetReplicas, QueueID: seedQueueID, Index: 0, Expect: []string{"n9"}, Set: []string{"n1"}})
	if !errors.Is(stale.Err, ErrReplicaSetChanged) {
		t.Fatalf("stale set: %v", stale.Err)
	}
	cur := c.Placements()[0].Replicas
	if res := applyMeta(t, c, 101, &Command{Op: OpSetReplicas, QueueID: seedQueueID, Index: 0, Expect: cur, Set: []string{cur[1], cur[0]}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if !founding(0) {
		t.Fatal("a reorder ended founding")
	}
	cur = c.Placements()[0].Replicas
	grown := append(slices.Clone(cur), "n3")
	if res := applyMeta(t, c, 102, &Command{Op: OpSetReplicas, QueueID: seedQueueID, Index: 0, Expect: cur, Set: grown, Addrs: map[string]string{"n3": "h:3"}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	p := c.Placements()[0]
	if founding(0) || !slices.Equal(p.Replicas, grown) || p.Addrs["n3"] != "h:3" {
		t.Fatalf("after growing: %+v", p)
	}
	// Back to the founders' set: still moved (a wiped node must not bootstrap).
	applyMeta(t, c, 103, &Command{Op: OpSetReplicas, QueueID: seedQueueID, Index: 0, Expect: grown, Set: cur})
	if founding(0) {
		t.Fatal("founding again after shrinking back")
	}
}

// TestCatalogue_NodeStatesSurviveSnapshotsAndOldSnapshotsRestore: node
// records round-trip through a snapshot; a snapshot from before they
// existed restores with none.
func TestCatalogue_NodeStatesSurviveSnapshotsAndOldSnapshotsRestore(t *testing.T) {
	c := seedCatalogue(t)
	applyMeta(t, c, 100, &Command{Op: OpSetNode, Node: "n3", State: StateRemoved, Inc: "i3"})
	applyMeta(t, c, 101, &Command{Op: OpSetNode, Node: "n4", State: StateDecommissioning})
	applyMeta(t, c, 102, &Command{Op: OpSetNode, Node: "n4", State: ""})
	if r := c.NodeState("n3"); r.State != StateRemoved || r.Inc != "i3" {
		t.Fatalf("n3 %+v", r)
	}
	snap, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := New(c.log)
	if err := restored.Restore(io.NopCloser(strings.NewReader(string(snap.(*bytesSnapshot).b)))); err != nil {
		t.Fatal(err)
	}
	if got := restored.NodeStates(); len(got) != 1 || got["n3"].State != StateRemoved {
		t.Fatalf("restored node states %+v", got)
	}
	old := `{"key":null,"queues":{"` + seedQueueID + `":{"queue":{"ID":"` + seedQueueID + `","Project":"p","Name":"q","Partitions":1},"replicas":[["n1","n2"]],"addrs":{}}},"index":7}`
	restored = New(c.log)
	if err := restored.Restore(io.NopCloser(strings.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	if len(restored.NodeStates()) != 0 || !restored.Placements()[0].Founding {
		t.Fatalf("old snapshot: %+v %+v", restored.NodeStates(), restored.Placements())
	}
}

// TestCatalogue_MembershipCommandsValidated: set_replicas and set_node with
// bad fields are refused before they are proposed.
func TestCatalogue_MembershipCommandsValidated(t *testing.T) {
	for _, cmd := range []*Command{
		{Op: OpSetReplicas, QueueID: seedQueueID, Index: 0, Expect: []string{"n1"}, Set: nil},
		{Op: OpSetReplicas, QueueID: seedQueueID, Index: -1, Expect: []string{"n1"}, Set: []string{"n2"}},
		{Op: OpSetReplicas, QueueID: seedQueueID, Index: 0, Expect: []string{"n1"}, Set: []string{"n2", "n2"}},
		{Op: OpSetReplicas, Index: 0, Expect: []string{"n1"}, Set: []string{"n2"}},
		{Op: OpSetNode, Node: "", State: StateRemoved},
		{Op: OpSetNode, Node: "n1", State: "gone"},
	} {
		if err := cmd.Validate(); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("%+v: %v", cmd, err)
		}
	}
}
