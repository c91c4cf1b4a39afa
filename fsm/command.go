package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Type identifies a command in a partition's Raft log. Values are part of the
// on-disk format: append new ones, never renumber or reuse.
type Type uint8

const (
	TypeEnqueue  Type = 1 // append messages to the partition
	TypeLease    Type = 2 // lease ready messages to a consumer group
	TypeAck      Type = 3 // ordered ack: stop at the first failed item
	TypeTick     Type = 4 // housekeeping only: settle expired leases, trim by retention
	TypeForget   Type = 5 // delete a group's state and dead letters
	TypeTxnCheck Type = 6 // hand out half messages due for the producer's check-back
	TypeTxnEnd   Type = 7 // commit or roll back a half message

	// FlagIgnorable marks a command that an older binary may skip instead of
	// halting. Only for commands whose absence cannot change queue contents.
	FlagIgnorable Type = 0x80
)

// String names the type for logs and errors.
func (t Type) String() string {
	switch t {
	case TypeEnqueue:
		return "enqueue"
	case TypeLease:
		return "lease"
	case TypeAck:
		return "ack"
	case TypeTick:
		return "tick"
	case TypeForget:
		return "forget"
	case TypeRedrive:
		return "redrive"
	case TypeExtend:
		return "extend"
	case TypeTxnCheck:
		return "txn_check"
	case TypeTxnEnd:
		return "txn_end"
	}
	return fmt.Sprintf("type(%#02x)", uint8(t))
}

// String names the reason for logs: "none", "status_fail", "expired",
// "already_acked", "superseded", "released".
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonStatusFail:
		return "status_fail"
	case ReasonExpired:
		return "expired"
	case ReasonAlreadyAcked:
		return "already_acked"
	case ReasonSuperseded:
		return "superseded"
	case ReasonReleased:
		return "released"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// encodingVersion is the version byte that follows the type byte. Decode
// refuses any other value: a new body layout must take a new version.
// Enqueue and Lease also have version 2 (encodingVersion2), which Encode
// writes only when a command uses the fields version 1 cannot hold, so that
// every command version 1 can express keeps its version 1 bytes.
const (
	encodingVersion  = 1
	encodingVersion2 = 2
	encodingVersion3 = 3 // Enqueue only: HalfCheckMs and DedupIDs
)

// Command is one entry of a partition's Raft log. It is implemented by
// *Enqueue, *Lease, *Ack, *Tick and *Forget.
type Command interface {
	// Type is the command's type byte.
	Type() Type
	// Hdr gives access to the header every command carries.
	Hdr() *Header
}

var (
	_ Command = (*Enqueue)(nil)
	_ Command = (*Lease)(nil)
	_ Command = (*Ack)(nil)
	_ Command = (*Tick)(nil)
	_ Command = (*Forget)(nil)
	_ Command = (*TxnCheck)(nil)
	_ Command = (*TxnEnd)(nil)
)

func (*Enqueue) Type() Type { return TypeEnqueue }
func (*Lease) Type() Type   { return TypeLease }
func (*Ack) Type() Type     { return TypeAck }
func (*Tick) Type() Type    { return TypeTick }
func (*Forget) Type() Type  { return TypeForget }

func (c *Enqueue) Hdr() *Header { return &c.Header }
func (c *Lease) Hdr() *Header   { return &c.Header }
func (c *Ack) Hdr() *Header     { return &c.Header }
func (c *Tick) Hdr() *Header    { return &c.Header }
func (c *Forget) Hdr() *Header  { return &c.Header }

var (
	// ErrIgnorable is returned by Decode for an unknown command type that
	// carries FlagIgnorable: the replica may skip the entry.
	ErrIgnorable = errors.New("fsm: unknown ignorable command")

	// ErrCorrupt is wrapped by every other Decode (and snapshot restore)
	// failure: the bytes are not a command (or snapshot) this binary
	// understands, and a replica must halt rather than diverge.
	ErrCorrupt = errors.New("fsm: corrupt data")

	// ErrInvalidCommand is wrapped by Encode when a command cannot be
	// represented (nil, an unknown implementation, a negative count).
	ErrInvalidCommand = errors.New("fsm: invalid command")
)

