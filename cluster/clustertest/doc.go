// Package clustertest starts real raftmq nodes for tests: an in-process
// single node (StartNode) with real Raft on disk under t.TempDir() and a
// loopback Raft listener, with Raft timings shrunk for tests.
//
// It is imported only by tests.
package clustertest
