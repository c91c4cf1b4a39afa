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

func TestParseFlags_BodyCacheBytes(t *testing.T) {
	noEnv := func(string) string { return "" }
	m := NewMain()
	if err := m.ParseFlags(nil, noEnv); err != nil || m.BodyCacheBytes != 64<<20 {
		t.Fatalf("default %d, %v", m.BodyCacheBytes, err)
	}
	for arg, want := range map[string]uint64{"16MiB": 16 << 20, "0": 0} {
		m = NewMain()
		if err := m.ParseFlags([]string{"--body-cache-bytes", arg}, noEnv); err != nil || m.BodyCacheBytes != want {
			t.Fatalf("--body-cache-bytes %s: %d, %v", arg, m.BodyCacheBytes, err)
		}
	}
	m = NewMain()
	env := map[string]string{"RAFTMQ_BODY_CACHE_BYTES": "1GiB"}
	if err := m.ParseFlags(nil, func(k string) string { return env[k] }); err != nil || m.BodyCacheBytes != 1<<30 {
		t.Fatalf("from the environment: %d, %v", m.BodyCacheBytes, err)
	}
	for _, arg := range []string{"-1", "2TiB", "lots"} {
		if err := NewMain().ParseFlags([]string{"--body-cache-bytes", arg}, noEnv); err == nil {
			t.Errorf("--body-cache-bytes %s accepted", arg)
		}
	}
}
