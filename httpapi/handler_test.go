package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
)

var testKey = bytes.Repeat([]byte{0x5a}, 32)

func sampleReceipt() receipt {
	q, _ := parseUUID("0e6bb1b4-3c1f-4f57-9c1e-6f3c3b0a9d21")
	g, _ := parseGroupID("g-7f0c3a52-9b8e-4c1d-a2f3-1e5d6c7b8a90")
	return receipt{
		kind:       kindDMS,
		queue:      q,
		group:      g,
		partition:  2,
		offset:     123456789,
		deliveryID: 987654321,
		expiresAt:  1767225600000,
	}
}

func TestReceipt_RoundTrip(t *testing.T) {
	cases := []receipt{
		sampleReceipt(),
		{kind: kindDMSDeadLetter},
		{kind: kindRocketMQ, partition: math.MaxUint32, offset: math.MaxUint64, deliveryID: math.MaxUint64, expiresAt: math.MaxInt64},
		{kind: kindDMS, expiresAt: -1},
	}
	for _, r := range cases {
		s := r.encode(testKey)
		if len(s) > maxHandlerLen || len(s) != receiptTextLen {
			t.Fatalf("handler length %d, want %d (at most %d)", len(s), receiptTextLen, maxHandlerLen)
		}
		if strings.ContainsAny(s, "+/=") {
			t.Fatalf("handler %q is not base64url without padding", s)
		}
		got, err := parseReceipt(testKey, s)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		if got != r {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
	}
}

func TestReceipt_TextLenMatchesEncoding(t *testing.T) {
	if want := base64.RawURLEncoding.EncodedLen(receiptLen); receiptTextLen != want {
		t.Fatalf("receiptTextLen %d, encoding says %d", receiptTextLen, want)
	}
}

func TestReceipt_RejectsEveryBitFlip(t *testing.T) {
	s := sampleReceipt().encode(testKey)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for bit := range 8 {
			b := bytes.Clone(raw)
			b[i] ^= 1 << bit
			forged := base64.RawURLEncoding.EncodeToString(b)
			if _, err := parseReceipt(testKey, forged); !errors.Is(err, errHandlerInvalid) {
				t.Fatalf("byte %d bit %d flipped: err %v, want errHandlerInvalid", i, bit, err)
			}
		}
	}
}

func TestReceipt_RejectsTextChanges(t *testing.T) {
	s := sampleReceipt().encode(testKey)
	// Every other character at every position, including the last one, whose
	// low bits are padding: a strict decoder must refuse those too.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(s) {
		for _, c := range []byte(alphabet + "+/=.\n\r ") {
			if c == s[i] {
				continue
			}
			forged := s[:i] + string(c) + s[i+1:]
			if _, err := parseReceipt(testKey, forged); err == nil {
				t.Fatalf("position %d changed to %q: accepted", i, c)
			}
		}
	}
}

func TestReceipt_RejectsMalformed(t *testing.T) {
	s := sampleReceipt().encode(testKey)
	cases := map[string]string{
		"empty":           "",
		"truncated by 1":  s[:len(s)-1],
		"truncated by 4":  s[:len(s)-4],
		"half":            s[:len(s)/2],
		"extended":        s + "A",
		"extended by 4":   s + "AAAA",
		"padded":          s + "==",
		"newline inside":  s[:10] + "\n" + s[11:],
		"std alphabet":    strings.NewReplacer("-", "+", "_", "/").Replace(s) + "x",
		"over 256":        strings.Repeat("A", 257),
		"way over":        strings.Repeat("A", 100000),
		"dms sample":      "eyJjZyI6Im15X2pzb25fZ3JvdXAiLCJjaSI6InJlc3QtY29uc3VtZXItYzNlNThiNjEtYzA0NC00NGJkLTkxM2ItZDgzNjljNmJhYTQxIiwiY291bnQiOjAsIm9mZnNldCI6MCwicCI6MCwidCI6InRlc3QyIn0=",
		"right length":    strings.Repeat("A", receiptTextLen),
		"unicode":         strings.Repeat("é", receiptTextLen/2),
		"another key tag": sampleReceipt().encode(bytes.Repeat([]byte{1}, 32)),
	}
	for name, h := range cases {
		if _, err := parseReceipt(testKey, h); !errors.Is(err, errHandlerInvalid) {
			t.Errorf("%s: err %v, want errHandlerInvalid", name, err)
		}
	}
}

// A signed handler with a field changed is a different handler: the tag
// binds every field.
func TestReceipt_FieldChangesBreakTag(t *testing.T) {
	base := sampleReceipt()
	good := base.encode(testKey)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	tag := raw[receiptPayloadLen:]
	changes := map[string]func(r *receipt){
		"kind":        func(r *receipt) { r.kind = kindDMSDeadLetter },
		"queue":       func(r *receipt) { r.queue[15]++ },
		"group":       func(r *receipt) { r.group[0]++ },
		"partition":   func(r *receipt) { r.partition++ },
		"offset":      func(r *receipt) { r.offset++ },
		"delivery id": func(r *receipt) { r.deliveryID++ },
		"expiry":      func(r *receipt) { r.expiresAt += 60000 },
	}
	for name, change := range changes {
		r := base
		change(&r)
		// The new payload with the old tag: what a client editing a handler
		// would produce.
		newRaw, _ := base64.RawURLEncoding.DecodeString(r.encode(testKey))
		copy(newRaw[receiptPayloadLen:], tag)
		forged := base64.RawURLEncoding.EncodeToString(newRaw)
		if _, err := parseReceipt(testKey, forged); !errors.Is(err, errHandlerInvalid) {
			t.Errorf("%s changed, old tag: err %v, want errHandlerInvalid", name, err)
		}
	}
}

func TestReceipt_UnknownKindOrVersionRefusedEvenIfSigned(t *testing.T) {
	for _, mutate := range []func(b []byte){
		func(b []byte) { b[0] = 2 },  // version
		func(b []byte) { b[1] = 0 },  // kind
		func(b []byte) { b[1] = 99 }, // kind
	} {
		r := sampleReceipt()
		raw, _ := base64.RawURLEncoding.DecodeString(r.encode(testKey))
		mutate(raw)
		tag := receiptTag(testKey, raw[:receiptPayloadLen])
		copy(raw[receiptPayloadLen:], tag[:receiptTagLen])
		if _, err := parseReceipt(testKey, base64.RawURLEncoding.EncodeToString(raw)); !errors.Is(err, errHandlerInvalid) {
			t.Errorf("err %v, want errHandlerInvalid", err)
		}
	}
}

func FuzzParseHandler(f *testing.F) {
	good := sampleReceipt().encode(testKey)
	f.Add(good)
	f.Add("")
	f.Add(good[:len(good)-1])
	f.Add(good + "A")
	f.Add(strings.Repeat("A", receiptTextLen))
	f.Add(strings.Repeat("_", 300))
	f.Add(receipt{kind: kindDMSDeadLetter}.encode(testKey))
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseReceipt(testKey, s)
		if err != nil {
			if !errors.Is(err, errHandlerInvalid) {
				t.Fatalf("error %v does not wrap errHandlerInvalid", err)
			}
			return
		}
		// Whatever parses must be exactly what we would mint.
		if again := r.encode(testKey); again != s {
			t.Fatalf("accepted %q, which re-encodes as %q", s, again)
		}
		if len(s) > maxHandlerLen {
			t.Fatalf("accepted a handler of %d characters", len(s))
		}
	})
}
