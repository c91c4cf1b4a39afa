// Package chaos is raftmq's fault-injection suite (docs/RELIABILITY.md): it
// runs three `raftmq serve` processes, each in its own network namespace on a
// private bridge, drives a recorded workload against them while a nemesis
// kills, pauses and partitions nodes, then heals, drains and checks the
// history.
//
// Owns: the test network (Net: namespaces, veths, a bridge in a hub
// namespace, iptables rules inside node namespaces), the node processes
// (Proc), the history (History, one monotonic clock, history.jsonl), the
// workload (producers, consumers with the FAULTS.md ack mix, a dead-letter
// consumer, the final drain from every node), the nemeses (T0-T3) and the
// checkers (Check). Run ties them together and returns a Report.
//
// Does not own: broker behaviour. It talks to nodes only through their HTTP
// API (DMS v1.0, /v1/cluster, /v1/digests) and signals; partitions are real
// packet loss between namespaces, never a flag inside the broker.
//
// Invariants: every namespace, veth and bridge it creates carries the run's
// unique prefix and is removed by Net.Close, also after a failure; it never
// touches the root namespace's iptables, and traffic goes only to the
// private subnet it created. Produce values are unique per attempt and never
// resent, so each value has at most one copy and the checkers can key by
// value. Every loop is bounded in count and time.
//
// Concurrency: History is safe for concurrent use; everything else is driven
// by Run. Linux only; needs root (ip netns, iptables).
package chaos
