package fsm

import (
	"fmt"
	"math"
	"testing"
)

const (
	g1 GroupID = "g-1"
	g2 GroupID = "g-2"
)

var normal = Policy{RetentionMs: 72 * 3600 * 1000}

func TestState_EnqueueAssignsDenseOffsets(t *testing.T) {
	h := newHarness(t, normal)
	if got := h.enqueue(1000, "a", "b", "c"); got != (EnqueueResult{FirstOffset: 0, Count: 3}) {
		t.Fatalf("first enqueue = %+v", got)
	}
	if got := h.enqueue(1001); got != (EnqueueResult{FirstOffset: 3, Count: 0}) {
		t.Fatalf("empty enqueue = %+v", got)
	}
	if got := h.enqueue(1002, "d"); got != (EnqueueResult{FirstOffset: 3, Count: 1}) {
		t.Fatalf("second enqueue = %+v", got)
	}
	if h.s.Produced() != 4 {
		t.Fatalf("Produced = %d, want 4", h.s.Produced())
	}
	ds := h.lease(1003, g1, 16, 30000)
	wantOffs(t, "lease", ds, 0, 1, 2, 3)
	want := []struct {
		body       string
		producedAt int64
	}{{"a", 1000}, {"b", 1000}, {"c", 1000}, {"d", 1002}}
	for i, d := range ds {
		if string(d.Message.Body) != want[i].body || d.ProducedAt != want[i].producedAt || d.Message.Attributes != nil {
			t.Errorf("delivery %d = %q at %d attrs %q, want %q at %d", i, d.Message.Body, d.ProducedAt, d.Message.Attributes, want[i].body, want[i].producedAt)
		}
		if d.DeliveryID != h.idx || d.ExpiresAt != 31003 || d.FirstDeliveredAt != 1003 || d.Deliveries != 1 || d.OriginalOffset != d.Offset {
			t.Errorf("delivery %d = %+v", i, d)
		}
	}
}

func TestState_EnqueueKeepsAttributes(t *testing.T) {
	h := newHarness(t, normal)
	h.apply(&Enqueue{Header: h.hdr(1), Messages: []Message{
		{Body: []byte(`"x"`), Attributes: []byte(`{"k":"v"}`)},
		{Body: []byte(`1`), Attributes: []byte{}},
	}})
	ds := h.lease(2, g1, 10, 1000)
	if len(ds) != 2 || string(ds[0].Message.Attributes) != `{"k":"v"}` || ds[1].Message.Attributes == nil || len(ds[1].Message.Attributes) != 0 {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestState_LeaseRedeliveriesBeforeNew(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "0", "1", "2", "3", "4", "5")
	first := h.lease(1000, g1, 3, 30000) // 0, 1, 2
	wantOffs(t, "first lease", first, 0, 1, 2)
	// Fail 2, then 0: both become ready; redelivery goes by offset.
	wantAck(t, "fail 2", h.ack(1001, g1, failItem(first[2])), AckResult{Fail: 1, Reason: ReasonStatusFail})
	wantAck(t, "fail 0", h.ack(1002, g1, failItem(first[0])), AckResult{Fail: 1, Reason: ReasonStatusFail})
	second := h.lease(1003, g1, 3, 30000)
	wantOffs(t, "second lease", second, 0, 2, 3)
	if second[0].Deliveries != 2 || second[1].Deliveries != 2 || second[2].Deliveries != 1 {
		t.Fatalf("delivery counts %d %d %d", second[0].Deliveries, second[1].Deliveries, second[2].Deliveries)
	}
	if second[0].FirstDeliveredAt != 1000 || second[2].FirstDeliveredAt != 1003 {
		t.Fatalf("first delivered at %d, %d", second[0].FirstDeliveredAt, second[2].FirstDeliveredAt)
	}
	// An expired lease is a redelivery too.
	h.tick(1000 + 30000) // first lease's 1 expires (0 and 2 were re-leased at 1003)
	third := h.lease(31000, g1, 3, 30000)
	wantOffs(t, "third lease", third, 1, 4, 5)
}

func TestState_LeaseMaxAndByteBudget(t *testing.T) {
	sizes := []int{100, 200, 300, 400}
	tests := []struct {
		name     string
		max      int
		maxBytes int
		want     []uint64
	}{
		{"max limits", 2, MaxLeaseBytes, []uint64{0, 1}},
		{"all fit", 16, MaxLeaseBytes, []uint64{0, 1, 2, 3}},
		{"budget exact", 16, 600, []uint64{0, 1, 2}},
		{"budget stops at first that does not fit", 16, 599, []uint64{0, 1}},
		{"first does not fit", 16, 99, nil},
		{"zero max", 0, MaxLeaseBytes, nil},
		{"negative max", -1, MaxLeaseBytes, nil},
	}
	for _, fifo := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("fifo=%v/%s", fifo, tt.name), func(t *testing.T) {
				h := newHarness(t, Policy{FIFO: fifo})
				msgs := make([]Message, len(sizes))
				for i, n := range sizes {
					msgs[i] = Message{Body: make([]byte, n-10), Attributes: make([]byte, 10)}
				}
				h.apply(&Enqueue{Header: h.hdr(1000), Messages: msgs})
				if tt.max < 0 {
					// Encode refuses negative counts; the state still copes.
					res := h.s.Apply(99, &Lease{Header: h.hdr(1000), Group: g1, Max: tt.max, MaxBytes: tt.maxBytes, AckWaitMs: 1000})
					wantOffs(t, "lease", res.(LeaseResult).Deliveries)
					return
				}
				ds := h.leaseC(&Lease{Header: h.hdr(1000), Group: g1, Max: tt.max, MaxBytes: tt.maxBytes, AckWaitMs: 1000})
				wantOffs(t, "lease", ds, tt.want...)
			})
		}
	}
	t.Run("budget stops a redelivery too", func(t *testing.T) {
		h := newHarness(t, normal)
		h.enqueue(1000, "big message", "s")
		ds := h.lease(1000, g1, 1, 1000)
		h.ack(1001, g1, failItem(ds[0]))
		// The redelivery of 0 (11 bytes) does not fit 5 bytes: the lease
		// stops there rather than skipping to the small new message.
		got := h.leaseC(&Lease{Header: h.hdr(1002), Group: g1, Max: 2, MaxBytes: 5, AckWaitMs: 1000})
		wantOffs(t, "lease", got)
	})
}

