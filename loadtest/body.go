package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// A message body is the JSON object {"p":P,"s":S,"t":T,"x":"xx…"}: the
// producer id, the sequence number, the produce timestamp (unix ns; the
// intended send time under open loop) and padding, so that its JSON text is
// exactly the configured size.

// errForeignBody reports a delivered body that this harness did not write.
var errForeignBody = errors.New("loadtest: body not written by this harness")

// appendBody appends one message body of exactly size bytes (size ≥ minSize).
func appendBody(b []byte, producer, seq uint32, at time.Time, size int) []byte {
	start := len(b)
	b = append(b, `{"p":`...)
	b = strconv.AppendUint(b, uint64(producer), 10)
	b = append(b, `,"s":`...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, at.UnixNano(), 10)
	b = append(b, `,"x":"`...)
	pad := size - (len(b) - start) - 2
	for range pad {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// appendProduce appends a produce request body of n messages from seq on.
func appendProduce(b []byte, producer, seq uint32, n int, at time.Time, size int) []byte {
	b = append(b, `{"messages":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"body":`...)
		b = appendBody(b, producer, seq+uint32(i), at, size)
		b = append(b, '}')
	}
	return append(b, `]}`...)
}

// parseBody reads the producer, sequence number and timestamp of a body,
// by a fast path over the exact text appendBody writes, or else as JSON.
func parseBody(b []byte) (producer, seq uint32, at time.Time, err error) {
	rest, p, ok := field(b, `{"p":`)
	if ok {
		var s, t uint64
		if rest, s, ok = field(rest, `,"s":`); ok {
			if _, t, ok = field(rest, `,"t":`); ok && p <= 1<<32-1 && s <= 1<<32-1 && t <= 1<<63-1 {
				return uint32(p), uint32(s), time.Unix(0, int64(t)), nil
			}
		}
	}
	var v struct {
		P *uint32 `json:"p"`
		S *uint32 `json:"s"`
		T *int64  `json:"t"`
	}
	if json.Unmarshal(b, &v) != nil || v.P == nil || v.S == nil || v.T == nil {
		return 0, 0, time.Time{}, errForeignBody
	}
	return *v.P, *v.S, time.Unix(0, *v.T), nil
}

// field reads prefix and the unsigned decimal after it.
func field(b []byte, prefix string) (rest []byte, v uint64, ok bool) {
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return b, 0, false
	}
	b = b[len(prefix):]
	i := 0
	for i < len(b) && i < 20 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 {
		return b, 0, false
	}
	v, err := strconv.ParseUint(string(b[:i]), 10, 64)
	if err != nil {
		return b, 0, false
	}
	return b[i:], v, true
}
