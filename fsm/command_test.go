package fsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"testing"
)

var goldenHeader = Header{Now: 1700000000123, Policy: Policy{FIFO: true, MaxConsumeCount: 3, RetentionMs: 259200000}}

// golden freezes the log format: every line here must keep decoding to the
// same command for as long as a log written by an older binary may exist.
var golden = []struct {
	name string
	cmd  Command
	hex  string
}{
	{
		name: "enqueue",
		cmd: &Enqueue{Header: goldenHeader, Messages: []Message{
			{Body: []byte(`"hi"`)},
			{Body: []byte(`{}`), Attributes: []byte(`{"a":1}`)},
			{Body: []byte(`1`), Attributes: []byte{}},
		}},
		// type, version, now, flags, max consume, retention, 3 messages:
		// body "hi" no attrs; body {} attrs {"a":1}; body 1 empty attrs.
		hex: "01" + "01" + "f6a1abfef96201" + "03" + "80d098f701" + "03" +
			"0422686922" + "00" + "027b7d" + "08" + "7b2261223a317d" + "0131" + "01",
	},
	{
		name: "lease",
		cmd:  &Lease{Header: goldenHeader, Group: "g-1", Max: 10, MaxBytes: MaxLeaseBytes, AckWaitMs: 30000, DeadLetter: true},
		hex:  "02" + "01" + "f6a1abfef96201" + "03" + "80d098f701" + "03672d31" + "01" + "0a" + "808020" + "e0d403",
	},
	{
		name: "ack",
		cmd: &Ack{Header: goldenHeader, Group: "g-1", Released: true, Items: []AckItem{
			{Offset: 0, DeliveryID: 300, Success: true},
			{Offset: 129, DeliveryID: 301},
		}},
		hex: "03" + "01" + "f6a1abfef96201" + "03" + "80d098f701" + "03672d31" + "02" + "02" + "00ac0201" + "8101ad0200",
	},
	{
		name: "tick",
		cmd:  &Tick{Header: Header{Now: -1}},
		hex:  "04" + "01" + "01" + "00" + "00" + "00",
	},
	{
		name: "tick acked retention",
		cmd:  &Tick{Header: Header{Now: -1, Policy: Policy{AckedRetention: true}}},
		hex:  "04" + "01" + "01" + "02" + "00" + "00",
	},
	{
		name: "forget",
		cmd:  &Forget{Header: goldenHeader, Group: "g-1"},
		hex:  "05" + "01" + "f6a1abfef96201" + "03" + "80d098f701" + "03672d31",
	},
}

func TestCommand_GoldenBytes(t *testing.T) {
	for _, tt := range golden {
		t.Run(tt.name, func(t *testing.T) {
			want, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Encode(tt.cmd)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode = %x\n           want %x", got, want)
			}
			back, err := Decode(want)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(back, tt.cmd) {
				t.Fatalf("Decode = %+v\n     want %+v", back, tt.cmd)
			}
			if back.Type() != tt.cmd.Type() || *back.Hdr() != *tt.cmd.Hdr() {
				t.Fatalf("type or header differ: %v %+v", back.Type(), *back.Hdr())
			}
		})
	}
}

func TestCommand_RoundTripExtremes(t *testing.T) {
	hdr := Header{Now: math.MinInt64, Policy: Policy{MaxConsumeCount: 255, RetentionMs: math.MaxInt64}}
	cmds := []Command{
		&Enqueue{Header: hdr},
		&Enqueue{Header: hdr, Messages: []Message{{Body: []byte{}}, {Body: bytes.Repeat([]byte("x"), 70000), Attributes: []byte("{}")}}},
		&Lease{Header: hdr, Group: "", Max: math.MaxInt, MaxBytes: 0, AckWaitMs: math.MinInt64},
		&Ack{Header: hdr, Group: GroupID(bytes.Repeat([]byte("g"), 300)), Items: []AckItem{{Offset: math.MaxUint64, DeliveryID: math.MaxUint64, Success: true}}},
		&Ack{Header: hdr, DeadLetter: true},
		&Tick{Header: Header{Now: math.MaxInt64}},
		&Forget{},
	}
	for _, c := range cmds {
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("Encode %T: %v", c, err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode %T: %v", c, err)
		}
		b2, err := Encode(d)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%T does not round-trip: %v", c, err)
		}
	}
}

