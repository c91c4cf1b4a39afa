package fsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

// goldenV2 freezes the version 2 encodings of Enqueue and Lease (RocketMQ
// additions); the version 1 lines of golden must keep their bytes.
var goldenV2 = []struct {
	name string
	cmd  Command
	hex  string
}{
	{
		name: "enqueue v2",
		cmd: &Enqueue{Header: goldenHeader, Messages: []Message{
			{Body: []byte(`"hi"`), Tag: "A", Key: "k", DeliverAt: 1700000060000, Props: []byte("KEYS:x|")},
			{Body: []byte(`1`)},
		}},
		// type, version 2, header, 2 messages: body "hi", no attrs, tag A,
		// key k, deliver at, props; body 1, no attrs, empty tag and key, 0, nil props.
		hex: "01" + "02" + "f6a1abfef96201" + "03" + "80d098f701" + "02" +
			"0422686922" + "00" + "0141" + "016b" + "c0c9b2fef962" + "084b4559533a787c" +
			"0131" + "00" + "00" + "00" + "00" + "00",
	},
	{
		name: "lease v2",
		cmd:  &Lease{Header: goldenHeader, Group: "g-1", Max: 16, MaxBytes: MaxLeaseBytes, AckWaitMs: 300000, Tags: []string{"A", "B"}, Ordered: true},
		hex:  "02" + "02" + "f6a1abfef96201" + "03" + "80d098f701" + "03672d31" + "02" + "10" + "808020" + "c0cf24" + "02" + "0141" + "0142",
	},
}

func TestCommand_GoldenBytesV2(t *testing.T) {
	for _, tt := range goldenV2 {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.cmd)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if hex.EncodeToString(got) != tt.hex {
				t.Fatalf("Encode = %x\n           want %s", got, tt.hex)
			}
			back, err := Decode(got)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(back, tt.cmd) {
				t.Fatalf("Decode = %+v\n     want %+v", back, tt.cmd)
			}
		})
	}
}

func TestCommand_V2RefusedWhenV1Suffices(t *testing.T) {
	for _, c := range []Command{
		&Enqueue{Header: goldenHeader, Messages: []Message{{Body: []byte(`1`)}}},
		&Lease{Header: goldenHeader, Group: "g", Max: 1},
	} {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if b[1] != 1 {
			t.Fatalf("%T encoded as version %d, want 1", c, b[1])
		}
	}
	// A version 2 lease with no tags and not ordered is not canonical.
	b := []byte{0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 'g', 0x00, 0x01, 0x00, 0x00, 0x00}
	if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Decode non-canonical v2 lease: %v, want ErrCorrupt", err)
	}
	if _, err := Encode(&Lease{Tags: []string{"B", "A"}}); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("Encode unsorted tags: %v", err)
	}
}

func (h *harness) put(now int64, msgs ...Message) EnqueueResult {
	h.t.Helper()
	return h.apply(&Enqueue{Header: h.hdr(now), Messages: msgs}).(EnqueueResult)
}

func TestState_TagFilterSettlesOtherTags(t *testing.T) {
	h := newHarness(t, Policy{})
	h.put(1000, Message{Body: []byte(`1`), Tag: "A"}, Message{Body: []byte(`2`), Tag: "B"},
		Message{Body: []byte(`3`)}, Message{Body: []byte(`4`), Tag: "C"}, Message{Body: []byte(`5`), Tag: "A"})
	ds := h.leaseC(&Lease{Header: h.hdr(1001), Group: "g", Max: 16, MaxBytes: MaxLeaseBytes, AckWaitMs: 1000, Tags: []string{"A", "B"}})
	wantOffs(t, "filtered lease", ds, 0, 1, 4)
	// Untagged and C count as consumed for g; the others are in flight.
	h.wantStats("g", GroupStats{Produced: 5, Consumed: 2, Available: 3})
	// Another group without a filter sees everything.
	wantOffs(t, "other group", h.lease(1002, "h", 16, 1000), 0, 1, 2, 3, 4)
	// A redelivery of a message that no longer matches is settled, not delivered.
	if h.s.Ready("g", ReadyQuery{Now: 1002, Tags: []string{"A"}}) {
		t.Fatal("ready with everything in flight")
	}
	h.tick(3000) // leases expire
	ds = h.leaseC(&Lease{Header: h.hdr(3001), Group: "g", Max: 16, MaxBytes: MaxLeaseBytes, AckWaitMs: 1000, Tags: []string{"A"}})
	wantOffs(t, "redelivery under a narrower filter", ds, 0, 4)
	h.wantStats("g", GroupStats{Produced: 5, Consumed: 3, Available: 2})
}

func TestState_DelayedDeliveryWaitsForDeliverAt(t *testing.T) {
	for _, pol := range []Policy{{}, {FIFO: true}} {
		h := newHarness(t, pol)
		h.put(1000, Message{Body: []byte(`1`), DeliverAt: 5000}, Message{Body: []byte(`2`)})
		ds := h.lease(1001, "g", 16, 10000)
		if pol.FIFO {
			wantOffs(t, "fifo before due", ds)
		} else {
			wantOffs(t, "before due", ds, 1)
		}
		if at, ok := h.s.NextDue("g"); !ok || at != 5000 {
			t.Fatalf("NextDue = %d %v, want 5000", at, ok)
		}
		if h.s.Ready("g", ReadyQuery{Now: 4999, Policy: pol}) {
			t.Fatal("ready before due")
		}
		if !h.s.Ready("g", ReadyQuery{Now: 5000, Policy: pol}) {
			t.Fatal("not ready when due")
		}
		// Restored from a snapshot, the delay holds.
		var buf bytes.Buffer
		if _, err := h.s.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		r := NewState()
		if _, err := r.ReadFrom(&buf); err != nil {
			t.Fatal(err)
		}
		h.s = r
		wantOffs(t, "still before due", h.lease(4999, "g", 16, 1000))
		ds = h.lease(5000, "g", 16, 1000)
		if pol.FIFO {
			wantOffs(t, "fifo when due", ds, 0, 1)
		} else {
			wantOffs(t, "when due", ds, 0)
		}
	}
}

func TestState_OrderedLeaseOneMessagePerKey(t *testing.T) {
	h := newHarness(t, Policy{})
	h.put(1000,
		Message{Body: []byte(`a1`), Key: "a"}, Message{Body: []byte(`a2`), Key: "a"},
		Message{Body: []byte(`b1`), Key: "b"}, Message{Body: []byte(`a3`), Key: "a"}, Message{Body: []byte(`b2`), Key: "b"})
	ord := func(now int64) []Delivery {
		return h.leaseC(&Lease{Header: h.hdr(now), Group: "g", Max: 16, MaxBytes: MaxLeaseBytes, AckWaitMs: 1000, Ordered: true})
	}
	first := ord(1001)
	wantOffs(t, "first ordered lease", first, 0, 2)
	wantOffs(t, "blocked keys", ord(1002))
	if h.s.Ready("g", ReadyQuery{Now: 1002, Ordered: true}) {
		t.Fatal("ready while every key is blocked")
	}
	h.ack(1003, "g", okItem(first[0]))
	wantOffs(t, "after a1", ord(1004), 1)
	// b1 and a2 expire: they come again, before b2 and a3.
	h.tick(2500)
	wantOffs(t, "b1 and a2 again", ord(2501), 1, 2)
}
