package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// This file is the handler codec: what DMS calls a message "handler" and
// RocketMQ a "ReceiptHandle". A handler names one delivery (queue, partition,
// group, offset, delivery id) and the door it came through; it is signed
// with the cluster's handler key so that the HTTP layer can refuse a forged
// or malformed one without touching Raft. Whether the delivery is still the
// live one (not expired, not acknowledged, not superseded) is for the state
// machine to say, never for this codec.

// receiptKind is the door a handler was minted for. A handler is only
// accepted by the door that minted it. Values are part of the wire format:
// append, never renumber.
type receiptKind uint8

const (
	kindDMS           receiptKind = 1 // DMS consume, acked by .../ack
	kindDMSDeadLetter receiptKind = 2 // DMS dead-letter consume, acked by .../deadletters/ack
	kindRocketMQ      receiptKind = 3 // RocketMQ ReceiptHandle (reserved for the RocketMQ door)
	kindTransaction   receiptKind = 4 // RocketMQ half message: offset is its HalfID, delivery id its generation
)

func (k receiptKind) known() bool { return k >= kindDMS && k <= kindTransaction }

// receipt is the decoded content of a handler.
type receipt struct {
	kind       receiptKind
	queue      [16]byte // the queue's UUID
	group      [16]byte // the UUID of the group's catalogue id "g-<uuid>"
	partition  uint32   // index of the partition within the queue
	offset     uint64   // message offset, or dead-letter sequence
	deliveryID uint64   // the delivery the handler was minted for
	expiresAt  int64    // unix ms: the lease ends (informational; the state machine decides)
}

// Handler wire format, version 1, before base64url without padding:
//
//	[0]      version (1)
//	[1]      kind
//	[2:18]   queue UUID
//	[18:34]  group UUID
//	[34:38]  partition, big endian
//	[38:46]  offset, big endian
//	[46:54]  delivery id, big endian
//	[54:62]  expiry, unix ms, big endian
//	[62:78]  HMAC-SHA256(key, receiptMACContext || bytes[0:62]), first 16 bytes
const (
	receiptVersion    = 1
	receiptPayloadLen = 62
	receiptTagLen     = 16
	receiptLen        = receiptPayloadLen + receiptTagLen
	// maxHandlerLen is the longest handler API.md allows. Ours are always
	// receiptTextLen characters long.
	maxHandlerLen = 256
)

// receiptTextLen is the length of an encoded handler: base64 without
// padding takes 4 characters per 3 bytes, rounded up.
const receiptTextLen = (receiptLen*8 + 5) / 6

// receiptMACContext separates handler tags from any other use of the key.
const receiptMACContext = "raftmq handler v1\x00"

// receiptEncoding is strict so that every handler has exactly one text form:
// a flipped padding bit is a different, invalid handler.
var receiptEncoding = base64.RawURLEncoding.Strict()

// errHandlerInvalid reports a handler that is malformed, oversized, of an
// unknown version or kind, or whose tag does not verify.
var errHandlerInvalid = errors.New("httpapi: handler invalid")

// encode returns r's text form, signed with key.
func (r receipt) encode(key []byte) string {
	var b [receiptLen]byte
	b[0] = receiptVersion
	b[1] = byte(r.kind)
	copy(b[2:18], r.queue[:])
	copy(b[18:34], r.group[:])
	binary.BigEndian.PutUint32(b[34:38], r.partition)
	binary.BigEndian.PutUint64(b[38:46], r.offset)
	binary.BigEndian.PutUint64(b[46:54], r.deliveryID)
	binary.BigEndian.PutUint64(b[54:62], uint64(r.expiresAt))
	tag := receiptTag(key, b[:receiptPayloadLen])
	copy(b[receiptPayloadLen:], tag[:receiptTagLen])
	return receiptEncoding.EncodeToString(b[:])
}

// parseReceipt decodes and verifies a handler. It rejects, with an error
// wrapping errHandlerInvalid, anything it did not mint under key itself.
func parseReceipt(key []byte, s string) (receipt, error) {
	if len(s) > maxHandlerLen {
		return receipt{}, fmt.Errorf("%w: longer than %d characters", errHandlerInvalid, maxHandlerLen)
	}
	if len(s) != receiptTextLen {
		return receipt{}, fmt.Errorf("%w: length %d", errHandlerInvalid, len(s))
	}
	// The decoder skips '\r' and '\n'; the exact length above already rules
	// them out, since skipped characters leave too few bytes to decode.
	var b [receiptLen]byte
	n, err := receiptEncoding.Decode(b[:], []byte(s))
	if err != nil || n != receiptLen {
		return receipt{}, fmt.Errorf("%w: not base64url", errHandlerInvalid)
	}
	tag := receiptTag(key, b[:receiptPayloadLen])
	if !hmac.Equal(tag[:receiptTagLen], b[receiptPayloadLen:]) {
		return receipt{}, fmt.Errorf("%w: bad tag", errHandlerInvalid)
	}
	// Checked after the tag so that a forger learns nothing from the answer;
	// only a bug of ours could sign these.
	if b[0] != receiptVersion {
		return receipt{}, fmt.Errorf("%w: version %d", errHandlerInvalid, b[0])
	}
	r := receipt{kind: receiptKind(b[1])}
	if !r.kind.known() {
		return receipt{}, fmt.Errorf("%w: kind %d", errHandlerInvalid, b[1])
	}
	copy(r.queue[:], b[2:18])
	copy(r.group[:], b[18:34])
	r.partition = binary.BigEndian.Uint32(b[34:38])
	r.offset = binary.BigEndian.Uint64(b[38:46])
	r.deliveryID = binary.BigEndian.Uint64(b[46:54])
	r.expiresAt = int64(binary.BigEndian.Uint64(b[54:62]))
	return r, nil
}

func receiptTag(key, payload []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(receiptMACContext))
	m.Write(payload)
	var tag [sha256.Size]byte
	m.Sum(tag[:0])
	return tag
}
