package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"

	"raftmq/wal"
)

// Log store engines for partition groups (RaftConfig.LogStore).
const (
	// LogStoreWAL is the node's shared write-ahead log (package wal): every
	// partition's appends share one write and one fdatasync.
	LogStoreWAL = "wal"
	// LogStoreBolt is one raft-boltdb/v2 file per group (raft.db).
	LogStoreBolt = "bolt"
	// LogStoreRaftWAL is one hashicorp/raft-wal per group, kept for
	// side-by-side measurement (docs/BENCHMARKS.md).
	LogStoreRaftWAL = "raftwal"
)

// logStore is what one group's Raft keeps its log and its term and vote in.
type logStore interface {
	raft.LogStore
	raft.StableStore
}

// openedStore is a group's store and how to release it.
type openedStore struct {
	logStore
	close func() error
	// found reports the first corruption met while reading, when the store
	// can tell (hashicorp/raft's errors do not wrap).
	found func() *CorruptError
}

// IsMonotonic passes on whether the store refuses gaps
// (raft.MonotonicLogStore): hashicorp/raft then deletes the whole log after
// restoring a snapshot instead of leaving a gap before the next entry.
func (s openedStore) IsMonotonic() bool {
	m, ok := s.logStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// release closes the store, when it has anything to close.
func (s openedStore) release() {
	if s.close != nil {
		s.close()
	}
}

// storeOpener opens the store of group name, whose directory is dir.
type storeOpener func(name, dir string) (openedStore, error)

// openBoltStore opens dir/raft.db with checksums on every entry and value.
func openBoltStore(noSync bool) storeOpener {
	return func(name, dir string) (openedStore, error) {
		path := filepath.Join(dir, "raft.db")
		if err := checkBoltFile(path); err != nil {
			return openedStore{}, err
		}
		store, err := raftboltdb.New(raftboltdb.Options{Path: path, NoSync: noSync, BoltOptions: boltOptions()})
		if err != nil {
			return openedStore{}, err
		}
		checked, err := newCheckedStore(store)
		if err != nil {
			store.Close()
			return openedStore{}, err
		}
		return openedStore{logStore: checked, close: store.Close, found: checked.found.Load}, nil
	}
}

// openRaftWALStore opens a hashicorp/raft-wal in dir/wal.
func openRaftWALStore(noSync bool) storeOpener {
	return func(name, dir string) (openedStore, error) {
		if noSync {
			return openedStore{}, errors.New("the raftwal log store always syncs")
		}
		if err := os.MkdirAll(filepath.Join(dir, "wal"), 0o755); err != nil {
			return openedStore{}, err
		}
		w, err := raftwal.Open(filepath.Join(dir, "wal"), raftwal.WithLogger(hclog.NewNullLogger()))
		if err != nil {
			return openedStore{}, err
		}
		return openedStore{logStore: w, close: w.Close}, nil
	}
}

// migratedKey marks, in a group of the shared log, that the group's bolt
// store was copied in whole.
var migratedKey = []byte("raftmq.migrated-from-bolt")

// openSharedStore opens group name in the node's shared log. A group that
// still has a bolt store from before the shared log (dir/raft.db) is
// copied into it first, entries, term and vote; the bolt file is deleted
// only once the copy is durable and marked complete, so a crash during
// the copy just copies again.
func openSharedStore(l *wal.Log, noSync bool) storeOpener {
	return func(name, dir string) (openedStore, error) {
		boltPath := filepath.Join(dir, "raft.db")
		if _, err := os.Stat(boltPath); errors.Is(err, os.ErrNotExist) {
			g, err := l.Group(name)
			return openedStore{logStore: g}, err
		}
		g, err := migrateBolt(l, name, dir, noSync)
		if err != nil {
			return openedStore{}, fmt.Errorf("copy %s into the shared log: %w", boltPath, err)
		}
		return openedStore{logStore: g}, nil
	}
}

func migrateBolt(l *wal.Log, name, dir string, noSync bool) (*wal.Group, error) {
	boltPath := filepath.Join(dir, "raft.db")
	if l.Has(name) {
		g, err := l.Group(name)
		if err != nil {
			return nil, err
		}
		if v, err := g.Get(migratedKey); err == nil && len(v) > 0 {
			return g, os.Remove(boltPath) // copied before; the delete did not happen
		}
		if err := l.Drop(name); err != nil { // a copy cut short
			return nil, err
		}
	}
	src, err := openBoltStore(noSync)(name, dir)
	if err != nil {
		return nil, err
	}
	g, err := l.Group(name)
	if err == nil {
		err = copyStore(g, src)
	}
	if cerr := src.close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = g.Set(migratedKey, []byte{1})
	}
	if err == nil {
		err = os.Remove(boltPath)
	}
	return g, err
}

// copyStore copies every entry and the stable values hashicorp/raft keeps.
func copyStore(dst *wal.Group, src logStore) error {
	first, err := src.FirstIndex()
	if err != nil {
		return err
	}
	last, err := src.LastIndex()
	if err != nil {
		return err
	}
	var batch []*raft.Log
	for i := first; i <= last && first > 0; i++ {
		var e raft.Log
		if err := src.GetLog(i, &e); err != nil {
			return err
		}
		batch = append(batch, &e)
		if len(batch) == 256 || i == last {
			if err := dst.StoreLogs(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	for _, k := range []string{"CurrentTerm", "LastVoteTerm", "LastVoteCand"} {
		v, err := src.Get([]byte(k))
		if err != nil && err.Error() != "not found" {
			return err
		}
		if len(v) > 0 {
			if err := dst.Set([]byte(k), v); err != nil {
				return err
			}
		}
	}
	return nil
}
