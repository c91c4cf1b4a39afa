// Package chaos is raftmq's fault-injection suite (docs/RELIABILITY.md): it
// runs three `raftmq serve` processes, each in its own network namespace on a
// private bridge, drives a recorded workload against them while a nemesis
// kills, pauses, partitions, slows or deafens nodes, shifts their clocks,
// cuts their power or corrupts their files, then heals, drains and checks
// the history.
//
// Owns: the test network (Net: namespaces, veths, a bridge in a hub
// namespace, iptables rules and tc qdiscs inside node namespaces), the node
// processes (Proc), the history (History, one monotonic clock,
// history.jsonl), the workload (producers, consumers with the FAULTS.md ack
// mix, a dead-letter consumer, a transactional producer with its check-back
// (RocketMQ door), a producer with dedup_ids, the final drain from every node), the
// nemeses (T0-T4, T6-T8; the power-loss file system is chaos/powerfs) and
// the checkers (Check, LeaseEps). Run ties them
// together and returns a Report.
//
// Does not own: broker behaviour. It talks to nodes only through their HTTP
// API (DMS v1.0, /v1/cluster, /v1/digests) and signals; partitions, slow
// links and deafness are real packet loss and delay between namespaces,
// never a flag inside the broker. The one exception is T8's clock offset: a
// process's clock cannot be shifted from outside without shifting the
// host's, so nodes of a T8 run start with the test-only
// --unsafe-test-clock, and the nemesis sets the offset over HTTP. T6's
// power loss and T7's corruption act on the node's files (through
// powerfs, or on a stopped node), never through the broker.
//
// Invariants: every namespace, veth and bridge it creates carries the run's
// unique prefix and is removed by Net.Close, also after a failure, with
// every iptables rule and qdisc it added (Net.Restore); it never
// touches the root namespace's iptables, and traffic goes only to the
// private subnet it created. Produce values are unique per attempt and never
// resent, so each value has at most one copy and the checkers can key by
// value; the one exception is the deduplicating producer, which resends a
// batch with the same dedup_ids after an unknown outcome, and whose values
// must still have one copy. Every loop is bounded in count and time.
//
// Concurrency: History is safe for concurrent use; everything else is driven
// by Run. Linux only; needs root (ip netns, iptables; tc and sch_netem for
// T4; /dev/fuse for T6).
package chaos
