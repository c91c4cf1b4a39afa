// Package clustertest starts real raftmq nodes for tests: an in-process
// single node (StartNode) with real Raft on disk under t.TempDir() and a
// loopback Raft listener, with Raft timings shrunk for tests; `raftmq serve`
// processes and clusters of them (NewProcess, StartCluster; Process.TLS to
// reach nodes serving HTTPS); and NewTestPKI, a throwaway CA and node
// certificate for the TLS tests; WriteClusterKey and KeyArgs give processes
// a cluster key.
//
// It is imported only by tests.
package clustertest
