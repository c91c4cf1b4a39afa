package chaos

import (
	"fmt"
	"testing"
	"time"
)

// histories are built by hand: t is in ms.
func ms(t int64) int64 { return t * int64(time.Millisecond) }

func produceOp(call int64, values ...string) Op {
	ids := make([]string, len(values))
	for i := range values {
		ids[i] = fmt.Sprintf("%016X%04X%012X", 0, 0, i) // partition 0, offset i
	}
	return Op{Kind: KindProduce, Queue: "q", Values: values, IDs: ids, Call: ms(call), Ret: ms(call + 5), Outcome: OK}
}

func consumeOp(call int64, pairs ...string) Op {
	op := Op{Kind: KindConsume, Queue: "q", Group: "g", Call: ms(call), Ret: ms(call + 5), Outcome: OK, AckWaitMs: 15000}
	for i := 0; i+1 < len(pairs); i += 2 {
		op.Deliveries = append(op.Deliveries, Delivery{Value: pairs[i], Handler: pairs[i+1]})
	}
	return op
}

func ackOp(call int64, success int, entries ...AckEntry) Op {
	return Op{Kind: KindAck, Queue: "q", Group: "g", Call: ms(call), Ret: ms(call + 5), Outcome: OK, Entries: entries,
		Success: success, Fail: len(entries) - success, Reason: map[bool]string{true: "", false: "status_fail"}[success == len(entries)]}
}

func check(ops ...Op) Verdict {
	for i := range ops {
		ops[i].Index = i
	}
	return Check(ops, CheckConfig{Groups: map[string][]string{"q": {"g"}}, FIFO: map[string]bool{"q": true},
		MaxConsumeCount: 5, Eps: 50 * time.Millisecond, Drained: true})
}

func TestCheck_CleanHistoryPasses(t *testing.T) {
	v := check(produceOp(0, "a", "b"), consumeOp(10, "a", "h1", "b", "h2"),
		ackOp(20, 2, AckEntry{Value: "a", Handler: "h1"}, AckEntry{Value: "b", Handler: "h2"}))
	if v.Failed() || v.ProducedOK != 2 || v.Deliveries != 2 {
		t.Fatalf("clean history flagged: %+v", v)
	}
}

func TestCheck_FindsLossAndUnexpected(t *testing.T) {
	v := check(produceOp(0, "a", "b"), consumeOp(10, "a", "h1", "zz", "h9"), ackOp(20, 1, AckEntry{Value: "a", Handler: "h1"}))
	if v.Lost != 1 || v.Unexpected != 1 || !v.Failed() {
		t.Fatalf("lost %d unexpected %d, want 1 and 1: %v", v.Lost, v.Unexpected, v.Examples)
	}
}

func TestCheck_FindsRedeliveryAfterAckAndDoubleAck(t *testing.T) {
	v := check(produceOp(0, "a"), consumeOp(10, "a", "h1"), ackOp(20, 1, AckEntry{Value: "a", Handler: "h1"}),
		consumeOp(30000, "a", "h2"), ackOp(30010, 1, AckEntry{Value: "a", Handler: "h2"}))
	if v.RedeliveredAfterAck != 1 || v.AckedTwice != 1 || v.DupUnexplained == 0 {
		t.Fatalf("%+v", v)
	}
}

func TestCheck_FindsOverlappingLeaseButExplainsExpiryAndRelease(t *testing.T) {
	v := check(produceOp(0, "a"), consumeOp(10, "a", "h1"), consumeOp(1000, "a", "h2"), ackOp(1100, 1, AckEntry{Value: "a", Handler: "h2"}))
	if v.OverlappingLeases != 1 {
		t.Fatalf("overlap not found: %+v", v)
	}
	v = check(produceOp(0, "a"), consumeOp(10, "a", "h1"), consumeOp(16000, "a", "h2"), ackOp(16100, 1, AckEntry{Value: "a", Handler: "h2"}))
	if v.Failed() || v.DupExplained != 1 {
		t.Fatalf("expiry redelivery not explained: %+v", v)
	}
	v = check(produceOp(0, "a"), consumeOp(10, "a", "h1"), ackOp(20, 0, AckEntry{Value: "a", Handler: "h1", Fail: true}),
		consumeOp(100, "a", "h2"), ackOp(200, 1, AckEntry{Value: "a", Handler: "h2"}))
	if v.Failed() || v.DupExplained != 1 {
		t.Fatalf("release redelivery not explained: %+v", v)
	}
}

func TestCheck_FindsAckPrefixAndExpiredAcceptance(t *testing.T) {
	v := check(produceOp(0, "a", "b"), consumeOp(10, "a", "h1", "b", "h2"),
		ackOp(20, 2, AckEntry{Value: "a", Handler: "h1", Fail: true}, AckEntry{Value: "b", Handler: "h2"}))
	if v.AckPrefix != 1 {
		t.Fatalf("prefix rule not checked: %+v", v)
	}
	v = check(produceOp(0, "a"), consumeOp(10, "a", "h1"), ackOp(20000, 1, AckEntry{Value: "a", Handler: "h1"}))
	if v.AcceptedExpired != 1 {
		t.Fatalf("expired acceptance not found: %+v", v)
	}
}

func TestCheck_FindsFIFOOrder(t *testing.T) {
	v := check(produceOp(0, "a", "b"), consumeOp(10, "b", "h2"), consumeOp(20, "a", "h1"),
		ackOp(30, 1, AckEntry{Value: "b", Handler: "h2"}), ackOp(40, 1, AckEntry{Value: "a", Handler: "h1"}))
	if v.FIFOOrder != 1 {
		t.Fatalf("FIFO order not checked: %+v", v)
	}
}

func TestParseMessageID(t *testing.T) {
	p, off, ok := ParseMessageID("0123456789ABCDEF0002000000000105")
	if !ok || p != 2 || off != 0x105 {
		t.Fatalf("got %d %d %v", p, off, ok)
	}
}
