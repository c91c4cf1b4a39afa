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
// Full file system: segments are preallocated (zero-filled and synced by a
// background preparer), so frames overwrite blocks that already exist and
// need no new space. Space is needed only for the next segment. When the
// preparer cannot make one (ENOSPC) it deletes its half-made spare
// (spare-*.tmp files are also deleted by Open, never read as segments) and
// tries again a second later; meanwhile a write that does not fit the
// active segment gets ErrNoSpace, nothing of it written, and the log stays
// usable. The one frame write that can itself meet ENOSPC is one larger
// than what is left of a fresh segment (it extends the file): it is cut
// back (the file truncated to its preallocated length, the rest of the
// write zeroed, synced) and answered ErrNoSpace too. The last 1/32 of every segment is kept for small reserved
// writes (term and vote, truncations, drops), so that Raft can still
// record a vote and compact while the file system is full.
//
// Concurrency: every exported method is safe for concurrent use. A write
// returns after it is on disk (unless Options.NoSync). Any other error
// from the disk (a failed frame write or fdatasync) makes the log fail
// every later write and calls Options.OnFail: after a failed fsync the
// page cache cannot be trusted to hold what was written, so the node stops
// and restarts from what is on disk (recovery cuts the unacknowledged
// write off as a torn one).
package wal
