package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/hashicorp/raft"
)

// segMagic opens every segment; the version is its last byte.
const segMagic = "RAFTMQW1"

const (
	segHeaderLen = 16 // magic, segment number u32, next group number u32
	frameHeadLen = 9  // crc, payload length, kind
	// maxPayload bounds one frame: a length beyond it is damage, not data.
	maxPayload = 64 << 20
)

type kind byte

const (
	kindDefine kind = iota + 1 // group u32, name
	kindEntry                  // group u32, entry
	kindMoved                  // group u32, entry copied forward by reclamation
	kindPrefix                 // group u32, new first index u64 (entries below it are gone)
	kindSuffix                 // group u32, index u64 (entries from it on are gone)
	kindStable                 // group u32, key length u16, key, value
	kindDrop                   // group u32
	kindBatch                  // group 0, length u64 of the whole write this frame opens
)

// batchHeadLen is the length of the batch frame that opens every write.
const batchHeadLen = frameHeadLen + 12

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entryFixed is the payload of an entry frame before its extensions and
// data: group, index, term, type, appended-at (unix ns), extensions length.
const entryFixed = 4 + 8 + 8 + 1 + 8 + 2

// appendFrame appends one frame of kind k whose payload is written by body
// (which must append exactly n bytes) and seals it with its checksum.
func appendFrame(b []byte, k kind, n int, body func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, byte(k))
	b = body(b)
	binary.LittleEndian.PutUint32(b[start:], crc32.Checksum(b[start+4:], castagnoli))
	return b
}

func appendEntry(b []byte, k kind, group uint32, l *raft.Log) []byte {
	n := entryFixed + len(l.Extensions) + len(l.Data)
	return appendFrame(b, k, n, func(b []byte) []byte {
		le := binary.LittleEndian
		b = le.AppendUint32(b, group)
		b = le.AppendUint64(b, l.Index)
		b = le.AppendUint64(b, l.Term)
		b = append(b, byte(l.Type))
		var at int64
		if !l.AppendedAt.IsZero() {
			at = l.AppendedAt.UnixNano()
		}
		b = le.AppendUint64(b, uint64(at))
		b = le.AppendUint16(b, uint16(len(l.Extensions)))
		b = append(b, l.Extensions...)
		return append(b, l.Data...)
	})
}

func appendDefine(b []byte, group uint32, name string) []byte {
	return appendFrame(b, kindDefine, 4+len(name), func(b []byte) []byte {
		return append(binary.LittleEndian.AppendUint32(b, group), name...)
	})
}

func appendIndexOp(b []byte, k kind, group uint32, idx uint64) []byte {
	return appendFrame(b, k, 12, func(b []byte) []byte {
		return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint32(b, group), idx)
	})
}

func appendStable(b []byte, group uint32, key, val []byte) []byte {
	return appendFrame(b, kindStable, 4+2+len(key)+len(val), func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint32(b, group)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(key)))
		return append(append(b, key...), val...)
	})
}

// putBatch writes, at the start of b (batchHeadLen bytes reserved), the
// frame that opens a write of len(b) bytes. Recovery uses it to tell a torn
// write (the last write is incomplete) from damage to a complete one.
func putBatch(b []byte) {
	total := uint64(len(b))
	appendFrame(b[:0], kindBatch, 12, func(x []byte) []byte {
		return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint32(x, 0), total)
	})
}

func appendDrop(b []byte, group uint32) []byte {
	return appendFrame(b, kindDrop, 4, func(b []byte) []byte {
		return binary.LittleEndian.AppendUint32(b, group)
	})
}

// errFrame is a frame that cannot be read: short, too long, a checksum that
// does not match, or a payload that does not fit its kind.
var errFrame = errors.New("bad frame")

// errChecksum is a frame whose checksum does not match its bytes.
var errChecksum = fmt.Errorf("%w: fails its checksum", errFrame)

// frame is one decoded frame header; payload aliases the buffer it was read
// from.
type frame struct {
	kind    kind
	group   uint32
	payload []byte // after the group number
}

// parseFrame reads the frame at the start of b and returns it with its
// length on disk. errFrame covers every way a frame can be damaged or torn.
func parseFrame(b []byte) (frame, int, error) {
	if len(b) < frameHeadLen {
		return frame{}, 0, errFrame
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if n > maxPayload || int(n) > len(b)-frameHeadLen || n < 4 {
		return frame{}, 0, errFrame
	}
	total := frameHeadLen + int(n)
	if crc32.Checksum(b[4:total], castagnoli) != binary.LittleEndian.Uint32(b) {
		return frame{}, 0, errChecksum
	}
	p := b[frameHeadLen:total]
	f := frame{kind: kind(b[8]), group: binary.LittleEndian.Uint32(p), payload: p[4:]}
	if err := f.check(); err != nil {
		return frame{}, 0, err
	}
	return f, total, nil
}

// check verifies that the payload fits the frame's kind.
func (f frame) check() error {
	p := f.payload
	ok := false
	switch f.kind {
	case kindDefine:
		ok = len(p) > 0
	case kindEntry, kindMoved:
		ok = len(p) >= entryFixed-4 && len(p) >= entryFixed-4+int(binary.LittleEndian.Uint16(p[25:]))
	case kindPrefix, kindSuffix:
		ok = len(p) == 8
	case kindStable:
		ok = len(p) >= 2 && len(p) >= 2+int(binary.LittleEndian.Uint16(p))
	case kindDrop:
		ok = len(p) == 0
	case kindBatch:
		ok = len(p) == 8
	}
	if !ok {
		return fmt.Errorf("%w: kind %d with a %d-byte payload", errFrame, f.kind, len(p))
	}
	return nil
}

// decodeEntry fills l from an entry frame, copying what it keeps.
func (f frame) decodeEntry(l *raft.Log) {
	p := f.payload
	le := binary.LittleEndian
	l.Index = le.Uint64(p)
	l.Term = le.Uint64(p[8:])
	l.Type = raft.LogType(p[16])
	l.AppendedAt = timeFromUnixNano(int64(le.Uint64(p[17:])))
	nExt := int(le.Uint16(p[25:]))
	rest := p[27:]
	l.Extensions = nil
	if nExt > 0 {
		l.Extensions = append([]byte(nil), rest[:nExt]...)
	}
	l.Data = append([]byte(nil), rest[nExt:]...)
}

// index is the Raft index an entry, moved or truncation frame names.
func (f frame) index() uint64 { return binary.LittleEndian.Uint64(f.payload) }

func (f frame) stable() (key, val []byte) {
	n := int(binary.LittleEndian.Uint16(f.payload))
	return f.payload[2 : 2+n], f.payload[2+n:]
}
