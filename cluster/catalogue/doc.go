// Package catalogue is the state machine of the metadata Raft group: what
// the cluster as a whole has agreed on.
//
// Owns: every project's queues and their consumer groups and tags, each
// partition's replica set (and whether it moved since creation), the
// cluster-wide handler key, the state of nodes being decommissioned or
// removed; the catalogue commands (Command, one JSON log entry each), their
// validation and limits, and the Catalogue's raft.FSM (Apply, Snapshot,
// Restore) with the read-only views the cluster acts on (Placements,
// ReplicasOf, NodeStates).
//
// Does not own: proposing commands or choosing what to propose (cluster:
// the metadata group, placement and repair decide; the proposer picks ids,
// times, keys and quotas), starting replicas, networking.
//
// Invariants: Apply is deterministic: it reads nothing but the command and
// the state (no clock, randomness or network). Every command is validated
// before it is proposed (Command.Validate) and again when applied, and a
// committed entry that does not decode or validate is a logged no-op that
// advances the applied index, never a panic. A set_replicas decided on a
// stale view changes nothing (ErrReplicaSetChanged).
//
// Concurrency: Catalogue's methods are safe for concurrent use; Changed
// returns a channel closed after the next applied change.
package catalogue