// Encode returns the log entry for c: one byte of type, one byte of version
// (1), then a compact binary body of varints and length-prefixed bytes:
//
//	header:   varint Now, byte policy flags (bit 0: FIFO, bit 1: AckedRetention), byte MaxConsumeCount, varint RetentionMs
//	Enqueue:  header, uvarint n, n × (bytes Body, optional bytes Attributes)
//	Lease:    header, string Group, byte flags (bit 0: DeadLetter), uvarint Max, uvarint MaxBytes, varint AckWaitMs
//	Ack:      header, string Group, byte flags (bit 0: DeadLetter, bit 1: Released), uvarint n, n × (uvarint Offset, uvarint DeliveryID, byte Success)
//	Tick:     header
//	Forget:   header, string Group
//
// Version 2 (only when needed):
//
//	Enqueue:  header, uvarint n, n × (bytes Body, optional bytes Attributes, string Tag, string Key, varint DeliverAt, optional bytes Props)
//	Lease:    as version 1 with flags bit 1: Ordered, then uvarint n, n × string Tag
//
// Version 3 (Enqueue only, when HalfCheckMs or DedupIDs is used):
//
//	Enqueue:  as version 2, then varint HalfCheckMs (≥ 0), uvarint k (0 or n), k × string DedupID
//	          (not both a HalfCheckMs and ids)
//
// Types 6 and 7 (version 1):
//
//	TxnCheck: header, uvarint Max, uvarint MaxBytes
//	TxnEnd:   header, uvarint HalfID, uvarint Gen, byte flags (bit 0: Commit)
//
// A version 2 entry that version 1 could have expressed is refused by
// Decode, so that the encoding stays canonical.
//
// "bytes" and "string" are a uvarint length then the bytes; "optional bytes"
// is a uvarint 0 for nil, or length+1 then the bytes. Varints are
// encoding/binary's (zig-zag for signed). The golden tests freeze it.
func Encode(c Command) ([]byte, error) {
	return AppendEncode(nil, c)
}

// AppendEncode appends the encoding of c (see Encode) to b.
func AppendEncode(b []byte, c Command) ([]byte, error) {
	switch c := c.(type) {
	case *Enqueue:
		if c == nil {
			break
		}
		v3 := c.HalfCheckMs != 0 || len(c.DedupIDs) > 0
		if err := checkEnqueueV3(c); err != nil {
			return nil, err
		}
		v2 := v3 || !plainMessages(c.Messages)
		vb := versionByte(v2)
		if v3 {
			vb = encodingVersion3
		}
		b = append(b, byte(TypeEnqueue), vb)
		b = appendHeader(b, &c.Header)
		b = binary.AppendUvarint(b, uint64(len(c.Messages)))
		for _, m := range c.Messages {
			b = appendBytes(b, m.Body)
			b = appendOptBytes(b, m.Attributes)
			if v2 {
				b = appendBytes(b, []byte(m.Tag))
				b = appendBytes(b, []byte(m.Key))
				b = binary.AppendVarint(b, m.DeliverAt)
				b = appendOptBytes(b, m.Props)
			}
		}
		if v3 {
			b = appendEnqueueV3(b, c)
		}
		return b, nil
	case *Lease:
		if c == nil {
			break
		}
		if c.Max < 0 || c.MaxBytes < 0 {
			return nil, fmt.Errorf("%w: lease: negative max %d or max bytes %d", ErrInvalidCommand, c.Max, c.MaxBytes)
		}
		if !validTags(c.Tags) {
			return nil, fmt.Errorf("%w: lease: tags %q not sorted, unique and non-empty", ErrInvalidCommand, c.Tags)
		}
		v2 := len(c.Tags) > 0 || c.Ordered
		b = append(b, byte(TypeLease), versionByte(v2))
		b = appendHeader(b, &c.Header)
		b = appendBytes(b, []byte(c.Group))
		b = append(b, flagByte(c.DeadLetter, c.Ordered))
		b = binary.AppendUvarint(b, uint64(c.Max))
		b = binary.AppendUvarint(b, uint64(c.MaxBytes))
		b = binary.AppendVarint(b, c.AckWaitMs)
		if v2 {
			b = binary.AppendUvarint(b, uint64(len(c.Tags)))
			for _, t := range c.Tags {
				b = appendBytes(b, []byte(t))
			}
		}
		return b, nil
	case *Ack:
		if c == nil {
			break
		}
		b = append(b, byte(TypeAck), encodingVersion)
		b = appendHeader(b, &c.Header)
		b = appendBytes(b, []byte(c.Group))
		b = append(b, flagByte(c.DeadLetter, c.Released))
		b = binary.AppendUvarint(b, uint64(len(c.Items)))
		for _, it := range c.Items {
			b = binary.AppendUvarint(b, it.Offset)
			b = binary.AppendUvarint(b, it.DeliveryID)
			b = append(b, flagByte(it.Success, false))
		}
		return b, nil
	case *Tick:
		if c == nil {
			break
		}
		b = append(b, byte(TypeTick), encodingVersion)
		b = appendHeader(b, &c.Header)
		return b, nil
	case *Forget:
		if c == nil {
			break
		}
		b = append(b, byte(TypeForget), encodingVersion)
		b = appendHeader(b, &c.Header)
		b = appendBytes(b, []byte(c.Group))
		return b, nil
	case *TxnCheck, *TxnEnd:
		return appendTxn(b, c)
	}
	if out, ok, err := appendLater(b, c); ok {
		return out, err
	}
	return nil, fmt.Errorf("%w: cannot encode %T", ErrInvalidCommand, c)
}

