package main

import (
	"testing"

	"raftmq/cluster"
)

func TestParseFlags_DiskWatermarkAndSegmentSize(t *testing.T) {
	noEnv := func(string) string { return "" }
	m := NewMain()
	if err := m.ParseFlags(nil, noEnv); err != nil {
		t.Fatal(err)
	}
	if d := m.Cluster.Disk; d.MinFreeBytes != cluster.DefaultDiskMinFreeBytes || d.MinFreePercent != cluster.DefaultDiskMinFreePercent || m.Cluster.Raft.WALSegmentSize != 64<<20 {
		t.Fatalf("defaults: %+v, segment %d", d, m.Cluster.Raft.WALSegmentSize)
	}
	m = NewMain()
	env := map[string]string{"RAFTMQ_DISK_MIN_FREE_PERCENT": "5"}
	if err := m.ParseFlags([]string{"--disk-min-free", "3GiB", "--wal-segment-size", "256KiB"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if d := m.Cluster.Disk; d.MinFreeBytes != 3<<30 || d.MinFreePercent != 5 || m.Cluster.Raft.WALSegmentSize != 256<<10 {
		t.Fatalf("parsed %+v, segment %d", d, m.Cluster.Raft.WALSegmentSize)
	}
	if err := NewMain().ParseFlags([]string{"--disk-min-free", "1048576"}, noEnv); err != nil {
		t.Fatalf("plain bytes: %v", err)
	}
	for _, args := range [][]string{
		{"--disk-min-free", "-1"},
		{"--disk-min-free", "12XB"},
		{"--disk-min-free", "99999999999TiB"},
		{"--disk-min-free-percent", "60"},
		{"--disk-min-free-percent", "-1"},
		{"--wal-segment-size", "1KiB"},
		{"--wal-segment-size", "2GiB"},
	} {
		if err := NewMain().ParseFlags(args, noEnv); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if s := byteSize(512 << 20); s.String() != "512MiB" {
		t.Fatalf("512 MiB prints as %s", s.String())
	}
}
