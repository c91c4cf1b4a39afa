package placement

import (
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
)

// TestMetaVoters_OddAtMostFive: the metadata group's voters are an odd
// number, at most five, preferring current alive voters, then other alive
// members by id, then voters dead for less than the timeout; removed,
// decommissioning and long-dead nodes never vote.
func TestMetaVoters_OddAtMostFive(t *testing.T) {
	now := time.Now()
	alive := func(ids ...string) map[string]Member {
		m := map[string]Member{}
		for _, id := range ids {
			m[id] = Member{ID: id, Alive: true, RaftAddr: id + ":1"}
		}
		return m
	}
	down := func(m map[string]Member, id string, since time.Duration) map[string]Member {
		m[id] = Member{ID: id, RaftAddr: id + ":1", DownSince: now.Add(-since)}
		return m
	}
	V, N := raft.Voter, raft.Nonvoter
	for _, tc := range []struct {
		name    string
		members map[string]Member
		records map[string]catalogue.NodeRecord
		in      map[string]raft.ServerSuffrage
		want    []string
	}{
		{"one node", alive("n1"), nil, map[string]raft.ServerSuffrage{"n1": V}, []string{"n1"}},
		{"three founders", alive("n1", "n2", "n3"), nil, map[string]raft.ServerSuffrage{"n1": V, "n2": V, "n3": V}, []string{"n1", "n2", "n3"}},
		{"a fourth joins: stays a non-voter", alive("n1", "n2", "n3", "n4"), nil, map[string]raft.ServerSuffrage{"n1": V, "n2": V, "n3": V, "n4": N}, []string{"n1", "n2", "n3"}},
		{"a fifth joins: five vote", alive("n1", "n2", "n3", "n4", "n5"), nil, map[string]raft.ServerSuffrage{"n1": V, "n2": V, "n3": V, "n4": N}, []string{"n1", "n2", "n3", "n4", "n5"}},
		{"seven nodes: five vote, the current ones", alive("n1", "n2", "n3", "n4", "n5", "n6", "n7"), nil,
			map[string]raft.ServerSuffrage{"n3": V, "n4": V, "n5": V, "n6": V, "n7": V, "n1": N, "n2": N}, []string{"n3", "n4", "n5", "n6", "n7"}},
		{"a voter down a moment keeps its vote", down(alive("n1", "n2"), "n3", time.Second), nil,
			map[string]raft.ServerSuffrage{"n1": V, "n2": V, "n3": V}, []string{"n1", "n2", "n3"}},
		{"a voter dead past the timeout: one voter of two nodes", down(alive("n1", "n2"), "n3", time.Hour), nil,
			map[string]raft.ServerSuffrage{"n1": V, "n2": V, "n3": V}, []string{"n1"}},
		{"decommissioning and removed nodes do not vote", alive("n1", "n2", "n3", "n4", "n5"),
			map[string]catalogue.NodeRecord{"n2": {State: catalogue.StateDecommissioning}, "n4": {State: catalogue.StateRemoved}},
			map[string]raft.ServerSuffrage{"n1": V, "n2": V, "n3": V, "n4": V, "n5": V}, []string{"n1", "n3", "n5"}},
	} {
		j := Judge{Members: tc.members, Records: tc.records, Started: now.Add(-time.Hour), Timeout: time.Minute, Now: now}
		got := MetaVoters(j, tc.in)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: voters %v, want %v", tc.name, got, tc.want)
		}
		if len(got)%2 == 0 || len(got) > maxMetaVoters {
			t.Errorf("%s: %d voters", tc.name, len(got))
		}
	}
}
