// Package loadtest will hold raftmq's load-test harness: workloads, latency
// histograms and reports, driving any raftmq cluster through its public HTTP
// API only. It imports no other raftmq package. (Not built yet: see the
// load-test issue.)
package loadtest