func TestCommand_DecodeOwnsItsBytes(t *testing.T) {
	b, _ := Encode(&Enqueue{Messages: []Message{{Body: []byte("abc"), Attributes: []byte("{}")}}})
	c, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	m := c.(*Enqueue).Messages[0]
	if string(m.Body) != "abc" || string(m.Attributes) != "{}" {
		t.Fatalf("message changed with the entry: %q %q", m.Body, m.Attributes)
	}
	if cap(m.Body) != len(m.Body) {
		t.Fatal("appending to Body would overwrite Attributes")
	}
}

func TestCommand_EncodeRefusesInvalid(t *testing.T) {
	var nilLease *Lease
	for _, c := range []Command{nil, nilLease, &Lease{Max: -1}, &Lease{MaxBytes: -1}, otherCommand{}} {
		if _, err := Encode(c); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("Encode(%#v) error = %v, want ErrInvalidCommand", c, err)
		}
	}
}

type otherCommand struct{}

func (otherCommand) Type() Type   { return 9 }
func (otherCommand) Hdr() *Header { return &Header{} }

func TestCommand_DecodeErrors(t *testing.T) {
	mustHex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tick := mustHex("040101000000")
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"type only", []byte{4}, ErrCorrupt},
		{"unknown type", mustHex("0901"), ErrCorrupt},
		{"zero type", mustHex("0001000000"), ErrCorrupt},
		{"ignorable unknown type", mustHex("8901ffff"), ErrIgnorable},
		{"ignorable bit on a known type", mustHex("8101"), ErrIgnorable},
		{"unknown version", mustHex("040201000000"), ErrCorrupt},
		{"truncated header", tick[:5], ErrCorrupt},
		{"trailing byte", append(bytes.Clone(tick), 0), ErrCorrupt},
		{"undefined policy flag", mustHex("040101040000"), ErrCorrupt},
		{"non-minimal varint", mustHex("04018000000000"), ErrCorrupt},
		{"varint overflow", mustHex("0401ffffffffffffffffff7f000000"), ErrCorrupt},
		{"enqueue count beyond the bytes", mustHex("010100000000" + "05" + "0000"), ErrCorrupt},
		{"enqueue body beyond the bytes", mustHex("010100000000" + "01" + "0561" + "00"), ErrCorrupt},
		{"enqueue attrs beyond the bytes", mustHex("010100000000" + "01" + "0161" + "05"), ErrCorrupt},
		{"lease flag bit 1", mustHex("020100000000" + "0167" + "02" + "01" + "01" + "00"), ErrCorrupt},
		{"lease huge max", mustHex("020100000000" + "0167" + "00" + "ffffffffffffffffff01" + "01" + "00"), ErrCorrupt},
		{"ack success byte 2", mustHex("030100000000" + "0167" + "00" + "01" + "000102"), ErrCorrupt},
		{"ack undefined flags", mustHex("030100000000" + "0167" + "04" + "00"), ErrCorrupt},
		{"ack items truncated", mustHex("030100000000" + "0167" + "00" + "02" + "000101"), ErrCorrupt},
		{"forget group truncated", mustHex("050100000000" + "0367"), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decode(tt.in)
			if !errors.Is(err, tt.want) || c != nil {
				t.Fatalf("Decode(%x) = %v, %v; want error %v", tt.in, c, err, tt.want)
			}
			if tt.want == ErrIgnorable && errors.Is(err, ErrCorrupt) {
				t.Fatal("ignorable error also corrupt")
			}
		})
	}
}

func TestCommand_ReasonString(t *testing.T) {
	want := []string{"none", "status_fail", "expired", "already_acked", "superseded", "released", "reason(6)"}
	for i, w := range want {
		if got := Reason(i).String(); got != w {
			t.Errorf("Reason(%d).String() = %q, want %q", i, got, w)
		}
	}
}

func TestCommand_TypeString(t *testing.T) {
	for typ, want := range map[Type]string{TypeEnqueue: "enqueue", TypeLease: "lease", TypeAck: "ack", TypeTick: "tick", TypeForget: "forget", 0x89: "type(0x89)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint8(typ), got, want)
		}
	}
}
