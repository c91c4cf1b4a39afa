package partition

import "strconv"

// CommitIndex is the highest log index this member knows to be committed
// (for monitoring; hashicorp/raft reports it only through Stats).
func (n *Node) CommitIndex() uint64 {
	v, _ := strconv.ParseUint(n.raft.Stats()["commit_index"], 10, 64)
	return v
}
