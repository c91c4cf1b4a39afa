// Command raftmq runs a raftmq node, or load-tests a cluster.
//
//	raftmq serve [flags]
//	raftmq loadtest --target URL[,URL...] --workload NAME [flags]
//
// serve reads flags (or RAFTMQ_<FLAG> environment variables), opens the
// cluster node on its data directory, serves the HTTP APIs, and on SIGTERM or
// SIGINT hands off leadership, lets in-flight requests finish, and exits 0.
// Main holds the wiring so end-to-end tests start nodes exactly as the binary
// does. loadtest (LoadtestCmd) turns flags into a loadtest.Config, runs it,
// writes the reports and prints the summary line last; it uses no broker
// package, only the public HTTP API.
package main
