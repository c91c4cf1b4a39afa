package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"raftmq/cluster"
	"raftmq/fsm"
)

func TestErrorResponse_Table(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("cluster: queue x: %w", err) }
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{cluster.ErrQueueNotFound, 404, codeQueueNotFound},
		{wrap(cluster.ErrQueueNotFound), 404, codeQueueNotFound},
		{wrap(cluster.ErrGroupNotFound), 404, codeGroupNotFound},
		{wrap(cluster.ErrQueueExists), 400, codeQueueExists},
		{wrap(cluster.ErrGroupExists), 400, codeGroupExists},
		{wrap(cluster.ErrGroupQuota), 400, codeGroupQuota},
		{wrap(cluster.ErrQueueQuota), 400, codeQueueQuota},
		{wrap(cluster.ErrUnavailable), 503, codeUnavailable},
		{wrap(context.DeadlineExceeded), 503, codeUnavailable},
		{context.Canceled, 503, codeUnavailable},
		{errors.Join(io.EOF, cluster.ErrUnavailable), 503, codeUnavailable},
		{wrap(cluster.ErrDiskFull), 507, codeDiskFull},
		{errUnknownPath, 404, codeUnknownPath},
		{errQueueNotFound, 404, codeQueueNotFound},
		{errGroupNotFound, 404, codeGroupNotFound},
		{errTooManyWaiting, 429, codeTooManyWaiting},
		{errNotJoined, 503, codeUnavailable},
		{errBodyTooLarge, 413, codeTooLarge},
		{errNoDeadLetters, 400, codeMalformed},
		{fmt.Errorf("handler: %w", badRequest(codeAckStatus, "x")), 400, codeAckStatus},
		{io.ErrUnexpectedEOF, 500, codeInternal},
		{errors.New("disk on fire at /var/lib/secret"), 500, codeInternal},
	}
	for _, tc := range cases {
		status, body := errorResponse(tc.err)
		if status != tc.status || body.ErrorCode != tc.code || body.ErrorMsg == "" {
			t.Errorf("%v: got %d %+v, want %d %s", tc.err, status, body, tc.status, tc.code)
		}
		if status == 500 && strings.Contains(body.ErrorMsg, "secret") {
			t.Errorf("500 leaks the detail: %q", body.ErrorMsg)
		}
		if (retryAfter(status) != "") != (status == 429 || status == 503 || status == 507) {
			t.Errorf("retryAfter(%d)", status)
		}
	}
}

func TestUUID_RoundTrip(t *testing.T) {
	const s = "0e6bb1b4-3c1f-4f57-9c1e-6f3c3b0a9d21"
	u, ok := parseUUID(s)
	if !ok || formatUUID(u) != s {
		t.Fatalf("round trip: %v %s", ok, formatUUID(u))
	}
	if u2, ok := parseUUID(strings.ToUpper(s)); !ok || u2 != u {
		t.Fatal("upper case refused")
	}
	for _, bad := range []string{"", s[:35], s + "0", strings.ReplaceAll(s, "-", "_"), "0e6bb1b4-3c1f-4f57-9c1e-6f3c3b0a9dzz", "0e6bb1b43c1f-4f57-9c1e-6f3c3b0a9d21-"} {
		if _, ok := parseUUID(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, ok := parseGroupID("g-" + s); !ok {
		t.Error("group id refused")
	}
	for _, bad := range []string{s, "G-" + s, "g-", "g-" + s + "x", "gg-" + s} {
		if _, ok := parseGroupID(bad); ok {
			t.Errorf("group id %q accepted", bad)
		}
	}
}

func TestMessageID(t *testing.T) {
	q, _ := parseUUID("0e6bb1b4-3c1f-4f57-9c1e-6f3c3b0a9d21")
	id := messageID(q, 2, 0x0102030405)
	if id != "0E6BB1B43C1F4F570002000102030405" {
		t.Fatalf("id %s", id)
	}
	seen := map[string]bool{}
	for p := range 3 {
		for off := range uint64(100) {
			id := messageID(q, p, off)
			if len(id) != 32 || seen[id] {
				t.Fatalf("id %s: length %d or repeated", id, len(id))
			}
			seen[id] = true
		}
	}
}

func TestDecodeAckEntries(t *testing.T) {
	base := sampleReceipt()
	target := ackTarget{kind: base.kind, queue: base.queue, group: base.group, partitions: 3}
	otherQueue, otherGroup, deadLetter, farPartition := base, base, base, base
	otherQueue.queue[0] ^= 1
	otherGroup.group[0] ^= 1
	deadLetter.kind = kindDMSDeadLetter
	farPartition.partition = 3
	good := base.encode(testKey)
	entries := []ackRequestEntry{
		{good, true},
		{good, false},
		{"not a handler", true},
		{strings.Repeat("A", 300), true},
		{base.encode([]byte("another cluster's key, 32 bytes!")), true},
		{otherQueue.encode(testKey), true},
		{otherGroup.encode(testKey), true},
		{deadLetter.encode(testKey), true},
		{farPartition.encode(testKey), true},
	}
	got := decodeAckEntries(testKey, target, entries)
	want := []cluster.AckEntry{
		{Partition: 2, Item: fsm.AckItem{Offset: base.offset, DeliveryID: base.deliveryID, Success: true}},
		{Partition: 2, Item: fsm.AckItem{Offset: base.offset, DeliveryID: base.deliveryID, Success: false}},
		{Invalid: reasonHandlerInvalid},
		{Invalid: reasonHandlerInvalid},
		{Invalid: reasonHandlerInvalid},
		{Invalid: reasonHandlerForeign},
		{Invalid: reasonHandlerForeign},
		{Invalid: reasonHandlerForeign},
		{Invalid: reasonHandlerInvalid},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	// The dead-letter door refuses the normal handler the same way.
	dl := target
	dl.kind = kindDMSDeadLetter
	if e := decodeAckEntries(testKey, dl, entries[:1]); e[0].Invalid != reasonHandlerForeign {
		t.Errorf("normal handler on the dead-letter door: %+v", e[0])
	}
}

func TestToAckResponse(t *testing.T) {
	r := toAckResponse(cluster.AckOutcome{Success: 3})
	if r.FirstFailure != nil || r.Success != 3 || r.Fail != 0 {
		t.Fatalf("%+v", r)
	}
	r = toAckResponse(cluster.AckOutcome{Success: 2, Fail: 2, FailureIndex: 2, Reason: "status_fail"})
	if r.FirstFailure == nil || r.FirstFailure.Index != 2 || r.FirstFailure.Reason != "status_fail" || r.FirstFailure.ErrorMsg == "" {
		t.Fatalf("%+v", r)
	}
}
