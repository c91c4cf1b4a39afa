package chaos

import "testing"

func txnPublishOp(call int64, value, handle string) Op {
	return Op{Kind: KindTxnPublish, Queue: "q", Values: []string{value}, Handles: []string{handle}, Call: ms(call), Ret: ms(call + 5), Outcome: OK}
}

func txnEndOp(call int64, value, handle string, commit bool, out Outcome) Op {
	return Op{Kind: KindTxnEnd, Queue: "q", Values: []string{value}, Handles: []string{handle}, Commit: commit,
		Call: ms(call), Ret: ms(call + 5), Outcome: out}
}

func dedupOp(call int64, out Outcome, values []string, ids ...string) Op {
	return Op{Kind: KindProduce, Queue: "q", Values: values, DedupIDs: values, IDs: ids, Call: ms(call), Ret: ms(call + 5), Outcome: out}
}

func TestCheckTxn_CleanHistoryPasses(t *testing.T) {
	v := check(txnPublishOp(0, "t1-c", "x1"), txnPublishOp(1, "t2-r", "x2"), txnPublishOp(2, "t3-c", "x3"),
		txnEndOp(10, "t1-c", "x1", true, OK), txnEndOp(11, "t2-r", "x2", false, OK),
		// t3's producer crashed: the check-back commits it with a new handle,
		// after an unknown first try.
		txnEndOp(10_000, "t3-c", "y3", true, Unknown), txnEndOp(10_100, "t3-c", "y3", true, OK),
		consumeOp(20_000, "t1-c", "h1", "t3-c", "h3"),
		ackOp(20_010, 2, AckEntry{Value: "t1-c", Handler: "h1"}, AckEntry{Value: "t3-c", Handler: "h3"}))
	if v.Failed() {
		t.Fatalf("clean transactional history flagged: %+v", v)
	}
}

func TestCheckTxn_FindsCommittedLostAndRolledBackDelivered(t *testing.T) {
	v := check(txnPublishOp(0, "t1-c", "x1"), txnEndOp(10, "t1-c", "x1", true, OK))
	if v.CommittedLost != 1 || !v.Failed() {
		t.Fatalf("committed and never delivered: %+v", v)
	}
	v = check(txnPublishOp(0, "t2-r", "x2"), txnEndOp(10, "t2-r", "x2", false, OK),
		consumeOp(20, "t2-r", "h1"), ackOp(30, 1, AckEntry{Value: "t2-r", Handler: "h1"}))
	if v.RolledBackDelivered != 1 || !v.Failed() {
		t.Fatalf("rolled back and delivered: %+v", v)
	}
	// Left open (no end sent at all) is never committed either.
	v = check(txnPublishOp(0, "t3-c", "x3"), consumeOp(20, "t3-c", "h1"), ackOp(30, 1, AckEntry{Value: "t3-c", Handler: "h1"}))
	if v.RolledBackDelivered != 1 {
		t.Fatalf("never committed and delivered: %+v", v)
	}
	// A commit with an unknown outcome may or may not have happened.
	v = check(txnPublishOp(0, "t4-c", "x4"), txnEndOp(10, "t4-c", "x4", true, Unknown))
	if v.Failed() {
		t.Fatalf("unknown commit flagged: %+v", v)
	}
}

func TestCheckDedup_RetryStoredOncePasses(t *testing.T) {
	v := check(dedupOp(0, Unknown, []string{"d1", "d2"}), dedupOp(300, OK, []string{"d1", "d2"}, "000000000000000000000000000000A1", "000000000000000000000000000000A2"),
		dedupOp(600, OK, []string{"d1", "d2"}, "000000000000000000000000000000A1", "000000000000000000000000000000A2"),
		consumeOp(1000, "d1", "h1", "d2", "h2"),
		ackOp(1010, 2, AckEntry{Value: "d1", Handler: "h1"}, AckEntry{Value: "d2", Handler: "h2"}))
	if v.Failed() || v.ProducedOK != 4 {
		t.Fatalf("deduplicated retry flagged: %+v", v)
	}
}

func TestCheckDedup_FindsStoredTwice(t *testing.T) {
	v := check(dedupOp(0, OK, []string{"d1"}, "000000000000000000000000000000A1"), dedupOp(300, OK, []string{"d1"}, "000000000000000000000000000000B7"),
		consumeOp(1000, "d1", "h1"), ackOp(1010, 1, AckEntry{Value: "d1", Handler: "h1"}))
	if v.DedupStoredTwice != 1 || !v.Failed() {
		t.Fatalf("two ids for one dedup_id: %+v", v)
	}
	// Stored twice shows as two messages with one value, both acked.
	v = check(dedupOp(0, Unknown, []string{"d1"}), dedupOp(300, OK, []string{"d1"}, "000000000000000000000000000000A1"),
		consumeOp(1000, "d1", "h1", "d1", "h2"),
		ackOp(1010, 2, AckEntry{Value: "d1", Handler: "h1"}, AckEntry{Value: "d1", Handler: "h2"}))
	if v.DedupStoredTwice != 1 || v.AckedTwice != 1 {
		t.Fatalf("acked twice: %+v", v)
	}
}
