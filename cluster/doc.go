// Package cluster makes a set of raftmq nodes one broker.
//
// Owns: the metadata Raft group and its state machine (Catalogue: projects'
// queues, consumer groups, each partition's replica set, the cluster-wide
// handler key, the state of nodes being decommissioned or removed); placement
// of partitions on nodes and membership changes (repair.go decides replica
// sets on the metadata leader: repair, rebalancing, decommission;
// replicaset.go makes each partition group's Raft configuration follow them
// on its leader; metavoters.go keeps the metadata group's voters odd, at
// most five); starting and stopping this node's partition replicas as the
// catalogue changes (reconcile); the single
// Raft listener that every group of the node shares (Mux: a connection names
// its group in a short header, and the incarnation it is meant for); each
// node's Raft identity (identity.go: its id and the incarnation of its data
// directory, recorded in the catalogue; a member back with another
// incarnation is replaced, not trusted with the votes it forgot); the
// cluster key's checks on every
// node-to-node channel (gossip through memberlist's keyring, the keyed Raft
// handshake and framing of raftauth.go and secureconn.go, the sealed internal
// requests of rpcauth.go); and the broker operations the HTTP layer calls
// (Node: create queues and groups, produce, consume with long poll, ordered
// ack across partitions, counters; txn.go: half messages, their check-back
// across partitions, commit and rollback, and deduplicated produces routed
// by the hash of each dedup id);
// the free-space watermark of the data directory (disk.go: a cached statfs,
// gossiped, refusing produce to partitions with a replica on a low node).
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
// Counters are read from each partition's leader once it confirmed it leads,
// never from a follower. Every request that needs a group's leader goes
// through one retry loop (untilLeader, leaderwait.go); a step whose outcome
// is unknown (the leader was lost while it was in flight) is never sent
// again.
// A replica-set change adds before it removes: a new replica votes only once it
// has caught up, and others are removed only when every replica of the new
// set votes. Only the founders of a partition that never moved bootstrap its
// group.
//
// Concurrency: Node's methods are safe for concurrent use.
package cluster
