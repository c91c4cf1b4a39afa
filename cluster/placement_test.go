package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
)

// placementNode is a Node with only what place reads: its id, a catalogue
// and the members gossip would report.
func placementNode(self string, members ...Member) *Node {
	ms := &membership{members: map[string]Member{}, changed: make(chan struct{})}
	for _, m := range members {
		ms.members[m.ID] = m
	}
	return &Node{cfg: Config{NodeID: self, RaftAddr: "self:1"}, cat: catalogue.New(slog.New(slog.DiscardHandler)), members: ms}
}

func aliveMembers(n int) []Member {
	out := make([]Member, n)
	for i := range out {
		id := fmt.Sprintf("n%d", i+1)
		out[i] = Member{ID: id, RaftAddr: id + ":1", Alive: true}
	}
	return out
}

// commitPlacement records a queue placed with sets in the node's catalogue,
// as CreateQueue would, so the next placement counts it.
func commitPlacement(t *testing.T, n *Node, queue int, sets [][]string, addrs map[string]string) {
	t.Helper()
	q := &Queue{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", queue), Project: "p", Name: fmt.Sprint("q", queue), Mode: ModeNormal, Partitions: len(sets)}
	b, err := json.Marshal(&catalogue.Command{Op: catalogue.OpCreateQueue, Queue: q, Replicas: sets, Addrs: addrs, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	log := &raft.Log{Index: n.cat.AppliedIndex() + 1, Type: raft.LogCommand, Data: b}
	if res := n.cat.Apply(log).(catalogue.Result); res.Err != nil {
		t.Fatal(res.Err)
	}
}

func checkSets(t *testing.T, sets [][]string, addrs map[string]string, size int, allowed []Member) {
	t.Helper()
	for _, set := range sets {
		if len(set) != size {
			t.Fatalf("replica set %v, want %d nodes", set, size)
		}
		seen := map[string]bool{}
		for _, id := range set {
			if seen[id] {
				t.Fatalf("replica set %v names %s twice", set, id)
			}
			seen[id] = true
			i := slices.IndexFunc(allowed, func(m Member) bool { return m.ID == id })
			if i < 0 {
				t.Fatalf("replica set %v names %s, not an alive member with a Raft address", set, id)
			}
			if addrs[id] != allowed[i].RaftAddr {
				t.Fatalf("address of %s %q, want %q", id, addrs[id], allowed[i].RaftAddr)
			}
		}
	}
}

func spread(counts map[string]int, ids []Member) (lo, hi int) {
	lo, hi = -1, 0
	for _, m := range ids {
		c := counts[m.ID]
		if lo < 0 || c < lo {
			lo = c
		}
		hi = max(hi, c)
	}
	return lo, hi
}

// TestPlace_SpreadsLeadersAndReplicasEvenly places queue after queue on
// five nodes: every set has three distinct alive nodes, and preferred
// leaders and replicas stay within one of each other across nodes.
func TestPlace_SpreadsLeadersAndReplicasEvenly(t *testing.T) {
	ms := aliveMembers(5)
	n := placementNode("n1", ms...)
	leads, holds := map[string]int{}, map[string]int{}
	for q := range 7 {
		parts := 1 + q%3
		sets, addrs := n.place(parts)
		if len(sets) != parts {
			t.Fatalf("queue %d: %d sets, want %d", q, len(sets), parts)
		}
		checkSets(t, sets, addrs, 3, ms)
		for _, set := range sets {
			leads[set[0]]++
			for _, id := range set {
				holds[id]++
			}
		}
		if lo, hi := spread(leads, ms); hi-lo > 1 {
			t.Fatalf("after queue %d: preferred leaders %v spread %d..%d", q, leads, lo, hi)
		}
		if lo, hi := spread(holds, ms); hi-lo > 1 {
			t.Fatalf("after queue %d: replicas %v spread %d..%d", q, holds, lo, hi)
		}
		commitPlacement(t, n, q+1, sets, addrs)
	}
}

func TestPlace_FewerNodesThanTheReplicationFactor(t *testing.T) {
	ms := aliveMembers(2)
	n := placementNode("n1", ms...)
	sets, addrs := n.place(3)
	checkSets(t, sets, addrs, 2, ms)
	if sets[0][0] == sets[1][0] {
		t.Fatalf("two partitions in a row prefer the same leader: %v", sets)
	}
}

func TestPlace_OnlyAliveMembersWithARaftAddress(t *testing.T) {
	ms := aliveMembers(5)
	ms[1].Alive = false // n2: dead
	ms[3].RaftAddr = "" // n4: gossip has not told its Raft address yet
	usable := []Member{ms[0], ms[2], ms[4]}
	n := placementNode("n1", ms...)
	sets, addrs := n.place(6)
	checkSets(t, sets, addrs, 3, usable)
}

func TestPlace_NoMemberSeenYetPlacesOnItself(t *testing.T) {
	n := placementNode("solo")
	sets, addrs := n.place(2)
	for _, set := range sets {
		if !slices.Equal(set, []string{"solo"}) {
			t.Fatalf("replica set %v, want [solo]", set)
		}
	}
	if addrs["solo"] != "self:1" {
		t.Fatalf("addresses %v", addrs)
	}
}

// TestPlace_CountsExistingQueues: the nodes that lead and hold least so far
// are chosen first.
func TestPlace_CountsExistingQueues(t *testing.T) {
	ms := aliveMembers(4)
	n := placementNode("n1", ms...)
	// n1 leads two partitions; n1 and n2 hold two, n3 and n4 one.
	commitPlacement(t, n, 1, [][]string{{"n1", "n2", "n3"}, {"n1", "n2", "n4"}}, map[string]string{"n1": "n1:1", "n2": "n2:1", "n3": "n3:1", "n4": "n4:1"})
	sets, _ := n.place(1)
	set := sets[0]
	if set[0] != "n3" && set[0] != "n4" {
		t.Fatalf("replica set %v: the preferred leader should lead nothing and hold least (n3 or n4)", set)
	}
	if !slices.Contains(set, "n3") || !slices.Contains(set, "n4") {
		t.Fatalf("replica set %v: n3 and n4 hold least", set)
	}
}
