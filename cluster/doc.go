// Package cluster makes a set of raftmq nodes one broker: Node is one node
// of it.
//
// Owns: gossip membership (memberlist, sealed with the cluster keys) and
// each node's advertised metadata; the metadata Raft group, proposing
// catalogue commands through its leader; acting on placement decisions
// (repair.go plans on the metadata leader, one change a round: repair,
// rebalancing, decommission; replicaset.go makes each partition group's
// Raft configuration follow the catalogue on its leader; metavoters.go
// keeps the metadata group's voters); starting and stopping this node's
// partition replicas as the catalogue changes (reconcile); node-to-node
// requests and one-hop forwarding to leaders (rpc.go, route.go); the
// node's Raft identity (identity.go: its id and the incarnation of its data
// directory, recorded in the catalogue; a member back with another
// incarnation is replaced, not trusted with the votes it forgot); and the
// broker operations the HTTP layer calls (create queues and groups,
// produce, consume with long poll, ordered ack across partitions,
// counters; txn.go: half messages, their check-back across partitions,
// commit and rollback, and deduplicated produces routed by the hash of each
// dedup id); the free-space watermark of the data directory (disk.go: a
// cached statfs, gossiped, refusing produce to partitions with a replica
// on a low node).
//
// Sub-packages hold what needs no Node: cluster/catalogue (the metadata
// state machine), cluster/placement (pure placement and membership
// decisions), cluster/transport (the shared Raft listener, the keyed Raft
// handshake, sealed internal requests, the cluster keys). They never import
// cluster; cluster re-exports the catalogue's types and errors its callers
// use (types.go).
//
// Does not own: HTTP formats and validation (httpapi), Raft mechanics
// (partition), queue semantics (fsm), the catalogue's rules (catalogue).
//
// Invariants: every catalogue command is validated before it is proposed.
// With a cluster key, nothing from a peer is acted on before it proved the
// key: gossip is dropped, a Raft connection closed, an internal request
// answered 403. A queue's replicas are started before CreateQueue returns,
// so the queue is usable at once. An ordered ack is applied partition by
// partition in request order and stops at the first failure; later entries
// are released for redelivery. Counters are read from each partition's
// leader once it confirmed it leads, never from a follower. Every request
// that needs a group's leader goes through one retry loop (untilLeader,
// leaderwait.go); a step whose outcome is unknown (the leader was lost while
// it was in flight) is never sent again. A replica-set change adds before
// it removes: a new replica votes only once it has caught up, and others
// are removed only when every replica of the new set votes. Only the
// founders of a partition that never moved bootstrap its group.
//
// Concurrency: Node's methods are safe for concurrent use.
package cluster
