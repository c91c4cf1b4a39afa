package placement

import "time"

// Member is a node as the cluster's membership (gossip) reports it.
type Member struct {
	ID         string
	HTTPAddr   string
	RaftAddr   string
	GossipAddr string
	Alive      bool
	Joined     bool
	Inc        string
	// RaftInc: the node's Raft listener refuses connections meant for
	// another incarnation, so peers address it with its incarnation.
	RaftInc bool
	DiskLow bool
	// DownSince is when gossip last found the node failed (zero while it
	// is alive).
	DownSince time.Time
}
