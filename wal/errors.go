package wal

import (
	"errors"
	"fmt"
	"time"
)

// ErrCorrupt matches every error that reports a damaged log: a frame that
// fails its checksum or does not decode where no torn write can explain it.
var ErrCorrupt = errors.New("wal: corrupt log")

// ErrNoSpace matches the error of a write that found the active segment
// full and could not start a new one (typically ENOSPC). Nothing of that
// write is on disk and the log stays usable: a later write succeeds once
// space is freed.
var ErrNoSpace = errors.New("wal: no space for a new segment")

// ErrClosed is returned by writes to a closed log.
var ErrClosed = errors.New("wal: closed")

// ErrDropped is returned by a Group whose group was dropped.
var ErrDropped = errors.New("wal: group dropped")

// errNotFound is what hashicorp/raft expects from a stable store for a key
// it never set: it compares the message, not the value.
var errNotFound = errors.New("not found")

// CorruptError says where the log is damaged. errors.Is(err, ErrCorrupt)
// matches it.
type CorruptError struct {
	Segment string // file name
	Offset  int64
	Why     string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: %s at offset %d is corrupt: %s", e.Segment, e.Offset, e.Why)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// GapError reports a StoreLogs that would leave a hole in a group's log.
type GapError struct {
	Group      string
	Last, Next uint64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("wal: group %s: entry %d does not follow entry %d", e.Group, e.Next, e.Last)
}

func timeFromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
