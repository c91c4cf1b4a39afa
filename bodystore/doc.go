// Package bodystore keeps the message bodies of one queue partition on disk,
// out of the partition's state machine.
//
// Owns: append-only segment files (NNNNNNNNNNNNNNNNNNNN.seg, named by the
// offset of their first record) in one directory, each a run of records at
// consecutive message offsets; an in-memory index of each record's position
// (4 bytes a record); reading one record back; cutting the tail (torn
// writes, or records beyond a restored state); deleting whole segments below
// a floor (reclamation); pins that keep what a snapshot being sent still
// needs; the node-wide cache of payloads (cache.go). Does not know what a
// record holds (package fsm encodes it), Raft, or when to reclaim (package
// partition decides).
//
// Record: CRC-32C (Castagnoli) of the rest of the record, uint32 payload
// length, uint64 offset, payload; integers little-endian. A segment holds
// offsets base, base+1, ... without gaps; offsets missing between segments
// are simply absent.
//
// Durability: Append only buffers (the Raft log still holds every entry
// whose body is not yet on disk); Sync writes the buffer and fsyncs. Open
// verifies every record and cuts the store at the first record that is torn,
// corrupt or out of sequence: what is cut is written again when the Raft log
// is replayed. A write error is sticky: every later Append and Sync returns
// it, until the store is reopened.
//
// Cache: a Cache (Options.Cache, one per node, shared by every store) holds
// record payloads in one ring of its budget's size, mapped outside the Go
// heap where the platform allows, so that it costs its budget in memory and
// no more (the collector lets a heap grow to a multiple of what is live).
// It holds each record just appended (consumers of a live queue read what
// was just produced), and on a miss at the offset after the previous Get,
// the records that follow in the same segment, read with that one in a
// single read of up to ReadAheadBytes and each checked like a single
// record. The ring evicts the oldest first; a record takes its payload and
// a 16-byte header, at least 128 bytes, which bounds the index (one map
// entry a record, on the heap) however small the bodies. A store forgets
// its records for what it cuts or deletes (TruncateFrom, an Append below
// the end, Reclaim, Reset) and all of them on Close, so the cache only ever
// serves records the store holds, with their current bytes. Get returns a
// copy the caller owns, as on a read from disk.
//
// Concurrency: every method is safe for concurrent use (one mutex per store,
// held across a read, usually from the page cache; the Cache has its own,
// taken inside a store's and never the other way).
package bodystore
