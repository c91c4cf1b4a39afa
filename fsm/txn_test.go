package fsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// goldenTxn freezes the encoding of Enqueue version 3, TxnCheck and TxnEnd.
var goldenTxn = []struct {
	name string
	cmd  Command
	hex  string
}{
	{
		name: "enqueue half",
		cmd:  &Enqueue{Header: goldenHeader, Messages: []Message{{Body: []byte(`"hi"`)}}, HalfCheckMs: 10000},
		// version 3; one message with empty version 2 fields; check 10000 ms; no ids.
		hex: "01" + "03" + "f6a1abfef96201" + "03" + "80d098f701" + "01" + "0422686922" + "00" + "00" + "00" + "00" + "00" + "a09c01" + "00",
	},
	{
		name: "enqueue dedup",
		cmd:  &Enqueue{Header: goldenHeader, Messages: []Message{{Body: []byte(`1`)}, {Body: []byte(`2`)}}, DedupIDs: []string{"a", ""}},
		hex: "01" + "03" + "f6a1abfef96201" + "03" + "80d098f701" + "02" + "0131" + "00" + "00000000" + "0132" + "00" + "00000000" +
			"00" + "02" + "0161" + "00",
	},
	{
		name: "txn check",
		cmd:  &TxnCheck{Header: goldenHeader, Max: 16, MaxBytes: MaxLeaseBytes},
		hex:  "06" + "01" + "f6a1abfef96201" + "03" + "80d098f701" + "10" + "808020",
	},
	{
		name: "txn end",
		cmd:  &TxnEnd{Header: goldenHeader, HalfID: HalfIDBase + 1, Gen: 2, Commit: true},
		hex:  "07" + "01" + "f6a1abfef96201" + "03" + "80d098f701" + "81808080808020" + "02" + "01",
	},
}

func TestTxn_GoldenBytes(t *testing.T) {
	for _, tt := range goldenTxn {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := hex.DecodeString(tt.hex)
			got, err := Encode(tt.cmd)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Encode = %x, %v\n           want %x", got, err, want)
			}
			back, err := Decode(want)
			if err != nil || !reflect.DeepEqual(back, tt.cmd) {
				t.Fatalf("Decode = %+v, %v\n     want %+v", back, err, tt.cmd)
			}
		})
	}
}

func TestTxn_EncodeAndDecodeRefuse(t *testing.T) {
	msgs := []Message{{Body: []byte("1")}}
	for _, c := range []Command{
		&Enqueue{Messages: msgs, HalfCheckMs: -1},
		&Enqueue{Messages: msgs, DedupIDs: []string{"a", "b"}},
		&Enqueue{Messages: msgs, DedupIDs: []string{"a"}, HalfCheckMs: 5},
		&TxnCheck{Max: -1},
		(*TxnEnd)(nil),
	} {
		if _, err := Encode(c); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("Encode(%+v) = %v, want ErrInvalidCommand", c, err)
		}
	}
	hdr := "0000" + "00" + "00"
	for name, h := range map[string]string{
		"v3 without v3 fields": "0103" + hdr + "01" + "0131" + "00" + "00000000" + "00" + "00",
		"negative check":       "0103" + hdr + "01" + "0131" + "00" + "00000000" + "01" + "00",
		"ids for half":         "0103" + hdr + "01" + "0131" + "00" + "00000000" + "02" + "01" + "0161",
		"id count mismatch":    "0103" + hdr + "02" + "0131" + "00" + "00000000" + "0131" + "00" + "00000000" + "00" + "01" + "0161",
		"lease version 3":      "0203" + hdr + "0167" + "00" + "01" + "01" + "00",
		"txn end flag bit 1":   "0701" + hdr + "01" + "00" + "02",
		"txn check truncated":  "0601" + hdr + "01",
	} {
		b, _ := hex.DecodeString(h)
		if c, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode = %+v, %v; want ErrCorrupt", name, c, err)
		}
	}
}

// publishHalf stores one half message and returns its HalfID.
func (h *harness) publishHalf(now int64, body string, checkMs int64) uint64 {
	h.t.Helper()
	res := h.apply(&Enqueue{Header: h.hdr(now), Messages: []Message{{Body: []byte(body)}}, HalfCheckMs: checkMs}).(EnqueueResult)
	if res.Halves != 1 || res.Count != 0 {
		h.t.Fatalf("half publish = %+v", res)
	}
	return res.FirstHalf
}

func (h *harness) txnCheck(now int64, max int) []HalfDelivery {
	h.t.Helper()
	return h.apply(&TxnCheck{Header: h.hdr(now), Max: max, MaxBytes: MaxLeaseBytes}).(TxnCheckResult).Halves
}

