package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

func entry(i uint64) *raft.Log {
	return &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("entry-%04d-%s", i, bytes.Repeat([]byte("z"), 200)))}
}

func openChecked(t *testing.T, path string) (*raftboltdb.BoltStore, *checkedStore) {
	t.Helper()
	bs, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: boltOptions()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCheckedStore(bs)
	if err != nil {
		t.Fatal(err)
	}
	return bs, c
}

// flip flips one bit of every copy of marker in the file, off bytes after
// its start (bbolt may keep stale copies of a page in free pages).
func flip(t *testing.T, path string, marker []byte, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; ; {
		k := bytes.Index(b[i:], marker)
		if k < 0 {
			break
		}
		b[i+k+off] ^= 0x10
		i += k + len(marker)
		n++
	}
	if n == 0 {
		t.Fatalf("%q not in %s", marker, path)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckedStore_RoundTripLeavesCallerEntriesAlone(t *testing.T) {
	bs, c := openChecked(t, filepath.Join(t.TempDir(), "raft.db"))
	defer bs.Close()
	in := []*raft.Log{entry(1), entry(2), entry(3)}
	if err := c.StoreLogs(in); err != nil {
		t.Fatal(err)
	}
	for _, l := range in {
		if l.Extensions != nil {
			t.Fatalf("StoreLogs changed the caller's entry %d: %v", l.Index, l.Extensions)
		}
		var got raft.Log
		if err := c.GetLog(l.Index, &got); err != nil {
			t.Fatal(err)
		}
		if got.Index != l.Index || got.Term != l.Term || !bytes.Equal(got.Data, l.Data) || got.Extensions != nil {
			t.Fatalf("entry %d read back as %+v", l.Index, got)
		}
	}
	if err := c.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("CurrentTerm: %d, %v", v, err)
	}
	if err := c.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" {
		t.Fatalf("LastVoteCand: %q, %v", v, err)
	}
	// hashicorp/raft tells "never set" from a failure by this exact text.
	if _, err := c.GetUint64([]byte("LastVoteTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("a missing key: %v", err)
	}
}

func TestCheckedStore_FlippedBitIsCorruptNotData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	bs, c := openChecked(t, path)
	for i := uint64(1); i <= 20; i++ {
		if err := c.StoreLogs([]*raft.Log{entry(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set([]byte("LastVoteCand"), []byte("node-two")); err != nil {
		t.Fatal(err)
	}
	bs.Close()
	flip(t, path, []byte("entry-0013-"), 30)
	flip(t, path, []byte("node-two"), 5)
	// Entry 7's msgpack framing (its Data length) just before its data: the
	// entry no longer decodes at all.
	flip(t, path, []byte("entry-0007-"), -1)

	// Why the checksums: bbolt checksums only its meta pages, and the plain
	// store hands the changed entry back as data.
	raw, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := raw.GetLog(13, &l); err != nil || bytes.Equal(l.Data, entry(13).Data) {
		t.Fatalf("the plain store: %v, data unchanged %v (the flip missed the entry)", err, bytes.Equal(l.Data, entry(13).Data))
	}
	raw.Close()

	bs, c = openChecked(t, path)
	defer bs.Close()
	err = c.GetLog(13, &l)
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.What != "log entry 13" {
		t.Fatalf("entry 13 with a flipped bit: %v (data %q)", err, l.Data)
	}
	if err := c.GetLog(12, &l); err != nil {
		t.Fatalf("entry 12 is intact: %v", err)
	}
	if err := c.GetLog(99, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("a missing entry must stay ErrLogNotFound (raft relies on it): %v", err)
	}
	if err := c.GetLog(7, &l); !errors.As(err, &ce) || ce.What != "log entry 7" {
		t.Fatalf("entry 7 with broken framing: %v", err)
	}
	if v, err := c.Get([]byte("LastVoteCand")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a flipped vote read as %q, %v", v, err)
	}
}

// A store written before checksums keeps working: values and entries without
// one are read as they are; new writes carry one.
func TestCheckedStore_LegacyStoreIsReadLeniently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	bs, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.StoreLogs([]*raft.Log{entry(1), entry(2)}); err != nil {
		t.Fatal(err)
	}
	if err := bs.SetUint64([]byte("CurrentTerm"), 4); err != nil {
		t.Fatal(err)
	}
	bs.Close()
	bs, c := openChecked(t, path)
	defer bs.Close()
	if c.strict {
		t.Fatal("a store with entries and no marker must be read leniently")
	}
	var l raft.Log
	if err := c.GetLog(2, &l); err != nil || !bytes.Equal(l.Data, entry(2).Data) {
		t.Fatalf("legacy entry: %v", err)
	}
	if v, err := c.GetUint64([]byte("CurrentTerm")); err != nil || v != 4 {
		t.Fatalf("legacy CurrentTerm: %d, %v", v, err)
	}
	if err := c.StoreLogs([]*raft.Log{entry(3)}); err != nil {
		t.Fatal(err)
	}
	if err := c.GetLog(3, &l); err != nil {
		t.Fatal(err)
	}
}

// A replica whose log holds a corrupt entry refuses to start, with an error
// that says so, instead of applying it.
func TestOpenReplica_RefusesACorruptLog(t *testing.T) {
	ms := startGroupWith(t, 1, func(c *RaftConfig) { c.LogStore = LogStoreBolt })
	m := ms[0]
	if _, err := m.r.Enqueue(context.Background(), msgs(5, "marker-body")); err != nil {
		t.Fatal(err)
	}
	m.stop(t)
	flip(t, filepath.Join(m.dir, "q_0", "raft.db"), []byte("marker-body-3"), 4)
	r, err := OpenReplica(Spec{ID: "q/0", Policy: testPolicy}, filepath.Join(m.dir, "q_0"), testRaftConfig(m.id), newTCPTransport(t, m.addr))
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reopening a replica with a corrupt entry: %v", err)
	}
}

// A log store cut short is refused before bbolt maps it (bbolt would die of
// SIGBUS on the first missing page); an intact one passes.
func TestCheckBoltFile_RefusesAStoreCutShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	if err := checkBoltFile(path); err != nil {
		t.Fatalf("a missing file is a new store: %v", err)
	}
	bs, c := openChecked(t, path)
	for i := uint64(1); i <= 200; i++ {
		if err := c.StoreLogs([]*raft.Log{entry(i)}); err != nil {
			t.Fatal(err)
		}
	}
	bs.Close()
	if err := checkBoltFile(path); err != nil {
		t.Fatalf("intact store: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()-st.Size()/4); err != nil {
		t.Fatal(err)
	}
	err = checkBoltFile(path)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a store cut from %d to %d bytes: %v", st.Size(), st.Size()-st.Size()/4, err)
	}
}

// A hole in the log (a flipped bit in an entry's key moves it) is corruption,
// not an entry raft may ask for and not find; before the first and after the
// last entry, not found stays not found.
func TestCheckedStore_HoleInTheLogIsCorrupt(t *testing.T) {
	bs, c := openChecked(t, filepath.Join(t.TempDir(), "raft.db"))
	defer bs.Close()
	for i := uint64(1); i <= 10; i++ {
		if err := c.StoreLogs([]*raft.Log{entry(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := bs.DeleteRange(5, 5); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := c.GetLog(5, &l); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("entry 5 missing between 1 and 10: %v", err)
	}
	if err := bs.DeleteRange(1, 2); err != nil { // a compacted prefix
		t.Fatal(err)
	}
	for _, i := range []uint64{1, 11} {
		if err := c.GetLog(i, &l); !errors.Is(err, raft.ErrLogNotFound) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("entry %d outside the log: %v", i, err)
		}
	}
}