// Decode parses a log entry written by Encode. It never panics. An unknown
// type that carries FlagIgnorable returns ErrIgnorable; any other failure
// (empty, truncated, trailing bytes, unknown type or version, non-minimal
// varints, undefined flag bits) wraps ErrCorrupt. Decode is strict, so
// Encode(Decode(b)) == b for every b it accepts. The decoded messages own
// their bytes: they do not alias b.
func Decode(b []byte) (Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: entry of %d bytes", ErrCorrupt, len(b))
	}
	t, v := Type(b[0]), b[1]
	switch t {
	case TypeEnqueue, TypeLease, TypeAck, TypeTick, TypeForget, TypeRedrive, TypeExtend, TypeTxnCheck, TypeTxnEnd:
	default:
		if t&FlagIgnorable != 0 {
			return nil, fmt.Errorf("%w: type %#02x", ErrIgnorable, uint8(t))
		}
		return nil, fmt.Errorf("%w: unknown command type %#02x", ErrCorrupt, uint8(t))
	}
	v3 := v == encodingVersion3 && t == TypeEnqueue
	v2 := (v == encodingVersion2 && (t == TypeEnqueue || t == TypeLease)) || v3
	if v != encodingVersion && !v2 {
		return nil, fmt.Errorf("%w: %v: unknown version %d", ErrCorrupt, t, v)
	}
	r := &decoder{b: b[2:]}
	var c Command
	switch t {
	case TypeEnqueue:
		e := &Enqueue{}
		r.header(&e.Header)
		// Each message takes at least two bytes, which bounds the
		// allocation whatever the count claims.
		n := r.count(2)
		if n > 0 {
			e.Messages = make([]Message, 0, n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			body := r.bytes()
			attrs, ok := r.optBytes()
			// One allocation per message, so the state never pins the
			// whole entry through one retained message.
			own := make([]byte, len(body)+len(attrs))
			copy(own, body)
			copy(own[len(body):], attrs)
			m := Message{Body: own[:len(body):len(body)]}
			if ok {
				m.Attributes = own[len(body):]
			}
			if v2 {
				m.Tag = string(r.bytes())
				m.Key = string(r.bytes())
				m.DeliverAt = r.varint()
				if p, ok := r.optBytes(); ok {
					m.Props = append(make([]byte, 0, len(p)), p...)
				}
			}
			e.Messages = append(e.Messages, m)
		}
		switch {
		case v3:
			r.enqueueV3(e)
		case v2 && r.err == nil && plainMessages(e.Messages):
			r.fail("version 2 without version 2 fields")
		}
		c = e
	case TypeLease:
		l := &Lease{}
		r.header(&l.Header)
		l.Group = GroupID(r.bytes())
		l.DeadLetter, l.Ordered = r.flags(v2)
		l.Max = r.int()
		l.MaxBytes = r.int()
		l.AckWaitMs = r.varint()
		if v2 {
			n := r.count(1)
			for i := 0; i < n && r.err == nil; i++ {
				l.Tags = append(l.Tags, string(r.bytes()))
			}
			switch {
			case r.err != nil:
			case !validTags(l.Tags):
				r.fail("tags not sorted, unique and non-empty")
			case len(l.Tags) == 0 && !l.Ordered:
				r.fail("version 2 without version 2 fields")
			}
		}
		c = l
	case TypeAck:
		a := &Ack{}
		r.header(&a.Header)
		a.Group = GroupID(r.bytes())
		a.DeadLetter, a.Released = r.flags(true)
		n := r.count(3)
		if n > 0 {
			a.Items = make([]AckItem, 0, n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			var it AckItem
			it.Offset = r.uvarint()
			it.DeliveryID = r.uvarint()
			it.Success, _ = r.flags(false)
			a.Items = append(a.Items, it)
		}
		c = a
	case TypeTick:
		k := &Tick{}
		r.header(&k.Header)
		c = k
	case TypeForget:
		f := &Forget{}
		r.header(&f.Header)
		f.Group = GroupID(r.bytes())
		c = f
	case TypeTxnCheck, TypeTxnEnd:
		c = r.txn(t)
	default: // the commands of redrive.go
		c = decodeLater(t, r)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrCorrupt, t, r.err)
	}
	return c, nil
}