func (h *harness) txnEnd(now int64, id, gen uint64, commit bool) TxnEndResult {
	h.t.Helper()
	return h.apply(&TxnEnd{Header: h.hdr(now), HalfID: id, Gen: gen, Commit: commit}).(TxnEndResult)
}

func TestTxn_HalfInvisibleUntilCommit(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "a")
	id := h.publishHalf(1000, "half", 10_000)
	if id < HalfIDBase {
		t.Fatalf("HalfID %d below HalfIDBase", id)
	}
	wantOffs(t, "before commit", h.lease(1001, g1, 16, 30_000), 0)
	h.wantStats(g1, GroupStats{Produced: 1, Consumed: 0, Available: 1})
	if h.s.HalfMessages() != 1 {
		t.Fatalf("HalfMessages = %d", h.s.HalfMessages())
	}
	h.enqueue(1002, "b")
	res := h.txnEnd(1003, id, 0, true)
	if !res.OK || res.Offset != 2 {
		t.Fatalf("commit = %+v, want OK at offset 2 (after b: the commit is its position)", res)
	}
	ds := h.lease(1004, g1, 16, 30_000)
	wantOffs(t, "after commit", ds, 1, 2)
	if ds[1].HalfID != id || ds[1].IDOffset() != id || ds[0].HalfID != 0 || ds[0].IDOffset() != 1 {
		t.Fatalf("ids: %+v", ds)
	}
	if got := h.txnEnd(1005, id, 0, true); got.OK {
		t.Fatal("a second commit succeeded")
	}
	if h.s.HalfMessages() != 0 {
		t.Fatal("the committed half is still pending")
	}
}

func TestTxn_RollbackNeverDelivered(t *testing.T) {
	h := newHarness(t, normal)
	id := h.publishHalf(1000, "half", 10_000)
	if res := h.txnEnd(1001, id, 0, false); !res.OK {
		t.Fatalf("rollback = %+v", res)
	}
	wantOffs(t, "after rollback", h.lease(1002, g1, 16, 30_000))
	if got := h.txnCheck(100_000, 16); len(got) != 0 {
		t.Fatalf("a rolled back half offered for check: %+v", got)
	}
	if res := h.txnEnd(1003, id, 0, true); res.OK {
		t.Fatal("commit after rollback succeeded")
	}
	h.wantStats(g1, GroupStats{})
}

func TestTxn_CheckBackAfterWindow(t *testing.T) {
	h := newHarness(t, normal)
	a := h.publishHalf(1000, "a", 10_000)
	b := h.publishHalf(2000, "b", 5_000)
	if got := h.txnCheck(6999, 16); len(got) != 0 {
		t.Fatalf("check before any window ended: %+v", got)
	}
	got := h.txnCheck(11_000, 16)
	if len(got) != 2 || got[0].HalfID != b || got[1].HalfID != a || got[0].Gen != 1 || got[0].CheckAt != 16_000 {
		t.Fatalf("check = %+v, want b (due first) then a, generation 1", got)
	}
	if got := h.txnCheck(12_000, 16); len(got) != 0 {
		t.Fatalf("window not restarted: %+v", got)
	}
	if res := h.txnEnd(12_000, a, 0, true); res.OK {
		t.Fatal("the publish handle still ends a checked half")
	}
	if res := h.txnEnd(12_000, a, 1, true); !res.OK {
		t.Fatalf("commit with the check's handle = %+v", res)
	}
	got = h.txnCheck(16_000, 1)
	if len(got) != 1 || got[0].HalfID != b || got[0].Gen != 2 {
		t.Fatalf("second check = %+v", got)
	}
	if res := h.txnEnd(16_001, b, 2, false); !res.OK {
		t.Fatal("rollback with the newest handle failed")
	}
	wantOffs(t, "only the committed one", h.lease(16_002, g1, 16, 30_000), 0)
}

func TestTxn_RetentionDropsOpenHalves(t *testing.T) {
	h := newHarness(t, Policy{RetentionMs: 60_000})
	id := h.publishHalf(1000, "a", 10_000)
	h.tick(61_001)
	if h.s.HalfMessages() != 0 {
		t.Fatal("a half message outlived retention")
	}
	if res := h.txnEnd(61_002, id, 0, true); res.OK {
		t.Fatal("commit of a half past retention succeeded")
	}
}

