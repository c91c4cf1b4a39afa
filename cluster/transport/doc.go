// Package transport carries a node's traffic with its peers and holds the
// cluster key's checks on it.
//
// Owns: the single Raft listener every Raft group of a node shares (Mux: a
// connection names its group in a short header, and each group gets a
// raft.StreamLayer); the keyed Raft handshake and the sealed framing of a
// keyed Raft connection (raftauth.go, secureconn.go); the sealing of
// node-to-node HTTP requests and their answers, with the replay cache
// (rpcauth.go); the cluster key ring and the key file format (clusterkey.go);
// and the limiter that keeps refusals of strangers from flooding the log.
//
// Does not own: which requests travel or what they mean (cluster), Raft
// itself (hashicorp/raft through partition), gossip (memberlist, configured
// by cluster with the same keys).
//
// Invariants: with a cluster key, nothing from a peer is handed on before
// the peer proved the key: a Raft connection is closed and a sealed request
// refused (ErrHandshake, ErrRPCAuth). A sealed request is accepted once,
// within RPCWindow of the receiver's clock, and never when stamped before
// the receiver's replay cache started. Every key seals one request and its
// answer only.
//
// Concurrency: Mux, StreamLayer, ReplayCache and LogLimiter are safe for
// concurrent use; a Keyring is immutable once made.
package transport
