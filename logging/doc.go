// Package logging builds the process's one structured logger and routes the
// libraries' own loggers into it.
//
// Owns: the slog handler of `raftmq serve` (text or JSON, a minimum level),
// a rate limiter that collapses repeated warnings and errors, and adapters
// that turn hashicorp/raft's hclog calls and memberlist's standard-library
// log lines into slog records, demoting the messages that are routine while a
// peer is down or the node is stopping.
//
// Does not: decide what the rest of raftmq logs, or where; the caller passes
// the writer.
//
// Invariants: every line a node writes has the same format; a record below
// warning level is never suppressed; a suppressed record is counted, and the
// next one of its kind that passes carries the count.
//
// Concurrency: every handler and adapter is safe for concurrent use. Loggers
// derived with With share their parent's rate-limit state.
package logging
