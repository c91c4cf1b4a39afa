// Package wal is the node's Raft log engine: one append-only, segmented
// write-ahead log shared by every Raft group of the node.
//
// Owns: the log directory (segment files NNNNNNNNNNNNNNNN.wal), the record
// format, group commit, recovery, and reclaiming segments. Log is the
// engine; Group is one Raft group's view of it, a raft.LogStore and
// raft.StableStore.
//
// Does not own: which groups exist (partition opens and drops them), Raft,
// snapshots.
//
// Format: a segment starts with a 16-byte header (magic, segment number,
// the next group number to give out)
// followed by frames. A frame is a CRC-32C (Castagnoli) of the rest of the
// frame, the payload length, a kind byte and the payload. Kinds: define (a
// group's number and name), entry (one raft.Log of one group), moved (an
// entry copied forward by reclamation), prefix and suffix truncations,
// stable (a key and value of a group's stable store), and drop (the group
// is gone). Groups are named by number in every frame but define.
//
// Group commit: every write (StoreLogs, DeleteRange, Set) is encoded by its
// caller and handed to one writer goroutine, which writes everything that is
// waiting with one write(2) and one fdatasync(2), then publishes the new
// positions and answers every waiter. Concurrent appends of different
// groups therefore share one disk write and one flush; nothing already
// written is ever rewritten in place.
//
// Reads: the position of every live entry is kept in memory (12 bytes per
// entry); GetLog reads its one frame with pread and verifies its checksum.
// Recent entries are also in hashicorp/raft's LogCache above this store and
// in the kernel's page cache.
//
// Reclaiming: a sealed segment is deleted once nothing in it is live: no
// group's entries from its first index on, no current stable value, no
// define of a live group. A group that neither truncates nor writes (an
// idle partition) would pin old segments for ever, so when the oldest
// segment holds little that is live, the writer copies those few frames
// forward (moved entries, stable values, defines) and deletes it.
//
// Recovery: Open reads every segment in order and rebuilds the positions.
// Every write starts with a batch frame giving its length, and frames are
// applied only when the whole write reads. The writer syncs each write
// before the next, so only the last write can be torn (cut short, or with
// some of its pages on disk and not others): a write that does not read
// and is followed by no other write is cut off, as nothing in it was
// acknowledged. A write that does not read and is followed by another is
// corruption: Open fails with an error matching ErrCorrupt and the node
// refuses to start rather than serve from a damaged log. Close ends with
// an empty write, so after a clean stop damage to the final real write is
// corruption too, not a torn write.
//
// Concurrency: every exported method is safe for concurrent use. A write
// returns after it is on disk (unless Options.NoSync). An error from the
// disk makes the log fail every later write (after a failed fsync the page
// cache cannot be trusted to hold what was written).
package wal
