package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// A detached state's snapshot (version 4) holds message metadata only. It
// starts with a fixed header, so that a reader can find where the metadata
// ends and which bodies it refers to without parsing it:
//
//	"RMQP" 0x03, uint64 MetaLen, uint64 BodiesFrom, uint64 BodiesEnd (little-endian)
//	MetaLen bytes: the state as in version 2, each message written as
//	    uvarint size, string Tag, string Key, varint DeliverAt
//
// A snapshot sent to another replica is followed by a body section (package
// partition appends it as the snapshot is read, from the body store) that
// carries every body record held in [BodiesFrom, BodiesEnd):
//
//	"RMQB", uint64 source, uint64 count, count × (uint64 offset, uint32 length, uint32 CRC-32C of the payload, payload)
//
// in increasing offset order; source is the ID of the body store the
// records come from. FSM.Restore reads the section only when its own body
// store does not already hold the bodies the state needs, and refuses one
// read from that very store (a local snapshot whose bodies the store lacks:
// replacing the store with itself would empty it).

// SnapshotHeaderLen is the length of a version 4 snapshot's header.
const SnapshotHeaderLen = 5 + 3*8

const (
	sectionMagic     = "RMQB"
	sectionHeaderLen = 4 + 8 + 8
)

// sectionRecordOverhead is the framing of one record in a body section.
const sectionRecordOverhead = 16

// SnapshotHeader is the header of a version 4 snapshot.
type SnapshotHeader struct {
	MetaLen    int64  // bytes of metadata after the header
	BodiesFrom uint64 // the lowest offset whose body the state may deliver
	BodiesEnd  uint64 // the offset after the newest message
}

func (h SnapshotHeader) append(b []byte) []byte {
	b = append(b, snapshotMagic...)
	b = append(b, 4)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.MetaLen))
	b = binary.LittleEndian.AppendUint64(b, h.BodiesFrom)
	return binary.LittleEndian.AppendUint64(b, h.BodiesEnd)
}

// ParseSnapshotHeader reads a version 4 header from the start of b; false
// when b does not start with one (an older snapshot, which holds its bodies).
func ParseSnapshotHeader(b []byte) (SnapshotHeader, bool) {
	if len(b) < SnapshotHeaderLen || string(b[:4]) != snapshotMagic || b[4] != 4 {
		return SnapshotHeader{}, false
	}
	h := SnapshotHeader{
		MetaLen:    int64(binary.LittleEndian.Uint64(b[5:])),
		BodiesFrom: binary.LittleEndian.Uint64(b[13:]),
		BodiesEnd:  binary.LittleEndian.Uint64(b[21:]),
	}
	if h.MetaLen < 0 || h.BodiesFrom > h.BodiesEnd {
		return SnapshotHeader{}, false
	}
	return h, true
}

// BodySectionSize is the length of a body section of count records whose
// payloads add up to payload bytes.
func BodySectionSize(count int, payload int64) int64 {
	return sectionHeaderLen + int64(count)*sectionRecordOverhead + payload
}

// AppendBodySectionHeader appends the start of a body section of count
// records read from the body store source (its ID) to b.
func AppendBodySectionHeader(b []byte, source uint64, count int) []byte {
	b = append(b, sectionMagic...)
	b = binary.LittleEndian.AppendUint64(b, source)
	return binary.LittleEndian.AppendUint64(b, uint64(count))
}

// AppendBodyRecord appends one record of a body section to b.
func AppendBodyRecord(b []byte, off uint64, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, off)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	return append(b, payload...)
}

// maxSectionRecord bounds one record of a body section read from a peer.
const maxSectionRecord = 64 << 20

// readSectionHeader reads the start of a body section: the source store's
// ID and the number of records.
func readSectionHeader(r io.Reader) (source, count uint64, err error) {
	var hdr [sectionHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, 0, fmt.Errorf("no body section")
		}
		return 0, 0, err
	}
	if string(hdr[:4]) != sectionMagic {
		return 0, 0, fmt.Errorf("%w: bad body section magic", ErrCorrupt)
	}
	return binary.LittleEndian.Uint64(hdr[4:]), binary.LittleEndian.Uint64(hdr[12:]), nil
}

// readBodySection reads the count records of a body section (after its
// header) from r and gives each, in order, to put. Offsets must increase
// and lie in [from, end).
func readBodySection(r io.Reader, count, from, end uint64, put func(off uint64, payload []byte) error) error {
	if count > end-from {
		return fmt.Errorf("%w: %d body records for %d offsets", ErrCorrupt, count, end-from)
	}
	table := crc32.MakeTable(crc32.Castagnoli)
	next := from
	var payload []byte
	for range count {
		var rh [sectionRecordOverhead]byte
		if _, err := io.ReadFull(r, rh[:]); err != nil {
			return fmt.Errorf("body section: %w", err)
		}
		off := binary.LittleEndian.Uint64(rh[:])
		n := binary.LittleEndian.Uint32(rh[8:])
		if off < next || off >= end || n > maxSectionRecord {
			return fmt.Errorf("%w: body record %d (%d bytes) out of order", ErrCorrupt, off, n)
		}
		next = off + 1
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return fmt.Errorf("body section: %w", err)
		}
		if crc32.Checksum(payload, table) != binary.LittleEndian.Uint32(rh[12:]) {
			return fmt.Errorf("%w: body record %d checksum", ErrCorrupt, off)
		}
		if err := put(off, payload); err != nil {
			return err
		}
	}
	return nil
}

// bodyFloor is the lowest offset whose body the state may still deliver:
// the oldest retained message's, or an older one a dead letter refers to.
func (s *State) bodyFloor() uint64 {
	lo := s.log.base
	for _, id := range s.order {
		g := s.groups[id]
		for i := range g.dl.len() {
			lo = min(lo, g.dl.nth(i).orig)
		}
	}
	return lo
}

// needsBody calls fn for every offset whose body the state may deliver, in
// increasing order, each once: dead letters' originals below the log's base,
// then every retained message.
func (s *State) needsBody(fn func(off uint64, blob []byte) bool) {
	below := make(map[uint64][]byte)
	for _, id := range s.order {
		g := s.groups[id]
		for i := range g.dl.len() {
			if e := g.dl.nth(i); e.orig < s.log.base {
				below[e.orig] = e.m.blob()
			}
		}
	}
	offs := make([]uint64, 0, len(below))
	for o := range below {
		offs = append(offs, o)
	}
	slices.Sort(offs)
	for _, o := range offs {
		if !fn(o, below[o]) {
			return
		}
	}
	for i := range s.log.len() {
		if !fn(s.log.base+uint64(i), s.log.nth(i).m.blob()) {
			return
		}
	}
}
