// Command raftmq runs a raftmq node, load-tests a cluster, or acts as its
// command-line client.
//
//	raftmq serve [flags]
//	raftmq loadtest --target URL[,URL...] --workload NAME [flags]
//	raftmq queue|group|send|receive|cluster|node ... [--server URL] [--project P] [-o table|json]
//	raftmq version | keygen
//
// serve reads flags (or RAFTMQ_<FLAG> environment variables), opens the
// cluster node on its data directory, serves the HTTP APIs, and on SIGTERM or
// SIGINT hands off leadership, lets in-flight requests finish, and exits 0.
// Main holds the wiring so end-to-end tests start nodes exactly as the binary
// does. loadtest (LoadtestCmd) turns flags into a loadtest.Config, runs it,
// writes the reports and prints the summary line last; it uses no broker
// package, only the public HTTP API.
//
// The client commands (cli*.go) speak only the public HTTP API, sign requests
// with SDK-HMAC-SHA256 when given a key pair (sign.go), and exit 0 on
// success, 1 when the server or the network refused, 2 for bad usage.
package main
