// Package cluster makes a set of raftmq nodes one broker.
//
// Owns: the metadata Raft group and its state machine (Catalogue: projects'
// queues, consumer groups, each partition's replica set, the cluster-wide
// handler key); placement of partitions on nodes; starting and stopping this
// node's partition replicas as the catalogue changes (reconcile); the single
// Raft listener that every group of the node shares (Mux: a connection names
// its group in a short header); and the broker operations the HTTP layer calls
// (Node: create queues and groups, produce, consume with long poll, ordered
// ack across partitions, counters).
//
// Does not own: HTTP formats and validation (httpapi), Raft mechanics
// (partition), queue semantics (fsm).
//
// Invariants: the catalogue state machine is deterministic: ids, times, keys
// and quotas are chosen by the proposer and carried in the command. A queue's
// replicas are started before CreateQueue returns, so the queue is usable at
// once. An ordered ack is applied partition by partition in request order and
// stops at the first failure; later entries are released for redelivery.
//
// Concurrency: Node's methods are safe for concurrent use.
package cluster
