package placement

import (
	"slices"

	"github.com/hashicorp/raft"
)

// maxMetaVoters bounds the metadata group's voters; other members follow
// the catalogue as non-voters.
const maxMetaVoters = 5

// MetaVoters chooses the metadata group's voters among the group's members
// in (by id, with their suffrage) and the placeable nodes: an odd number, at
// most maxMetaVoters, taking the current voters that are alive, then other
// alive members by id, then current voters that are dead but not yet for
// DeadNodeTimeout.
func MetaVoters(j Judge, in map[string]raft.ServerSuffrage) []string {
	var alive, others, waiting []string
	for id, s := range in {
		if s != raft.Voter || j.Cond(id) != CondGood {
			continue
		}
		if j.Alive(id) {
			alive = append(alive, id)
		} else {
			waiting = append(waiting, id)
		}
	}
	for _, m := range j.Placeable() {
		if !slices.Contains(alive, m.ID) {
			others = append(others, m.ID)
		}
	}
	slices.Sort(alive)
	slices.Sort(waiting)
	pool := slices.Concat(alive, others, waiting)
	v := min(maxMetaVoters, len(pool))
	if v%2 == 0 && v > 0 {
		v--
	}
	if v == 0 {
		return nil
	}
	return pool[:v]
}
