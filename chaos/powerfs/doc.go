// Package powerfs is the fault suite's power-loss layer (FAULTS.md T6): a
// FUSE loopback file system that passes every operation through to a
// backing directory and remembers, per file, what each write since the
// file's last fsync overwrote. PowerLoss, called once the process using the
// mount is dead, puts those bytes back, so the backing directory holds what
// a disk would after a power cut: every fsynced write, no write that was not
// fsynced, and the last write torn (a random prefix of it kept). The mount
// stays up across a power loss.
//
// Model and its limits: data is lost per file, at 4 KiB page granularity,
// back to the file's state at its last fsync or fdatasync (both flush the
// whole file here). Directory operations (create, rename, unlink, mkdir) are
// durable at once, as on a journalling file system that has committed them;
// a file created and written but never fsynced therefore survives with the
// size it had at its last fsync (zero). Test only: it needs root and
// /dev/fuse.
package powerfs
