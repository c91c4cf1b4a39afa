// Command chaos runs raftmq's fault-injection scenarios (package chaos,
// docs/RELIABILITY.md) against three `raftmq serve` processes in network
// namespaces and prints one report line per run. It needs root, ip and
// iptables; `make chaos` is the usual way in.
//
//	chaos --raftmq bin/raftmq --scenario T0,T1,T2,T3 [--duration 3m] [--seed N] [--runs N] [--out DIR]
//	chaos --raftmq bin/raftmq --scenario T1 --negative-control   # must report loss
//
// Exit status 0 when every run passed (a negative-control run passes when the
// checker reports loss), 1 otherwise, 2 for bad flags.
package main