func TestState_AckStopsAtFirstFailure(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "0", "1", "2", "3")
	ds := h.lease(1000, g1, 4, 30000)
	res := h.ack(1001, g1, okItem(ds[0]), okItem(ds[1]), failItem(ds[2]), okItem(ds[3]))
	wantAck(t, "ack", res, AckResult{Success: 2, Fail: 2, Reason: ReasonStatusFail})
	h.wantStats(g1, GroupStats{Produced: 4, Consumed: 2, Available: 2})
	again := h.lease(1002, g1, 4, 30000)
	wantOffs(t, "redelivery", again, 2, 3)
	for _, d := range again {
		if d.Deliveries != 2 || d.FirstDeliveredAt != 1000 || d.DeliveryID != h.idx {
			t.Fatalf("redelivery %+v", d)
		}
	}
	// The settled ones are acknowledged for good.
	wantAck(t, "reuse", h.ack(1003, g1, okItem(ds[0])), AckResult{Fail: 1, Reason: ReasonAlreadyAcked})
}

func TestState_AckReasons(t *testing.T) {
	tests := []struct {
		name string
		// run sets up the state and returns the ack to send and what to expect.
		run func(h *harness) (items []AckItem, want AckResult)
		// after checks the state after the ack.
		after func(t *testing.T, h *harness)
	}{
		{
			name: "reused handler is already acked",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 30000)
				h.ack(1001, g1, okItem(ds[0]))
				return []AckItem{okItem(ds[0])}, AckResult{Fail: 1, Reason: ReasonAlreadyAcked}
			},
		},
		{
			name: "fail-acked handler is already settled",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 30000)
				h.ack(1001, g1, failItem(ds[0]))
				return []AckItem{okItem(ds[0])}, AckResult{Fail: 1, Reason: ReasonAlreadyAcked}
			},
		},
		{
			name: "expired lease",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 1)
				// The ack (at 1001) first settles the lease that ended at 1001.
				return []AckItem{okItem(ds[0])}, AckResult{Fail: 1, Reason: ReasonExpired}
			},
		},
		{
			name: "fail ack of an expired lease says expired",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 100)
				h.tick(1100)
				return []AckItem{failItem(ds[0])}, AckResult{Fail: 1, Reason: ReasonExpired}
			},
		},
		{
			name: "superseded after expiry and re-lease; new handler succeeds",
			run: func(h *harness) ([]AckItem, AckResult) {
				old := h.lease(1000, g1, 1, 100)
				h.tick(1100)
				cur := h.lease(1100, g1, 1, 100)
				if cur[0].Deliveries != 2 {
					h.t.Fatalf("re-lease Deliveries %d", cur[0].Deliveries)
				}
				wantAck(h.t, "old", h.ack(1101, g1, okItem(old[0])), AckResult{Fail: 1, Reason: ReasonSuperseded})
				return []AckItem{okItem(cur[0])}, AckResult{Success: 1}
			},
		},
		{
			name: "released request releases live items",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 2, 30000)
				h.apply(&Ack{Header: h.hdr(1001), Group: g1, Items: []AckItem{okItem(ds[0]), okItem(ds[1])}, Released: true})
				return nil, AckResult{}
			},
			after: func(t *testing.T, h *harness) {
				ds := h.lease(1002, g1, 2, 30000)
				wantOffs(t, "after release", ds, 0, 1)
				if ds[0].Deliveries != 2 || ds[1].Deliveries != 2 {
					t.Fatalf("deliveries %d %d", ds[0].Deliveries, ds[1].Deliveries)
				}
			},
		},
		{
			name: "offset beyond the log",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 30000)
				return []AckItem{{Offset: 99, DeliveryID: ds[0].DeliveryID, Success: true}, okItem(ds[0])},
					AckResult{Fail: 2, Reason: ReasonSuperseded}
			},
			after: func(t *testing.T, h *harness) {
				// The live delivery named after the stop was released.
				wantOffs(t, "after", h.lease(1002, g1, 1, 30000), 0)
			},
		},
		{
			name: "offset never delivered",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 30000)
				return []AckItem{{Offset: 2, DeliveryID: ds[0].DeliveryID, Success: true}}, AckResult{Fail: 1, Reason: ReasonSuperseded}
			},
		},
		{
			name: "unknown delivery id of a live offset leaves the lease alone",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 30000)
				wantAck(h.t, "unknown id", h.ack(1001, g1, AckItem{Offset: 0, DeliveryID: 12345, Success: true}), AckResult{Fail: 1, Reason: ReasonSuperseded})
				return []AckItem{okItem(ds[0])}, AckResult{Success: 1}
			},
		},
		{
			name: "duplicate success item",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 30000)
				return []AckItem{okItem(ds[0]), okItem(ds[0])}, AckResult{Success: 1, Fail: 1, Reason: ReasonAlreadyAcked}
			},
		},
		{
			name: "duplicate fail item fails once",
			run: func(h *harness) ([]AckItem, AckResult) {
				h.pol.MaxConsumeCount = 2
				ds := h.lease(1000, g1, 1, 30000)
				return []AckItem{failItem(ds[0]), failItem(ds[0])}, AckResult{Fail: 2, Reason: ReasonStatusFail}
			},
			after: func(t *testing.T, h *harness) {
				// One failure of two allowed: still in the normal lane.
				ds := h.lease(1002, g1, 1, 30000)
				wantOffs(t, "after", ds, 0)
				if ds[0].Deliveries != 2 {
					t.Fatalf("deliveries %d", ds[0].Deliveries)
				}
			},
		},
		{
			name: "normal handler on the dead-letter lane",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 30000)
				wantAck(h.t, "dl", h.ackDL(1001, g1, okItem(ds[0])), AckResult{Fail: 1, Reason: ReasonSuperseded})
				return []AckItem{okItem(ds[0])}, AckResult{Success: 1}
			},
		},
		{
			name: "another group's handler changes nothing",
			run: func(h *harness) ([]AckItem, AckResult) {
				ds := h.lease(1000, g1, 1, 30000)
				wantAck(h.t, "g2", h.ack(1001, g2, failItem(ds[0]), okItem(ds[0])), AckResult{Fail: 2, Reason: ReasonSuperseded})
				h.wantStats(g2, GroupStats{Produced: 3, Available: 3})
				h.wantStats(g1, GroupStats{Produced: 3, Available: 3})
				if got := h.s.HasReady(g2, false, h.pol); !got {
					h.t.Fatal("g2 has nothing ready")
				}
				return []AckItem{okItem(ds[0])}, AckResult{Success: 1}
			},
		},
		{
			name: "no items",
			run: func(h *harness) ([]AckItem, AckResult) {
				return []AckItem{}, AckResult{}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, normal)
			h.enqueue(1000, "0", "1", "2")
			items, want := tt.run(h)
			if items != nil || want != (AckResult{}) {
				wantAck(t, "ack", h.ack(1001, g1, items...), want)
			}
			if tt.after != nil {
				tt.after(t, h)
			}
		})
	}
}

