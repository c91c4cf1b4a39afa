package partition

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"raftmq/wal"
)

// BenchmarkLogStore_Commit measures the bolt log store the way a partition
// uses it (boltOptions, fsync on): one StoreLogs, one transaction, per batch
// of entries. Besides time per entry it reports the bytes the kernel wrote to
// disk per entry (write_bytes of /proc/self/io) and that figure over the
// entry size: bbolt rewrites the last leaf, which never splits below five
// keys, and the pages above it on every commit, so a small batch of large
// entries writes many times its size (docs/BENCHMARKS.md).
//
//	go test -run '^$' -bench LogStore_Commit -benchtime 2000x ./partition
func BenchmarkLogStore_Commit(b *testing.B) {
	for _, size := range []int{1 << 10, 10 << 10} {
		for _, per := range []int{1, 3, 10} {
			b.Run(fmt.Sprintf("entry=%dB/batch=%d", size, per), func(b *testing.B) {
				store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(b.TempDir(), "raft.db"), BoltOptions: boltOptions()})
				if err != nil {
					b.Fatal(err)
				}
				defer store.Close()
				data := bytes.Repeat([]byte{0xa5}, size)
				logs := make([]*raft.Log, per)
				next := uint64(1)
				before := diskWriteBytes(b)
				b.ResetTimer()
				for b.Loop() {
					for k := range logs {
						logs[k] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
						next++
					}
					if err := store.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				entries := float64(next - 1)
				written := float64(diskWriteBytes(b) - before)
				b.ReportMetric(b.Elapsed().Seconds()*1e6/entries, "µs/entry")
				b.ReportMetric(written/entries, "disk-B/entry")
				b.ReportMetric(written/entries/float64(size), "amplification")
			})
		}
	}
}

// diskWriteBytes is this process's write_bytes from /proc/self/io: what it
// caused to be written to storage. It fails the benchmark where there is no
// such file (not Linux).
func diskWriteBytes(b *testing.B) int64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Fatalf("disk write accounting needs /proc/self/io: %v", err)
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("write_bytes: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no write_bytes in /proc/self/io")
	return 0
}

// BenchmarkLogStore_Groups compares the partition log engines the way a
// node's partitions load them: one goroutine per Raft group, each storing
// one 10 KiB entry at a time (a produce of 10 × 1 KiB), all at once, fsync
// on. It reports entries per second over all groups, disk bytes per entry
// and the fdatasyncs (or bolt commits) each entry cost.
//
//	go test -run '^$' -bench LogStore_Groups -benchtime 4000x ./partition
func BenchmarkLogStore_Groups(b *testing.B) {
	for _, engine := range []string{LogStoreBolt, LogStoreRaftWAL, LogStoreWAL} {
		for _, groups := range []int{2, 12, 36} {
			b.Run(fmt.Sprintf("engine=%s/groups=%d", engine, groups), func(b *testing.B) {
				benchGroups(b, engine, groups)
			})
		}
	}
}

func benchGroups(b *testing.B, engine string, groups int) {
	dir := b.TempDir()
	var open storeOpener
	switch engine {
	case LogStoreBolt:
		open = openBoltStore(false)
	case LogStoreRaftWAL:
		open = openRaftWALStore(false)
	default:
		l, err := wal.Open(filepath.Join(dir, "wal"), wal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		open = openSharedStore(l, false)
	}
	stores := make([]openedStore, groups)
	for i := range stores {
		d := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		s, err := open(fmt.Sprintf("q/%d", i), d)
		if err != nil {
			b.Fatal(err)
		}
		defer s.release()
		stores[i] = s
	}
	data := bytes.Repeat([]byte{0xa5}, 10<<10)
	var next atomic.Int64
	var stored atomic.Int64
	before := diskWriteBytes(b)
	b.SetParallelism((groups + 1) / 2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		s := stores[int(next.Add(1)-1)%groups]
		idx, _ := s.LastIndex()
		for pb.Next() {
			idx++
			if err := s.StoreLogs([]*raft.Log{{Index: idx, Term: 1, Type: raft.LogCommand, Data: data}}); err != nil {
				b.Error(err)
				return
			}
			stored.Add(1)
		}
	})
	b.StopTimer()
	n := float64(stored.Load())
	b.ReportMetric(n/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(diskWriteBytes(b)-before)/n, "disk-B/entry")
}