func versionByte(v2 bool) byte {
	if v2 {
		return encodingVersion2
	}
	return encodingVersion
}

func plainMessages(ms []Message) bool {
	for _, m := range ms {
		if !m.plain() {
			return false
		}
	}
	return true
}

// validTags reports whether tags are sorted, unique and non-empty strings.
func validTags(tags []string) bool {
	for i, t := range tags {
		if t == "" || (i > 0 && tags[i-1] >= t) {
			return false
		}
	}
	return true
}

func appendHeader(b []byte, h *Header) []byte {
	b = binary.AppendVarint(b, h.Now)
	b = append(b, flagByte(h.Policy.FIFO, h.Policy.AckedRetention), h.Policy.MaxConsumeCount)
	return binary.AppendVarint(b, h.Policy.RetentionMs)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// appendOptBytes keeps nil apart from empty: 0 is nil, n+1 is n bytes.
func appendOptBytes(b, p []byte) []byte {
	if p == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(p))+1)
	return append(b, p...)
}

func flagByte(b0, b1 bool) byte {
	var f byte
	if b0 {
		f |= 1
	}
	if b1 {
		f |= 2
	}
	return f
}

// uvarintLen is the length of the minimal encoding of v.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// decoder reads a strict binary body. The first failure sticks; later reads
// return zero values, so callers check err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (r *decoder) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *decoder) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	switch {
	case n == 0:
		r.fail("truncated varint")
		return 0
	case n < 0:
		r.fail("varint overflows 64 bits")
		return 0
	case n != uvarintLen(v):
		r.fail("non-minimal varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *decoder) varint() int64 {
	u := r.uvarint()
	// Zig-zag, as encoding/binary.AppendVarint writes it.
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// int reads a uvarint that must fit an int.
func (r *decoder) int() int {
	v := r.uvarint()
	if v > math.MaxInt {
		r.fail("value %d out of range", v)
		return 0
	}
	return int(v)
}

// count reads an element count, refusing one that the remaining bytes
// cannot hold at minSize bytes per element.
func (r *decoder) count(minSize int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v > uint64(len(r.b)/minSize) {
		r.fail("count %d exceeds the %d remaining bytes", v, len(r.b))
		return 0
	}
	return int(v)
}

func (r *decoder) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// flags reads a flag byte with bit 0, and bit 1 when two is set; any other
// bit set is corruption.
func (r *decoder) flags(two bool) (bool, bool) {
	f := r.byte()
	allowed := byte(1)
	if two {
		allowed = 3
	}
	if f&^allowed != 0 {
		r.fail("undefined flag bits %#02x", f)
		return false, false
	}
	return f&1 != 0, f&2 != 0
}

// bytes reads a length-prefixed byte string; the result aliases the input.
func (r *decoder) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("length %d exceeds the %d remaining bytes", n, len(r.b))
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// optBytes reads what appendOptBytes wrote; ok is false for nil.
func (r *decoder) optBytes() (p []byte, ok bool) {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil, false
	}
	n--
	if n > uint64(len(r.b)) {
		r.fail("length %d exceeds the %d remaining bytes", n, len(r.b))
		return nil, false
	}
	p = r.b[:n:n]
	r.b = r.b[n:]
	return p, true
}

func (r *decoder) header(h *Header) {
	h.Now = r.varint()
	h.Policy.FIFO, h.Policy.AckedRetention = r.flags(true)
	h.Policy.MaxConsumeCount = r.byte()
	h.Policy.RetentionMs = r.varint()
}