func TestState_AckReleasedReason(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "0", "1")
	ds := h.lease(1000, g1, 2, 30000)
	res := h.apply(&Ack{Header: h.hdr(1001), Group: g1, Items: []AckItem{okItem(ds[0]), okItem(ds[1])}, Released: true}).(AckResult)
	wantAck(t, "released", res, AckResult{Fail: 2, Reason: ReasonReleased})
	h.wantStats(g1, GroupStats{Produced: 2, Available: 2})
}

func TestState_GroupsEachReceiveEveryMessage(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "0", "1", "2")
	a := h.lease(1001, g1, 10, 30000)
	b := h.lease(1001, g2, 10, 30000)
	wantOffs(t, "g1", a, 0, 1, 2)
	wantOffs(t, "g2", b, 0, 1, 2)
	wantAck(t, "g1 ack", h.ack(1002, g1, okItem(a[0]), okItem(a[1]), okItem(a[2])), AckResult{Success: 3})
	h.wantStats(g1, GroupStats{Produced: 3, Consumed: 3})
	h.wantStats(g2, GroupStats{Produced: 3, Available: 3})
	// g2's deliveries are untouched by g1's acks.
	wantAck(t, "g2 ack", h.ack(1003, g2, okItem(b[1])), AckResult{Success: 1})
	h.enqueue(1004, "3")
	wantOffs(t, "g1 new", h.lease(1005, g1, 10, 30000), 3)
	wantOffs(t, "g2 new", h.lease(1005, g2, 10, 30000), 3)
}

func TestState_FIFODeliversStrictlyByOffset(t *testing.T) {
	h := newHarness(t, Policy{FIFO: true, RetentionMs: normal.RetentionMs})
	h.enqueue(1000, "0", "1", "2", "3", "4")
	first := h.lease(1000, g1, 2, 30000)
	wantOffs(t, "first", first, 0, 1)
	wantOffs(t, "while 0 in flight", h.lease(1001, g1, 5, 30000))
	if h.s.HasReady(g1, false, h.pol) {
		t.Fatal("HasReady while the head is in flight")
	}
	wantAck(t, "ack 0", h.ack(1002, g1, okItem(first[0])), AckResult{Success: 1})
	wantOffs(t, "while 1 in flight", h.lease(1003, g1, 5, 30000))
	wantAck(t, "fail 1", h.ack(1004, g1, failItem(first[1])), AckResult{Fail: 1, Reason: ReasonStatusFail})
	if !h.s.HasReady(g1, false, h.pol) {
		t.Fatal("no HasReady with 1 ready")
	}
	second := h.lease(1005, g1, 3, 30000)
	wantOffs(t, "failed one first again", second, 1, 2, 3)
	if second[0].Deliveries != 2 || second[1].Deliveries != 1 {
		t.Fatalf("deliveries %d %d", second[0].Deliveries, second[1].Deliveries)
	}
	// 2 and 3 are acked out of order while 1 is still in flight: nothing
	// later may be delivered.
	wantAck(t, "ack 3, 2", h.ack(1006, g1, okItem(second[2]), okItem(second[1])), AckResult{Success: 2})
	wantOffs(t, "while 1 in flight again", h.lease(1007, g1, 5, 30000))
	// 1 expires: it comes first, the done 2 and 3 are skipped, then 4.
	tr := h.tick(1005 + 30000)
	if tr.Expired != 1 {
		t.Fatalf("tick %+v", tr)
	}
	third := h.lease(1005+30000, g1, 5, 30000)
	wantOffs(t, "after expiry", third, 1, 4)
	if third[0].Deliveries != 3 {
		t.Fatalf("deliveries %d", third[0].Deliveries)
	}
	h.ack(40000, g1, okItem(third[0]), okItem(third[1]))
	h.wantStats(g1, GroupStats{Produced: 5, Consumed: 5})
}

