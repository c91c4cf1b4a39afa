// Package partition runs this node's members of Raft groups.
//
// Node is one member of one group: a raft.Raft with its log and stable store
// and file snapshots under one directory. Replica is a Node running the
// state machine of one queue partition (fsm.FSM); Host keeps every Replica
// of this node, their shared log (package wal: every partition's appends
// share one write and one fdatasync) and runs the leaders' housekeeping.
// The cluster's metadata group is also a Node, with the cluster's own state
// machine, on a raft-boltdb/v2 (bbolt) file; RaftConfig.LogStore can put
// partitions on bolt or hashicorp/raft-wal files too. Log stores written
// before the shared log are copied into it when their replica starts. Each
// group's newest entries are cached in memory, bounded by count and bytes
// (logcache.go); its snapshot store deletes what a failed snapshot leaves
// (snapshots.go).
//
// A Replica's message bodies are in its body store (package bodystore, in
// dir/bodies), written by its fsm.FSM; Replica fills the bodies of the
// deliveries a Lease returns. Every body store of the node shares one
// bodystore.Cache (RaftConfig.BodyCache). Its snapshot store sends, after
// the metadata of a snapshot, every body it refers to, read past the cache
// (snapstore.go).
//
// Owns: Raft configuration and timings, proposing (stamping the leader's
// clock and the queue policy into every fsm command), group commit
// (BatchApplyCh with MaxAppendEntries, a BatchingFSM underneath), leadership
// readiness, and the data directory of each group. Does not own: which
// replicas run where (cluster), the transport's listener (cluster's Mux,
// injected as a TransportFactory), HTTP, or queue semantics (fsm).
//
// Leadership: only a leader that has completed a Barrier in its term
// proposes; until then it is not "ready". A proposal to a follower returns
// *NotLeaderError (errors.Is ErrNotLeader) with the leader's node id when
// known; during an election a proposal waits up to RaftConfig.LeaderWait.
// ErrOutcomeUnknown means the entry was handed to Raft and leadership was lost:
// it may or may not commit. VerifyLeader confirms leadership with a
// majority, after which reading the local state is a linearizable read.
//
// Stopping: Close waits for hashicorp/raft's Shutdown at most ShutdownWait
// (a goroutine blocked on a peer that never answers would hold it for the
// transport's timeout); past it the store is left open and
// ErrShutdownTimeout returned, for the process to exit.
//
// Membership: a leader changes its group's configuration on the cluster's
// behalf (AddNonvoter, AddVoter to promote, DemoteVoter, RemoveServer); the
// decisions are the cluster's. A member that closes first fences Raft's
// heartbeat fast path (heartbeat.go), so a heartbeat arriving while its
// stores close is refused instead of crashing the process.
//
// Concurrency: every exported method is safe for concurrent use. Concurrent
// proposals are batched by hashicorp/raft into shared log writes (one fsync
// for many requests).
package partition
