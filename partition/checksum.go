package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync/atomic"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// ErrCorrupt reports a log entry or a stable value (term, vote) whose stored
// checksum does not match: the disk changed it. The node must not use it:
// hashicorp/raft refuses to start on it, or stops the process when it meets
// it later, rather than apply or vote on corrupt state.
var ErrCorrupt = errors.New("partition: corrupt raft state")

// CorruptError says where the corruption was found. errors.Is(err,
// ErrCorrupt) matches it.
type CorruptError struct {
	What  string // "log entry 42" or "stable key CurrentTerm"
	Cause string // empty: the checksum does not match; else why it could not be read
}

func (e *CorruptError) Error() string {
	if e.Cause != "" {
		return fmt.Sprintf("partition: %s is unreadable (%s): the file changed on disk", e.What, e.Cause)
	}
	return fmt.Sprintf("partition: %s fails its checksum: the file changed on disk", e.What)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksumKey marks, in the stable store, a store whose every entry and
// value carries a checksum. Stores created before checksums (no marker, some
// entries) are read leniently: a checksum is verified where present.
var checksumKey = []byte("raftmq.checksums.v1")

// checkedStore puts a CRC-32C on every Raft log entry (in raft.Log's
// Extensions, which hashicorp/raft leaves to the log store's user) and on
// every stable-store value (a 4-byte trailer), and verifies them on read. bbolt
// checksums only its meta pages, so without this a flipped bit in a leaf is
// applied, replicated or voted on as if it were data.
type checkedStore struct {
	*raftboltdb.BoltStore
	strict bool                         // every entry and value must carry a checksum
	found  atomic.Pointer[CorruptError] // the first corruption met (hashicorp/raft's errors do not wrap)
}

func (c *checkedStore) corrupt(what string) error { return c.unreadable(what, nil) }

func (c *checkedStore) unreadable(what string, cause error) error {
	e := &CorruptError{What: what}
	if cause != nil {
		e.Cause = cause.Error()
	}
	c.found.CompareAndSwap(nil, e)
	return e
}

// newCheckedStore wraps store; a store with no log yet becomes strict.
func newCheckedStore(store *raftboltdb.BoltStore) (*checkedStore, error) {
	c := &checkedStore{BoltStore: store}
	if v, err := store.Get(checksumKey); err == nil && len(v) > 0 {
		c.strict = true
		return c, nil
	}
	last, err := store.LastIndex()
	if err != nil {
		return nil, err
	}
	if last == 0 {
		if err := store.Set(checksumKey, []byte{1}); err != nil {
			return nil, err
		}
		c.strict = true
	}
	return c, nil
}

const extVersion = 1 // Extensions = version byte + CRC-32C, big endian

func logSum(l *raft.Log) uint32 {
	var hdr [17]byte
	binary.BigEndian.PutUint64(hdr[0:], l.Index)
	binary.BigEndian.PutUint64(hdr[8:], l.Term)
	hdr[16] = byte(l.Type)
	return crc32.Update(crc32.Checksum(hdr[:], castagnoli), castagnoli, l.Data)
}

func (c *checkedStore) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores copies carrying the checksum; the caller's entries (which
// raft's log cache keeps and replicates) are not changed.
func (c *checkedStore) StoreLogs(logs []*raft.Log) error {
	out := make([]*raft.Log, len(logs))
	sums := make([]byte, 5*len(logs))
	for i, l := range logs {
		cp := *l
		ext := sums[5*i : 5*i+5 : 5*i+5]
		ext[0] = extVersion
		binary.BigEndian.PutUint32(ext[1:], logSum(l))
		cp.Extensions = ext
		out[i] = &cp
	}
	return c.BoltStore.StoreLogs(out)
}

// GetLog reads and verifies entry idx. An entry bolt holds but cannot
// decode is corrupt as well.
func (c *checkedStore) GetLog(idx uint64, l *raft.Log) error {
	if err := c.BoltStore.GetLog(idx, l); errors.Is(err, raft.ErrLogNotFound) {
		// Raft deletes only a prefix or a suffix: an entry missing between
		// the first and the last is a changed key, not a compaction.
		first, ferr := c.BoltStore.FirstIndex()
		last, lerr := c.BoltStore.LastIndex()
		if ferr == nil && lerr == nil && first > 0 && idx > first && idx < last {
			return c.unreadable(fmt.Sprintf("log entry %d", idx), fmt.Errorf("missing between entries %d and %d", first, last))
		}
		return err
	} else if err != nil {
		return c.unreadable(fmt.Sprintf("log entry %d", idx), err)
	}
	ext := l.Extensions
	l.Extensions = nil
	if len(ext) == 0 && !c.strict {
		return nil
	}
	if len(ext) != 5 || ext[0] != extVersion || binary.BigEndian.Uint32(ext[1:]) != logSum(l) || l.Index != idx {
		return c.corrupt(fmt.Sprintf("log entry %d", idx))
	}
	return nil
}

func (c *checkedStore) Set(k, v []byte) error {
	b := make([]byte, len(v)+4)
	copy(b, v)
	binary.BigEndian.PutUint32(b[len(v):], valueSum(k, v))
	return c.BoltStore.Set(k, b)
}

func (c *checkedStore) Get(k []byte) ([]byte, error) {
	b, err := c.BoltStore.Get(k)
	if err != nil || len(b) == 0 {
		return b, err
	}
	if len(b) >= 4 {
		v := b[:len(b)-4]
		if binary.BigEndian.Uint32(b[len(v):]) == valueSum(k, v) {
			return v, nil
		}
	}
	if !c.strict {
		return b, nil // written before checksums
	}
	return nil, c.corrupt(fmt.Sprintf("stable key %s", k))
}

func (c *checkedStore) SetUint64(k []byte, v uint64) error {
	return c.Set(k, binary.BigEndian.AppendUint64(nil, v))
}

func (c *checkedStore) GetUint64(k []byte) (uint64, error) {
	v, err := c.Get(k)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, c.corrupt(fmt.Sprintf("stable key %s (%d bytes)", k, len(v)))
	}
	return binary.BigEndian.Uint64(v), nil
}

func valueSum(k, v []byte) uint32 {
	return crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, v)
}