func TestState_NormalDeliversPastInFlight(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "0", "1", "2")
	wantOffs(t, "first", h.lease(1000, g1, 1, 30000), 0)
	wantOffs(t, "second", h.lease(1000, g1, 5, 30000), 1, 2)
}

func TestState_DeadLetterAtMaxConsumeCount(t *testing.T) {
	for _, mcc := range []uint8{1, 2, 3} {
		for _, byExpiry := range []bool{false, true} {
			t.Run(fmt.Sprintf("max=%d/expiry=%v", mcc, byExpiry), func(t *testing.T) {
				h := newHarness(t, Policy{MaxConsumeCount: mcc, RetentionMs: normal.RetentionMs})
				h.enqueue(1000, "m")
				now := int64(1000)
				var last Delivery
				for i := 1; i <= int(mcc); i++ {
					h.wantStats(g1, GroupStats{Produced: 1, Available: 1})
					ds := h.lease(now, g1, 1, 100)
					wantOffs(t, fmt.Sprintf("delivery %d", i), ds, 0)
					if ds[0].Deliveries != i {
						t.Fatalf("delivery %d counted %d", i, ds[0].Deliveries)
					}
					last = ds[0]
					if byExpiry {
						now += 100
						tr := h.tick(now)
						want := TickResult{Expired: 1}
						if i == int(mcc) {
							want.DeadLettered = 1
						}
						if tr != want {
							t.Fatalf("tick %d = %+v, want %+v", i, tr, want)
						}
					} else {
						now++
						wantAck(t, "fail", h.ack(now, g1, failItem(ds[0])), AckResult{Fail: 1, Reason: ReasonStatusFail})
					}
				}
				h.wantStats(g1, GroupStats{Produced: 1, ProducedDeadLetters: 1, AvailableDeadLetters: 1})
				wantOffs(t, "normal lane after dead-lettering", h.lease(now, g1, 1, 100))
				if h.s.HasReady(g1, false, h.pol) || !h.s.HasReady(g1, true, h.pol) {
					t.Fatal("HasReady wrong after dead-lettering")
				}
				wantReason := ReasonAlreadyAcked
				if byExpiry {
					wantReason = ReasonExpired
				}
				wantAck(t, "old handler", h.ack(now, g1, okItem(last)), AckResult{Fail: 1, Reason: wantReason})
				dl := h.leaseDL(now+1, g1, 5, 100)
				if len(dl) != 1 {
					t.Fatalf("dead letters %+v", dl)
				}
				want := Delivery{Offset: 0, DeliveryID: h.idx, ExpiresAt: now + 101, ProducedAt: 1000, FirstDeliveredAt: now + 1,
					Deliveries: 1, Message: dl[0].Message, OriginalOffset: 0, DeadLetteredAt: now}
				if string(dl[0].Message.Body) != "m" || fmt.Sprint(dl[0]) != fmt.Sprint(want) {
					t.Fatalf("dead letter %+v, want %+v", dl[0], want)
				}
			})
		}
	}
}

func TestState_NoDeadLetterWhenRedriveOff(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(1000, "m")
	now := int64(1000)
	for i := 1; i <= 300; i++ {
		ds := h.lease(now, g1, 1, 10)
		if len(ds) != 1 || ds[0].Deliveries != i {
			t.Fatalf("lease %d: %+v", i, ds)
		}
		if i%2 == 0 {
			now += 10 // expire
		} else {
			h.ack(now, g1, failItem(ds[0]))
		}
	}
	h.tick(now + 10)
	h.wantStats(g1, GroupStats{Produced: 1, Available: 1})
	wantOffs(t, "dead letters", h.leaseDL(now+10, g1, 1, 10))
}

