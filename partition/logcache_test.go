package partition

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

func cacheEntry(i uint64, size int) *raft.Log {
	return &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, size)}
}

// TestLogCache_BoundedByBytesAndCount: large entries keep at most maxBytes
// in memory, small ones at most the ring's count; every entry still reads
// back (from the store when no longer cached), and a conflicting suffix
// replaces the cached run.
func TestLogCache_BoundedByBytesAndCount(t *testing.T) {
	store := raft.NewInmemStore()
	c := newLogCache(store, 16, 4<<20)
	for i := uint64(1); i <= 40; i++ {
		if err := c.StoreLogs([]*raft.Log{cacheEntry(i, 1<<20)}); err != nil {
			t.Fatal(err)
		}
		if c.bytes > 4<<20 {
			t.Fatalf("after entry %d the cache holds %d bytes", i, c.bytes)
		}
	}
	if c.lo != 37 || c.hi != 40 {
		t.Fatalf("cached %d..%d, want 37..40", c.lo, c.hi)
	}
	var batch []*raft.Log
	for i := uint64(41); i <= 100; i++ {
		batch = append(batch, cacheEntry(i, 10))
	}
	if err := c.StoreLogs(batch); err != nil {
		t.Fatal(err)
	}
	if c.hi-c.lo+1 != 16 || c.hi != 100 {
		t.Fatalf("cached %d..%d, want the newest 16", c.lo, c.hi)
	}
	for i := uint64(1); i <= 100; i++ {
		var got raft.Log
		size := 10
		if i <= 40 {
			size = 1 << 20
		}
		if err := c.GetLog(i, &got); err != nil || got.Index != i || !bytes.Equal(got.Data, cacheEntry(i, size).Data) {
			t.Fatalf("entry %d: %v %d", i, err, got.Index)
		}
	}
	// A follower replaces a conflicting suffix from 95 on.
	if err := c.DeleteRange(95, 100); err != nil {
		t.Fatal(err)
	}
	if err := c.StoreLogs([]*raft.Log{{Index: 95, Term: 2, Data: []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	if err := c.GetLog(95, &got); err != nil || got.Term != 2 {
		t.Fatalf("entry 95 after the overwrite: %+v %v", got, err)
	}
	if err := c.GetLog(96, &got); err == nil {
		t.Fatal("entry 96 still reads after the suffix was deleted")
	}
	if c.IsMonotonic() {
		t.Fatal("an in-memory store reported monotonic")
	}
}