func TestTxn_SnapshotRoundTrip(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "a")
	committed := h.publishHalf(1000, "c", 10_000)
	open := h.publishHalf(1001, "o", 10_000)
	h.txnEnd(1002, committed, 0, true)
	h.apply(&Enqueue{Header: h.hdr(1003), Messages: []Message{{Body: []byte("d")}}, DedupIDs: []string{"x"}})
	b := snapshotBytes(t, h.s)
	if b[4] != 3 {
		t.Fatalf("snapshot version %d, want 3", b[4])
	}
	r := NewState()
	if _, err := r.ReadFrom(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotBytes(t, r), b) {
		t.Fatal("restored state writes other bytes")
	}
	h.s = r
	if res := h.txnEnd(1004, open, 0, true); !res.OK {
		t.Fatal("restored half cannot be committed")
	}
	if ds := h.lease(1005, g1, 16, 1000); len(ds) != 4 || ds[1].HalfID != committed || ds[3].HalfID != open {
		t.Fatalf("after restore: %+v", ds)
	}
	res := h.apply(&Enqueue{Header: h.hdr(1006), Messages: []Message{{Body: []byte("d")}}, DedupIDs: []string{"x"}}).(EnqueueResult)
	if res.Count != 0 || res.Dedup.Offsets[0] != 2 {
		t.Fatalf("dedup after restore = %+v %+v", res, res.Dedup)
	}
	// Every cut of the snapshot is refused, never a panic.
	for i := range b {
		if _, err := NewState().ReadFrom(bytes.NewReader(b[:i])); err == nil {
			t.Fatalf("snapshot cut at %d accepted", i)
		}
	}
}

func TestTxn_SnapshotVersion3OnlyWhenNeeded(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "a")
	if b := snapshotBytes(t, h.s); b[4] != 1 {
		t.Fatalf("plain state writes version %d", b[4])
	}
	// A version 3 snapshot of a state without transactional or
	// deduplication state is not canonical.
	b := snapshotBytes(t, h.s)
	b[4] = 3
	b = append(b, 0, 0, 0, 0)
	if _, err := NewState().ReadFrom(bytes.NewReader(b)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("needless version 3: %v", err)
	}
}

func TestDedup_StoredOnceWithinWindow(t *testing.T) {
	h := newHarness(t, normal)
	enq := func(now int64, ids ...string) EnqueueResult {
		msgs := make([]Message, len(ids))
		for i := range msgs {
			msgs[i].Body = []byte(fmt.Sprint(i))
		}
		return h.apply(&Enqueue{Header: h.hdr(now), Messages: msgs, DedupIDs: ids}).(EnqueueResult)
	}
	res := enq(1000, "a", "b", "a", "")
	if res.Count != 3 || res.Dedup.Duplicates != 1 || !reflect.DeepEqual(res.Dedup.Offsets, []uint64{0, 1, 0, 2}) {
		t.Fatalf("first = %+v %+v", res, res.Dedup)
	}
	res = enq(1000+DedupWindowMs-1, "b", "c", "")
	if res.Count != 2 || !reflect.DeepEqual(res.Dedup.Offsets, []uint64{1, 3, 4}) {
		t.Fatalf("retry within the window = %+v %+v", res, res.Dedup)
	}
	res = enq(1000+DedupWindowMs, "a")
	if res.Count != 1 || res.Dedup.Offsets[0] != 5 {
		t.Fatalf("after the window = %+v %+v", res, res.Dedup)
	}
	if got := h.s.Produced(); got != 6 {
		t.Fatalf("Produced = %d, want 6", got)
	}
}

func TestDedup_CapForgetsOldest(t *testing.T) {
	h := newHarness(t, normal)
	h.quiet = true
	ids := make([]string, MaxDedupIDs+1)
	msgs := make([]Message, len(ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
		msgs[i].Body = []byte("x")
	}
	h.apply(&Enqueue{Header: h.hdr(1000), Messages: msgs, DedupIDs: ids})
	if h.s.dedup.len() != MaxDedupIDs {
		t.Fatalf("%d ids remembered, want the cap %d", h.s.dedup.len(), MaxDedupIDs)
	}
	res := h.apply(&Enqueue{Header: h.hdr(1001), Messages: msgs[:2], DedupIDs: []string{ids[MaxDedupIDs], ids[0]}}).(EnqueueResult)
	if res.Count != 1 || res.Dedup.Duplicates != 1 {
		t.Fatalf("the oldest id should be forgotten, the next remembered: %+v %+v", res, res.Dedup)
	}
}

// fuzzTxnSeedState holds a pending half message, a committed one and a
// deduplication id: a snapshot version 3 for FuzzState to start from.
func fuzzTxnSeedState() *State {
	s := NewState()
	h := Header{Now: 1000, Policy: normal}
	open := s.Apply(1, &Enqueue{Header: h, Messages: []Message{{Body: []byte("o")}, {Body: []byte("c")}}, HalfCheckMs: 10}).(EnqueueResult)
	s.Apply(2, &TxnEnd{Header: h, HalfID: open.FirstHalf + 1, Commit: true})
	s.Apply(3, &Enqueue{Header: h, Messages: []Message{{Body: []byte("d")}}, DedupIDs: []string{"x"}})
	return s
}