func TestState_DeadLetterLane(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 1, RetentionMs: normal.RetentionMs})
	h.enqueue(1000, "0", "1", "2")
	ds := h.lease(1000, g1, 3, 30000)
	// Fail 2 then 0: dead-letter sequence follows the order of failure.
	wantAck(t, "fail", h.ack(1001, g1, okItem(ds[1]), failItem(ds[2]), failItem(ds[0])), AckResult{Success: 1, Fail: 2, Reason: ReasonStatusFail})
	h.wantStats(g1, GroupStats{Produced: 3, Consumed: 1, Available: 0, ProducedDeadLetters: 2, AvailableDeadLetters: 2})
	dl := h.leaseDL(1002, g1, 10, 100)
	wantOffs(t, "dl lease", dl, 0, 1)
	if dl[0].OriginalOffset != 2 || dl[1].OriginalOffset != 0 || dl[0].DeadLetteredAt != 1001 {
		t.Fatalf("dead letters %+v", dl)
	}
	// Normal-lane handlers are refused by the dead-letter ack, and the reverse.
	wantAck(t, "normal handler", h.ackDL(1003, g1, okItem(ds[1])), AckResult{Fail: 1, Reason: ReasonSuperseded})
	wantAck(t, "dl handler on normal ack", h.ack(1003, g1, AckItem{Offset: 2, DeliveryID: dl[0].DeliveryID, Success: true}), AckResult{Fail: 1, Reason: ReasonSuperseded})
	// Fail in the dead-letter lane: ready again, no limit even at MaxConsumeCount 1.
	wantAck(t, "dl fail", h.ackDL(1003, g1, failItem(dl[0])), AckResult{Fail: 1, Reason: ReasonStatusFail})
	again := h.leaseDL(1004, g1, 10, 100)
	wantOffs(t, "dl redelivery", again, 0)
	if again[0].Deliveries != 2 || again[0].FirstDeliveredAt != 1002 {
		t.Fatalf("dl redelivery %+v", again[0])
	}
	// Expire both: ready again.
	if tr := h.tick(1104); tr.Expired != 2 || tr.DeadLettered != 0 {
		t.Fatalf("tick %+v", tr)
	}
	if exp, ok := h.s.NextExpiry(g1, true); ok {
		t.Fatalf("NextExpiry %d after all expired", exp)
	}
	third := h.leaseDL(1104, g1, 10, 100)
	wantOffs(t, "dl after expiry", third, 0, 1)
	wantAck(t, "dl old handler", h.ackDL(1105, g1, okItem(dl[1])), AckResult{Fail: 1, Reason: ReasonSuperseded})
	wantAck(t, "dl ack", h.ackDL(1105, g1, okItem(third[1]), okItem(third[0])), AckResult{Success: 2})
	h.wantStats(g1, GroupStats{Produced: 3, Consumed: 1, Available: 0, ProducedDeadLetters: 2, AvailableDeadLetters: 0})
	wantAck(t, "dl reuse", h.ackDL(1106, g1, okItem(third[0])), AckResult{Fail: 1, Reason: ReasonAlreadyAcked})
	wantOffs(t, "dl empty", h.leaseDL(1106, g1, 10, 100))
}

func TestState_DeadLetterLaneIgnoresFIFO(t *testing.T) {
	h := newHarness(t, Policy{FIFO: true, MaxConsumeCount: 1, RetentionMs: normal.RetentionMs})
	h.enqueue(1000, "0", "1")
	ds := h.lease(1000, g1, 1, 100)
	h.ack(1001, g1, failItem(ds[0]))
	ds = h.lease(1001, g1, 1, 100)
	h.ack(1002, g1, failItem(ds[0]))
	dl := h.leaseDL(1003, g1, 1, 100)
	wantOffs(t, "dl", dl, 0)
	wantOffs(t, "dl past in-flight", h.leaseDL(1003, g1, 1, 100), 1)
}

func TestState_RetentionTrims(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 1, RetentionMs: 1000})
	h.enqueue(1000, "0", "1")
	h.enqueue(1500, "2", "3")
	a := h.lease(1500, g1, 2, 100000) // 0, 1
	h.ack(1500, g1, okItem(a[0]))
	h.lease(1500, g2, 0, 100000) // g2 exists, nothing leased
	h.wantStats(g1, GroupStats{Produced: 4, Consumed: 1, Available: 3})
	if tr := h.tick(2000); tr != (TickResult{}) {
		t.Fatalf("tick at the boundary trimmed: %+v", tr)
	}
	if tr := h.tick(2001); tr != (TickResult{Trimmed: 2}) {
		t.Fatalf("tick = %+v, want 2 trimmed", tr)
	}
	if first, next := h.s.Offsets(); first != 2 || next != 4 {
		t.Fatalf("offsets [%d, %d)", first, next)
	}
	h.wantStats(g1, GroupStats{Produced: 2, Available: 2})
	h.wantStats(g2, GroupStats{Produced: 2, Available: 2})
	if _, ok := h.s.NextExpiry(g1, false); ok {
		t.Fatal("trimmed lease still pending")
	}
	wantAck(t, "trimmed delivery", h.ack(2001, g1, okItem(a[1])), AckResult{Fail: 1, Reason: ReasonSuperseded})
	b := h.lease(2001, g1, 10, 100000)
	wantOffs(t, "g1 after trim", b, 2, 3)
	c := h.lease(2001, g2, 10, 100000)
	wantOffs(t, "g2 after trim", c, 2, 3)
	if got := h.enqueue(2001, "4"); got.FirstOffset != 4 {
		t.Fatalf("enqueue after trim at %d", got.FirstOffset)
	}
	// g1 dead-letters 2 at 2002 and consumes 3; g2 consumes both.
	h.ack(2002, g1, okItem(b[1]), failItem(b[0]))
	h.ack(2002, g2, okItem(c[0]), okItem(c[1]))
	h.wantStats(g1, GroupStats{Produced: 3, Consumed: 1, Available: 1, ProducedDeadLetters: 1, AvailableDeadLetters: 1})
	h.wantStats(g2, GroupStats{Produced: 3, Consumed: 2, Available: 1})
	// 2 and 3 leave the log; the dead letter of 2 stays.
	if tr := h.tick(2501); tr != (TickResult{Trimmed: 2}) {
		t.Fatalf("tick = %+v, want 2 trimmed", tr)
	}
	h.wantStats(g1, GroupStats{Produced: 1, Available: 1, ProducedDeadLetters: 1, AvailableDeadLetters: 1})
	h.wantStats(g2, GroupStats{Produced: 1, Available: 1})
	dl := h.leaseDL(2501, g1, 10, 100)
	wantOffs(t, "dl", dl, 0)
	if dl[0].OriginalOffset != 2 || dl[0].DeadLetteredAt != 2002 || dl[0].ProducedAt != 1500 || string(dl[0].Message.Body) != "2" {
		t.Fatalf("dead letter %+v", dl[0])
	}
	h.ackDL(2501, g1, okItem(dl[0]))
	h.wantStats(g1, GroupStats{Produced: 1, Available: 1, ProducedDeadLetters: 1})
	d := h.lease(2502, g1, 10, 100)
	wantOffs(t, "g1 lease", d, 4)
	h.ack(2503, g1, failItem(d[0])) // dead letter 1, at 2503
	h.wantStats(g1, GroupStats{Produced: 1, ProducedDeadLetters: 2, AvailableDeadLetters: 1})
	// Dead letters go 72 h after they were dead-lettered.
	if tr := h.tick(2002 + DeadLetterRetentionMs); tr != (TickResult{Trimmed: 1}) { // message 4
		t.Fatalf("tick at the dead-letter boundary %+v", tr)
	}
	h.wantStats(g1, GroupStats{ProducedDeadLetters: 2, AvailableDeadLetters: 1})
	if tr := h.tick(2003 + DeadLetterRetentionMs); tr != (TickResult{Trimmed: 1}) { // dead letter 0
		t.Fatalf("tick past dead letter 0 %+v", tr)
	}
	h.wantStats(g1, GroupStats{ProducedDeadLetters: 2, AvailableDeadLetters: 1})
	if tr := h.tick(2504 + DeadLetterRetentionMs); tr != (TickResult{Trimmed: 1}) { // dead letter 1
		t.Fatalf("tick past dead letter 1 %+v", tr)
	}
	h.wantStats(g1, GroupStats{ProducedDeadLetters: 2})
	wantOffs(t, "no dead letters", h.leaseDL(2504+DeadLetterRetentionMs, g1, 10, 100))
	// Offsets and sequences keep increasing.
	now := int64(2505 + DeadLetterRetentionMs)
	if got := h.enqueue(now, "5"); got.FirstOffset != 5 {
		t.Fatalf("enqueue after trims at %d", got.FirstOffset)
	}
	e := h.lease(now, g1, 10, 100)
	wantOffs(t, "g1 lease", e, 5)
	h.ack(now, g1, failItem(e[0]))
	dl = h.leaseDL(now, g1, 10, 100)
	wantOffs(t, "dl after trims", dl, 2)
	if dl[0].OriginalOffset != 5 {
		t.Fatalf("dead letter %+v", dl[0])
	}
	h.wantStats(g1, GroupStats{Produced: 1, ProducedDeadLetters: 3, AvailableDeadLetters: 1})
	h.wantStats(g2, GroupStats{Produced: 1, Available: 1})
}

