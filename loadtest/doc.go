// Package loadtest is raftmq's load-test harness: it drives any raftmq
// cluster through the public DMS v1.0 HTTP API only, like any client, and
// measures it. It imports no other raftmq package (its tests start a real
// node through cluster/clustertest).
//
// Owns: the workloads (produce, drain, mixed closed or open loop, w1, and
// w2: w1 over 12 queues), the prefill (Config.Prefill: a deep backlog
// produced, drained and left retained before any workload's measured
// phases), the run's own queues (Config.Queues, each with the
// run's consumer group; producer and consumer k use queue k mod Queues) in a
// project of its own (created at the start, deleted at the end, best
// effort), latency histograms (HDR, µs resolution, p50/p90/p99/p99.9/max
// per operation: produce, consume, ack, and e2e from the produce timestamp
// written in each body to delivery),
// per-second throughput and e2e latency series, errors by operation, status and DMS
// error_code, tries, errors and latency by target node (warm-up phases left
// out, as from the latency charts), the verification pass over every queue (lost: produced with
// 201 and never delivered; duplicates: deliveries beyond a message's first;
// misrouted: delivered from a queue it was not produced to; with
// Config.DedupIDs every message carries a dedup_id, so retried produces are
// stored once and duplicates count what is left) and the
// reports: Report.WriteText, WriteJSON, WriteHTML (one self-contained page,
// inline SVG, no script, no network) and Summary.Line. It does not own
// flags or exit codes (cmd/raftmq loadtest) nor starting clusters
// (scripts/bench.sh, clustertest).
//
// Invariants: every run is bounded in count and in time and stops by
// itself: produce phases by their message count, mixed phases by their
// duration and Config.MaxMixedMessages, drain phases by every queue
// becoming empty (each consumer stops when its own queue is), and every
// count-bounded phase by Config.PhaseTimeout (the prefill's halves by
// Config.PrefillTimeout); each request by
// Config.RequestTimeout. 503 and 429 answers and requests without an
// answer are retried after a short back-off (up to 10 tries), and every
// failed try is counted as an error. Consumers ack every batch they get,
// in one ordered ack. In-flight requests are never abandoned at a phase's
// end, so no lease is left to expire; only cancelling Run's context cuts a
// run short, and that is a fatal error.
//
// Concurrency: Run is safe to call from several goroutines (each run has
// its own client, queues and state); within a run, producers and consumers
// are goroutines that share the run's ledger, histograms and counters,
// which are all safe for concurrent use. There is no package-level mutable
// state; the clock comes in through Config.Now.
package loadtest
