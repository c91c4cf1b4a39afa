package partition

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
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