func TestState_RetentionBoundary(t *testing.T) {
	h := newHarness(t, Policy{RetentionMs: 1000})
	h.enqueue(1000, "0")
	h.enqueue(1001, "1")
	h.enqueue(1002, "2")
	// At 2001 the cutoff is 1001: only what was produced before it goes.
	if tr := h.tick(2001); tr.Trimmed != 1 {
		t.Fatalf("tick = %+v, want 1 trimmed", tr)
	}
	wantOffs(t, "lease", h.lease(2001, g1, 10, 100), 1, 2)
}

func TestState_RetentionOffKeepsEverything(t *testing.T) {
	h := newHarness(t, Policy{})
	h.enqueue(1000, "0")
	if tr := h.tick(math.MaxInt64); tr.Trimmed != 0 || h.s.Produced() != 1 {
		t.Fatalf("trimmed with RetentionMs 0: %+v", tr)
	}
}

func TestState_Forget(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 1, RetentionMs: normal.RetentionMs})
	h.enqueue(1000, "0", "1", "2")
	ds := h.lease(1000, g1, 3, 30000)
	h.ack(1001, g1, okItem(ds[0]), failItem(ds[1]))
	b := h.lease(1001, g2, 1, 30000)
	h.wantStats(g1, GroupStats{Produced: 3, Consumed: 1, Available: 1, ProducedDeadLetters: 1, AvailableDeadLetters: 1})
	h.forget(1002, g1)
	if len(h.s.Groups()) != 1 || h.s.Groups()[0] != g2 {
		t.Fatalf("groups %v", h.s.Groups())
	}
	h.wantStats(g1, GroupStats{Produced: 3, Available: 3})
	if _, ok := h.s.NextExpiry(g1, false); ok || h.s.HasReady(g1, true, h.pol) {
		t.Fatal("forgotten group still has leases or dead letters")
	}
	wantAck(t, "old handler", h.ack(1003, g1, okItem(ds[2])), AckResult{Fail: 1, Reason: ReasonSuperseded})
	again := h.lease(1003, g1, 5, 30000)
	wantOffs(t, "fresh start", again, 0, 1, 2)
	if again[0].Deliveries != 1 {
		t.Fatalf("deliveries %d", again[0].Deliveries)
	}
	wantAck(t, "g2 untouched", h.ack(1004, g2, okItem(b[0])), AckResult{Success: 1})
	h.forget(1005, "never-seen")
}

func TestState_ClockBackwardsIsClamped(t *testing.T) {
	h := newHarness(t, normal)
	h.enqueue(5000, "0")
	h.enqueue(1000, "1")
	if h.s.Now() != 5000 {
		t.Fatalf("Now = %d", h.s.Now())
	}
	ds := h.lease(2000, g1, 2, 100)
	if ds[1].ProducedAt != 5000 || ds[0].ExpiresAt != 5100 || ds[0].FirstDeliveredAt != 5000 {
		t.Fatalf("deliveries %+v", ds)
	}
	// A leader whose clock is behind cannot expire anything early either.
	if tr := h.tick(5099); tr.Expired != 0 {
		t.Fatalf("tick %+v", tr)
	}
	if exp, ok := h.s.NextExpiry(g1, false); !ok || exp != 5100 {
		t.Fatalf("NextExpiry %d %v", exp, ok)
	}
	if tr := h.tick(5100); tr.Expired != 2 {
		t.Fatalf("tick %+v", tr)
	}
	if tr := h.tick(0); tr != (TickResult{}) || h.s.Now() != 5100 {
		t.Fatalf("tick back to 0: %+v, now %d", tr, h.s.Now())
	}
}

