// Package cluster makes a set of raftmq nodes one broker.
//
// Owns: the metadata Raft group and its state machine (Catalogue: projects'
// queues, consumer groups, each partition's replica set, the cluster-wide
// handler key); placement of partitions on nodes; starting and stopping this
// node's partition replicas as the catalogue changes (reconcile); the single
// Raft listener that every group of the node shares (Mux: a connection names
// its group in a short header); the cluster key's checks on every
// node-to-node channel (gossip through memberlist's keyring, the keyed Raft
// handshake and framing of raftauth.go and secureconn.go, the sealed internal
// requests of rpcauth.go); and the broker operations the HTTP layer calls
// (Node: create queues and groups, produce, consume with long poll, ordered
// ack across partitions, counters); the free-space watermark of the data
// directory (disk.go: a cached statfs, gossiped, refusing produce to
// partitions with a replica on a low node).
//
// Does not own: HTTP formats and validation (httpapi), Raft mechanics
// (partition), queue semantics (fsm).
//
// Invariants: the catalogue state machine is deterministic: ids, times, keys
// and quotas are chosen by the proposer and carried in the command. Every
// catalogue command is validated before it is proposed, and a committed entry
// that does not decode or validate is a logged no-op, never a panic. With a
// cluster key, nothing from a peer is acted on before it proved the key:
// gossip is dropped, a Raft connection closed, an internal request answered
// 403. A queue's
// replicas are started before CreateQueue returns, so the queue is usable at
// once. An ordered ack is applied partition by partition in request order and
// stops at the first failure; later entries are released for redelivery.
//
// Concurrency: Node's methods are safe for concurrent use.
package cluster
