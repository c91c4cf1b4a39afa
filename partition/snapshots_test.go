package partition

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"golang.org/x/sys/unix"
)

// TestSnapshotStore_FullFileSystemKeepsThePreviousSnapshot: on a full
// tmpfs a snapshot fails; the previous one still lists and reads, and no
// temporary directory is left. A directory a crash left is deleted when
// the store opens. Needs root (mount); skipped elsewhere.
func TestSnapshotStore_FullFileSystemKeepsThePreviousSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	s, err := openSnapshotStore(dir, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	first := bytes.Repeat([]byte("first"), 200)
	writeSnapshot := func(index uint64, data []byte) error {
		sink, err := s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
		if err != nil {
			return err
		}
		if _, err := sink.Write(data); err != nil {
			sink.Cancel() // what hashicorp/raft does when the FSM's Persist fails
			return err
		}
		return sink.Close()
	}
	if err := writeSnapshot(10, first); err != nil {
		t.Fatal(err)
	}
	ballast, err := os.Create(filepath.Join(dir, "ballast"))
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 100; k++ { // 2 MiB fills in 32
		if _, err := ballast.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	ballast.Close()
	err = writeSnapshot(20, bytes.Repeat([]byte("second"), 1<<20))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a snapshot on a full file system: %v, want ENOSPC", err)
	}
	metas, err := s.List()
	if err != nil || len(metas) != 1 || metas[0].Index != 10 {
		t.Fatalf("snapshots after the failure: %+v %v", metas, err)
	}
	_, rc, err := s.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("the previous snapshot reads back %d bytes, %v", len(got), err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.tmp"))
	if len(tmps) != 0 {
		t.Fatalf("temporary snapshot directories left: %v", tmps)
	}
	if err := os.Mkdir(filepath.Join(dir, "snapshots", "1-30-123.tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := openSnapshotStore(dir, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.tmp")); len(tmps) != 0 {
		t.Fatalf("a crash's temporary directory survived opening: %v", tmps)
	}
}