func TestState_LeaseTimesSaturate(t *testing.T) {
	h := newHarness(t, Policy{})
	h.enqueue(math.MaxInt64-10, "0", "1")
	ds := h.lease(0, g1, 1, 100)
	if ds[0].ExpiresAt != math.MaxInt64 {
		t.Fatalf("ExpiresAt %d", ds[0].ExpiresAt)
	}
	ds = h.lease(0, g1, 1, -5)
	if ds[0].ExpiresAt != math.MaxInt64-10 {
		t.Fatalf("negative ack wait: ExpiresAt %d", ds[0].ExpiresAt)
	}
	if tr := h.tick(0); tr.Expired != 1 {
		t.Fatalf("zero-length lease not expired: %+v", tr)
	}
}

func TestState_StatsAtEachStep(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 2, RetentionMs: 10000})
	h.wantStats(g1, GroupStats{})
	h.enqueue(1000, "0", "1", "2", "3")
	h.wantStats(g1, GroupStats{Produced: 4, Available: 4})
	ds := h.lease(1000, g1, 4, 100)
	h.wantStats(g1, GroupStats{Produced: 4, Available: 4}) // in flight counts as available
	h.ack(1001, g1, okItem(ds[3]), okItem(ds[1]))
	h.wantStats(g1, GroupStats{Produced: 4, Consumed: 2, Available: 2})
	h.ack(1002, g1, failItem(ds[0]))
	h.wantStats(g1, GroupStats{Produced: 4, Consumed: 2, Available: 2})
	h.tick(1100) // 2 expires (1 failure); nothing dead-lettered yet
	h.wantStats(g1, GroupStats{Produced: 4, Consumed: 2, Available: 2})
	ds = h.lease(1100, g1, 4, 100)
	wantOffs(t, "redeliveries", ds, 0, 2)
	h.tick(1200) // both reach 2 failures
	h.wantStats(g1, GroupStats{Produced: 4, Consumed: 2, Available: 0, ProducedDeadLetters: 2, AvailableDeadLetters: 2})
	dl := h.leaseDL(1200, g1, 1, 100)
	h.ackDL(1201, g1, okItem(dl[0]))
	h.wantStats(g1, GroupStats{Produced: 4, Consumed: 2, Available: 0, ProducedDeadLetters: 2, AvailableDeadLetters: 1})
	h.enqueue(5000, "4")
	h.wantStats(g1, GroupStats{Produced: 5, Consumed: 2, Available: 1, ProducedDeadLetters: 2, AvailableDeadLetters: 1})
	h.tick(11001) // 0..3 trimmed (produced at 1000)
	h.wantStats(g1, GroupStats{Produced: 1, Consumed: 0, Available: 1, ProducedDeadLetters: 2, AvailableDeadLetters: 1})
	h.wantStats(g2, GroupStats{Produced: 1, Available: 1})
}

func TestState_HasReadyAndNextExpiry(t *testing.T) {
	h := newHarness(t, normal)
	if h.s.HasReady(g1, false, h.pol) {
		t.Fatal("HasReady on an empty partition")
	}
	h.enqueue(1000, "0", "1")
	if !h.s.HasReady(g1, false, h.pol) || h.s.HasReady(g1, true, h.pol) {
		t.Fatal("HasReady for a group never seen")
	}
	ds := h.lease(1000, g1, 1, 300)
	h.lease(1010, g1, 1, 100)
	if exp, ok := h.s.NextExpiry(g1, false); !ok || exp != 1110 {
		t.Fatalf("NextExpiry = %d %v, want 1110", exp, ok)
	}
	if h.s.HasReady(g1, false, h.pol) {
		t.Fatal("HasReady with everything in flight")
	}
	h.ack(1011, g1, failItem(ds[0]))
	if !h.s.HasReady(g1, false, h.pol) {
		t.Fatal("no HasReady after a release")
	}
	if _, ok := h.s.NextExpiry(g2, false); ok {
		t.Fatal("NextExpiry for a group never seen")
	}
	if exp, ok := h.s.EarliestExpiry(); !ok || exp != 1110 {
		t.Fatalf("EarliestExpiry = %d %v, want 1110", exp, ok)
	}
	h.lease(1012, g2, 1, 50) // offset 0 for g2, until 1062
	if exp, ok := h.s.EarliestExpiry(); !ok || exp != 1062 {
		t.Fatalf("EarliestExpiry = %d %v, want 1062", exp, ok)
	}
	h.tick(2000)
	if exp, ok := h.s.EarliestExpiry(); ok {
		t.Fatalf("EarliestExpiry = %d after everything expired", exp)
	}
}

func TestState_ApplyPanicsOnUnknownCommands(t *testing.T) {
	for _, c := range []Command{nil, otherCommand{}} {
		s := NewState()
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("Apply(%#v) did not panic", c)
				}
			}()
			s.Apply(1, c)
		}()
		if s.Index() != 0 {
			t.Fatalf("Apply(%#v) changed the state before panicking", c)
		}
	}
}

