// Package clustertest starts real raftmq nodes for tests: an in-process
// single node (StartNode) with real Raft on disk under t.TempDir() and a
// loopback Raft listener, with Raft timings shrunk for tests; real raftmq
// processes (Process, StartCluster), optionally with a cluster key
// (WriteClusterKey, KeyArgs).
//
// It is imported only by tests.
package clustertest
