package fsm

import (
	"encoding/binary"
	"fmt"
)

// meta is what the state keeps of a retained message or dead letter: what a
// Lease decides by (tag, key, due time, size), and the body itself (Body,
// Attributes and Props, as EncodeBody writes them) only while the state
// keeps bodies in memory.
//
// A detached state (NewDetachedState) keeps no blob: the bodies are records
// of a BodyStore, keyed by the message's offset, and a Lease returns
// deliveries whose Body, Attributes and Props are nil for the caller to fill
// (FSM.FillBodies). Only after a failed body write does a detached state
// hold a blob (see FSM).
//
// It is 24 bytes: what most messages need (a DMS message has no tag, key or
// blob in a detached state) is inline, the rest behind one pointer.
type meta struct {
	deliverAt int64
	size      uint32   // len(Body) + len(Attributes)
	ext       *metaExt // nil when there is no tag, no key and no blob
}

type metaExt struct {
	tag, key string
	blob     []byte // EncodeBody of the message; nil when its body is in the BodyStore
}

func newMeta(m Message, inline bool) meta {
	me := meta{deliverAt: m.DeliverAt, size: uint32(m.Size())}
	var blob []byte
	if inline {
		blob = EncodeBody(m)
	}
	me.set(m.Tag, m.Key, blob)
	return me
}

func (me *meta) set(tag, key string, blob []byte) {
	if tag == "" && key == "" && blob == nil {
		me.ext = nil
		return
	}
	me.ext = &metaExt{tag: tag, key: key, blob: blob}
}

func (me *meta) tag() string {
	if me.ext == nil {
		return ""
	}
	return me.ext.tag
}

func (me *meta) key() string {
	if me.ext == nil {
		return ""
	}
	return me.ext.key
}

func (me *meta) blob() []byte {
	if me.ext == nil {
		return nil
	}
	return me.ext.blob
}

// setBlob keeps (or, with nil, drops) the message's body in memory.
func (me *meta) setBlob(b []byte) { me.set(me.tag(), me.key(), b) }

// message is the message as a Lease returns it: complete when the blob is
// held, without Body, Attributes and Props otherwise.
func (me *meta) message() Message {
	m := Message{Tag: me.tag(), Key: me.key(), DeliverAt: me.deliverAt}
	if b := me.blob(); b != nil {
		// The blob was encoded by EncodeBody: it decodes.
		_ = DecodeBody(b, &m)
	}
	return m
}

// plain reports whether the message uses none of the version 2 fields.
func (me *meta) plain() bool {
	m := me.message()
	return m.plain()
}

// EncodeBody returns what a BodyStore record holds for m: uvarint len(Body),
// uvarint len(Attributes)+1 (0 for nil), uvarint len(Props)+1 (0 for nil),
// then Body, Attributes and Props.
func EncodeBody(m Message) []byte {
	b := make([]byte, 0, 3*binary.MaxVarintLen32+len(m.Body)+len(m.Attributes)+len(m.Props))
	b = binary.AppendUvarint(b, uint64(len(m.Body)))
	b = binary.AppendUvarint(b, optLen(m.Attributes))
	b = binary.AppendUvarint(b, optLen(m.Props))
	b = append(b, m.Body...)
	b = append(b, m.Attributes...)
	return append(b, m.Props...)
}

func optLen(p []byte) uint64 {
	if p == nil {
		return 0
	}
	return uint64(len(p)) + 1
}

// DecodeBody sets m's Body (never nil), Attributes and Props from a record
// written by EncodeBody. They share p's array, each capped at its length.
func DecodeBody(p []byte, m *Message) error {
	r := &decoder{b: p}
	nb, na, np := r.uvarint(), r.uvarint(), r.uvarint()
	if r.err != nil {
		return fmt.Errorf("%w: body record: %v", ErrCorrupt, r.err)
	}
	rest := r.b
	need := nb + max(na, 1) - 1 + max(np, 1) - 1
	if nb > uint64(len(rest)) || na > uint64(len(rest))+1 || np > uint64(len(rest))+1 || need != uint64(len(rest)) {
		return fmt.Errorf("%w: body record lengths %d/%d/%d over %d bytes", ErrCorrupt, nb, na, np, len(rest))
	}
	m.Body = rest[:nb:nb]
	if m.Body == nil {
		m.Body = []byte{}
	}
	rest = rest[nb:]
	m.Attributes, rest = optPart(rest, na)
	m.Props, _ = optPart(rest, np)
	return nil
}

func optPart(p []byte, n uint64) ([]byte, []byte) {
	if n == 0 {
		return nil, p
	}
	n--
	return p[:n:n], p[n:]
}