func TestState_IndexIsTheLastApplied(t *testing.T) {
	s := NewState()
	s.Apply(7, &Tick{})
	if s.Index() != 7 {
		t.Fatalf("Index = %d", s.Index())
	}
}

// TestState_MemoryShrinks checks that a lane's maps and heaps, and the log,
// give memory back once a burst is settled, and that nothing observable
// changes when they do.
func TestState_MemoryShrinks(t *testing.T) {
	h := newHarness(t, Policy{RetentionMs: 1000})
	h.quiet = true
	const n = 5000
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Body: []byte("m")}
	}
	h.apply(&Enqueue{Header: h.hdr(1000), Messages: msgs})
	var all []Delivery
	for len(all) < n {
		ds := h.lease(1000, g1, 16, 100000)
		all = append(all, ds...)
	}
	// Ack everything but the first: the done set grows to n-1 above a
	// stuck floor.
	for i := n - 1; i >= 1; i -= 10 {
		var items []AckItem
		for j := i; j > i-10 && j >= 1; j-- {
			items = append(items, okItem(all[j]))
		}
		h.ack(1001, g1, items...)
	}
	ln := h.s.groups[g1].normal
	if len(ln.done) != n-1 || ln.doneHigh != n-1 || len(ln.recs) != 1 {
		t.Fatalf("done %d (high %d), recs %d", len(ln.done), ln.doneHigh, len(ln.recs))
	}
	checkInvariants(t, h.s)
	h.ack(1002, g1, okItem(all[0]))
	h.tick(1003) // compaction runs in the next command's housekeeping
	checkInvariants(t, h.s)
	if ln.floor != n || len(ln.done) != 0 || ln.doneHigh != 0 || ln.recsHigh > shrinkMin || cap(ln.expiry) > shrinkMin {
		t.Fatalf("floor %d, done %d (high %d), recs high %d, expiry cap %d", ln.floor, len(ln.done), ln.doneHigh, ln.recsHigh, cap(ln.expiry))
	}
	h.enqueue(1500, "last")
	if tr := h.tick(2001); tr.Trimmed != n {
		t.Fatalf("tick %+v", tr)
	}
	if len(h.s.log.chunks) != 1 || cap(h.s.log.chunks[0]) > chunkLen {
		t.Fatalf("log keeps %d chunks for 1 message", len(h.s.log.chunks))
	}
	h.wantStats(g1, GroupStats{Produced: 1, Available: 1})
}

func TestState_NeedsTick(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 1, RetentionMs: 1000})
	if h.s.NeedsTick(1_000_000, h.pol) {
		t.Fatal("empty state needs a tick")
	}
	h.enqueue(1000, "0")
	if h.s.NeedsTick(2000, h.pol) || !h.s.NeedsTick(2001, h.pol) {
		t.Fatal("retention boundary")
	}
	if h.s.NeedsTick(5000, Policy{}) {
		t.Fatal("needs a tick with retention off")
	}
	ds := h.lease(1000, g1, 1, 100)
	if h.s.NeedsTick(1099, Policy{}) || !h.s.NeedsTick(1100, Policy{}) {
		t.Fatal("lease expiry boundary")
	}
	h.ack(1001, g1, failItem(ds[0])) // dead-lettered at 1001
	h.pol = Policy{}                 // keep the message; look at the dead letter only
	if h.s.NeedsTick(1001+DeadLetterRetentionMs, h.pol) || !h.s.NeedsTick(1002+DeadLetterRetentionMs, h.pol) {
		t.Fatal("dead-letter retention boundary")
	}
	h.tick(1100)
	// A clock behind the state's is clamped, as Apply would: at 1100 the
	// message of 1000 is past a 50 ms retention, at 0 it would not be.
	if !h.s.NeedsTick(0, Policy{RetentionMs: 50}) {
		t.Fatal("NeedsTick ignores the state's clock")
	}
	h.leaseDL(1100, g1, 1, 50)
	if h.s.NeedsTick(1149, h.pol) || !h.s.NeedsTick(1150, h.pol) {
		t.Fatal("dead-letter lease expiry boundary")
	}
}

// Backlog counts what a plain lease would find (redeliveries and unread
// messages) and declines to count where only applying a lease can tell.
func TestState_Backlog(t *testing.T) {
	h := newHarness(t, Policy{MaxConsumeCount: 5})
	q := func(now int64) ReadyQuery { return ReadyQuery{Now: now, Policy: h.pol} }
	if _, exact := h.s.Backlog("g", q(1000)); exact {
		t.Fatal("a group that does not exist yet was counted")
	}
	h.enqueue(1000, `"a"`, `"b"`, `"c"`, `"d"`)
	ds := h.lease(1000, "g", 3, 30_000)
	if n, exact := h.s.Backlog("g", q(1000)); !exact || n != 1 {
		t.Fatalf("backlog %d (exact %v), want 1 unread", n, exact)
	}
	h.ack(1000, "g", AckItem{Offset: ds[0].Offset, DeliveryID: ds[0].DeliveryID, Success: false})
	if n, exact := h.s.Backlog("g", q(1000)); !exact || n != 2 {
		t.Fatalf("backlog %d (exact %v), want 1 unread and 1 to redeliver", n, exact)
	}
	if _, exact := h.s.Backlog("g", q(1000+30_001)); exact {
		t.Fatal("counted while leases have expired unsettled")
	}
	fifo := q(1000)
	fifo.Policy.FIFO = true
	if _, exact := h.s.Backlog("g", fifo); exact {
		t.Fatal("counted a FIFO lane")
	}
}
