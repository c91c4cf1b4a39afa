// Package placement decides where partition replicas and metadata votes
// go, from a snapshot of what is known of the nodes.
//
// Owns: judging each node for membership decisions (Judge: good, draining
// or lost, from gossip's Member view and the catalogue's node records, and
// its state for GET /v1/cluster); the replica sets of a new queue's
// partitions (Place); the load measures repair and rebalancing choose by
// (LeastLoaded, MostLoaded, Extremes, ReplicationTarget); and the metadata
// group's voters (MetaVoters: odd, at most five).
//
// Does not own: acting on a decision (cluster proposes catalogue commands,
// changes Raft configurations and starts replicas), gossip itself, the
// catalogue's state.
//
// Invariants: every function is pure: it reads only its arguments (a Judge
// carries the time it judges at), so the same snapshot gives the same
// decision. A new replica goes only to an alive node with a Raft address
// that is neither being decommissioned nor removed. The metadata group has
// an odd number of voters, at most five.
//
// Concurrency: values only; safe for concurrent use.
package placement
