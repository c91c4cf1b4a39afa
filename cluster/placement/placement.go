package placement

import (
	"cmp"
	"slices"

	"raftmq/cluster/catalogue"
)

// replicationFactor is the number of replicas of each partition (fewer when
// the cluster has fewer nodes).
const replicationFactor = 3

// Place chooses the replica sets of a new queue's partitions among nodes
// (alive, placeable, sorted by id), given the partitions already placed:
// each partition's preferred leader (the first replica) is the node that is
// preferred leader of the fewest partitions so far, and the other replicas
// go to the least loaded remaining nodes, so leaders and replicas spread
// evenly. It also returns the chosen nodes' Raft addresses.
func Place(nodes []Member, placed []catalogue.Placement, parts int) ([][]string, map[string]string) {
	leads, holds := map[string]int{}, map[string]int{}
	for _, p := range placed {
		for k, id := range p.Replicas {
			holds[id]++
			if k == 0 {
				leads[id]++
			}
		}
	}
	addrs := map[string]string{}
	out := make([][]string, parts)
	rf := min(replicationFactor, len(nodes))
	for i := range out {
		order := slices.Clone(nodes)
		slices.SortStableFunc(order, func(a, b Member) int {
			return cmp.Or(cmp.Compare(leads[a.ID], leads[b.ID]), cmp.Compare(holds[a.ID], holds[b.ID]), cmp.Compare(a.ID, b.ID))
		})
		pref := order[0]
		rest := order[1:]
		slices.SortStableFunc(rest, func(a, b Member) int {
			return cmp.Or(cmp.Compare(holds[a.ID], holds[b.ID]), cmp.Compare(a.ID, b.ID))
		})
		set := []string{pref.ID}
		addrs[pref.ID] = pref.RaftAddr
		for _, m := range rest[:rf-1] {
			set = append(set, m.ID)
			addrs[m.ID] = m.RaftAddr
		}
		leads[pref.ID]++
		for _, id := range set {
			holds[id]++
		}
		out[i] = set
	}
	return out, addrs
}

// LeastLoaded is the placeable node outside set with the fewest replicas.
func LeastLoaded(j Judge, parts []catalogue.Placement, set []string) (Member, bool) {
	count := map[string]int{}
	for _, p := range parts {
		for _, id := range p.Replicas {
			count[id]++
		}
	}
	var best Member
	found := false
	for _, m := range j.Placeable() {
		if !slices.Contains(set, m.ID) && (!found || count[m.ID] < count[best.ID]) {
			best, found = m, true
		}
	}
	return best, found
}

// MostLoaded is the member of set holding the most replicas (the earliest
// on a tie, so a replica just added is dropped last).
func MostLoaded(parts []catalogue.Placement, set []string) string {
	count := map[string]int{}
	for _, p := range parts {
		for _, id := range p.Replicas {
			count[id]++
		}
	}
	best := set[0]
	for _, id := range set[1:] {
		if count[id] > count[best] {
			best = id
		}
	}
	return best
}

// Extremes returns the nodes (sorted by id) with the highest and the lowest count.
func Extremes(nodes []Member, count map[string]int) (hi, lo Member) {
	hi, lo = nodes[0], nodes[0]
	for _, m := range nodes[1:] {
		if count[m.ID] > count[hi.ID] {
			hi = m
		}
		if count[m.ID] < count[lo.ID] {
			lo = m
		}
	}
	return hi, lo
}

// AllGood reports whether every node of set is in good condition.
func AllGood(j Judge, set []string) bool {
	for _, id := range set {
		if j.Cond(id) != CondGood {
			return false
		}
	}
	return true
}

// Holds reports whether any of parts has a replica on node id.
func Holds(parts []catalogue.Placement, id string) bool {
	for _, p := range parts {
		if slices.Contains(p.Replicas, id) {
			return true
		}
	}
	return false
}

// Without is set without the ids in drop (a new slice).
func Without(set []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(set), func(id string) bool { return slices.Contains(drop, id) })
}

// ToFront moves set[k] to the front, keeping the others' order.
func ToFront(set []string, k int) []string {
	out := []string{set[k]}
	return append(out, Without(set, set[k])...)
}
