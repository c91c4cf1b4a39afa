package partition

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// snapshotStore is hashicorp/raft's file snapshot store (two retained
// under <dir>/snapshots) made tidy on a full file system. A snapshot is
// written under <id>.tmp and renamed into place only once complete, so a
// failed one never replaces the previous; but hashicorp/raft leaves the
// .tmp directory behind when writing its meta.json fails (in Create or
// Close), and on a full disk every later attempt would leave another.
// Here a failed Create or Close deletes its directory, and opening the
// store deletes any left by a crash.
type snapshotStore struct {
	*raft.FileSnapshotStore
	dir string // <dir>/snapshots
}

const snapshotsRetained = 2

func openSnapshotStore(dir string, log hclog.Logger) (*snapshotStore, error) {
	fs, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, log)
	if err != nil {
		return nil, err
	}
	s := &snapshotStore{FileSnapshotStore: fs, dir: filepath.Join(dir, "snapshots")}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), ".tmp") {
			if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Create implements raft.SnapshotStore.
func (s *snapshotStore) Create(version raft.SnapshotVersion, index, term uint64, cfg raft.Configuration, cfgIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, cfg, cfgIndex, trans)
	if err != nil {
		// Create leaves the directory it made (named term-index-millis)
		// when writing the first meta.json fails.
		tmps, _ := filepath.Glob(filepath.Join(s.dir, fmt.Sprintf("%d-%d-*.tmp", term, index)))
		for _, p := range tmps {
			os.RemoveAll(p)
		}
		return nil, err
	}
	return &tidySink{SnapshotSink: sink, tmp: filepath.Join(s.dir, sink.ID()+".tmp")}, nil
}

// tidySink deletes its temporary directory when the snapshot fails.
type tidySink struct {
	raft.SnapshotSink
	tmp string
}

func (t *tidySink) Close() error {
	err := t.SnapshotSink.Close()
	if err != nil {
		os.RemoveAll(t.tmp)
	}
	return err
}

func (t *tidySink) Cancel() error {
	err := t.SnapshotSink.Cancel()
	os.RemoveAll(t.tmp)
	return err
}
