// Command raftmq runs a raftmq node.
//
//	raftmq serve [flags]
//
// serve reads flags (or RAFTMQ_<FLAG> environment variables), opens the
// cluster node on its data directory, serves the HTTP APIs, and on SIGTERM or
// SIGINT hands off leadership, lets in-flight requests finish, and exits 0.
// Main holds the wiring so end-to-end tests start nodes exactly as the binary
// does.
package main
