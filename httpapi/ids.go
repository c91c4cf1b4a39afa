package httpapi

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// uuidLen is the length of a UUID in its canonical text form,
// 8-4-4-4-12 hex digits.
const uuidLen = 36

// groupIDPrefix starts every consumer group id of the catalogue.
const groupIDPrefix = "g-"

// parseUUID reads a UUID in canonical text form (either case). Queue and
// group ids are UUIDs; anything else cannot name one.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != uuidLen || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	var compact [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		compact[n] = s[i]
		n++
	}
	if _, err := hex.Decode(u[:], compact[:]); err != nil {
		return [16]byte{}, false
	}
	return u, true
}

// formatUUID writes u in canonical lower-case text form.
func formatUUID(u [16]byte) string {
	var b [uuidLen]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// parseGroupID reads a catalogue group id, "g-<uuid>".
func parseGroupID(s string) (u [16]byte, ok bool) {
	rest, found := strings.CutPrefix(s, groupIDPrefix)
	if !found {
		return u, false
	}
	return parseUUID(rest)
}

// messageID formats the id of a produced message: the id DMS returns with
// returnId and, later, the RocketMQ MessageId. It is 32 upper-case hex digits:
// the first 8 bytes of the queue's UUID, the partition index (2 bytes) and the
// offset (6 bytes). Within one queue it is unique and stable; across queues it
// is unique with the probability of 60 random UUID bits colliding. Partition
// indexes above 65535 and offsets above 2^48 wrap, far beyond what a queue
// reaches.
func messageID(queueID [16]byte, partition int, offset uint64) string {
	var b [16]byte
	copy(b[0:8], queueID[0:8])
	binary.BigEndian.PutUint16(b[8:10], uint16(partition))
	var off [8]byte
	binary.BigEndian.PutUint64(off[:], offset)
	copy(b[10:16], off[2:8])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
