package httpapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"raftmq/cluster"
)

func TestDMS_Queues(t *testing.T) {
	e := startEnv(t, nil)
	before := time.Now().UnixMilli()
	q := e.createQueue("p1", `{"name":"orders","description":"all the orders"}`)
	e.fails("POST", "/v1.0/p1/queues", `{"name":"orders"}`, 400, codeQueueExists)
	// Names are per project.
	qOther := e.createQueue("p2", `{"name":"orders"}`)

	var qj queueJSON
	e.ok("GET", "/v1.0/p1/queues/"+q, "", 200, &qj)
	if qj.ID != q || qj.Name != "orders" || qj.Description != "all the orders" || qj.QueueMode != "NORMAL" ||
		qj.Reservation != 4320 || qj.MaxMsgSizeByte != 524288 || qj.ProducedMessages != 0 || qj.GroupCount != 0 ||
		qj.Created < before || qj.EffDate != qj.Created || qj.RedrivePolicy != nil || qj.MaxConsumeCount != nil {
		t.Fatalf("queue %+v", qj)
	}
	e.ok("GET", "/v1.0/p1/queues/"+q+"?include_deadletter=true", "", 200, &qj)
	if qj.RedrivePolicy == nil || *qj.RedrivePolicy != "disable" || qj.MaxConsumeCount == nil {
		t.Fatalf("include_deadletter: %+v", qj)
	}
	// Absent or empty parameters take defaults.
	qj = queueJSON{}
	e.ok("GET", "/v1.0/p1/queues/"+q+"?include_deadletter=", "", 200, &qj)
	if qj.RedrivePolicy != nil {
		t.Fatalf("include_deadletter empty: %+v", qj)
	}

	fifo := e.createQueue("p1", `{"name":"fifo","queue_mode":"FIFO","redrive_policy":"enable","max_consume_count":7}`)
	e.ok("GET", "/v1.0/p1/queues/"+fifo+"?include_deadletter=TRUE", "", 200, &qj)
	if qj.QueueMode != "FIFO" || *qj.RedrivePolicy != "enable" || *qj.MaxConsumeCount != 7 {
		t.Fatalf("fifo: %+v", qj)
	}
	kafka := e.createQueue("p1", `{"name":"k","queue_mode":"KAFKA_HA","retention_hours":2}`)
	e.ok("GET", "/v1.0/p1/queues/"+kafka, "", 200, &qj)
	if qj.QueueMode != "KAFKA_HA" || qj.Reservation != 120 {
		t.Fatalf("kafka: %+v", qj)
	}
	kafkaHT := e.createQueue("p1", `{"name":"k2","queue_mode":"KAFKA_HT"}`)
	e.ok("GET", "/v1.0/p1/queues/"+kafkaHT, "", 200, &qj)
	if qj.QueueMode != "KAFKA_HT" || qj.Reservation != 4320 {
		t.Fatalf("kafka ht: %+v", qj)
	}

	var list struct {
		Total  int         `json:"total"`
		Queues []queueJSON `json:"queues"`
	}
	e.ok("GET", "/v1.0/p1/queues?include_deadletter=true", "", 200, &list)
	if list.Total != 4 || len(list.Queues) != 4 {
		t.Fatalf("list: %+v", list)
	}
	var names []string
	for _, lq := range list.Queues {
		names = append(names, lq.Name)
		if lq.RedrivePolicy == nil {
			t.Errorf("list with include_deadletter: %+v", lq)
		}
	}
	slices.Sort(names)
	if fmt.Sprint(names) != "[fifo k k2 orders]" {
		t.Fatalf("names %v", names)
	}

	// Projects are isolated.
	e.fails("GET", "/v1.0/p2/queues/"+q, "", 404, codeQueueNotFound)
	e.fails("DELETE", "/v1.0/p2/queues/"+q, "", 404, codeQueueNotFound)
	e.fails("POST", "/v1.0/p2/queues/"+q+"/messages", `{"messages":[{"body":1}]}`, 404, codeQueueNotFound)
	e.ok("GET", "/v1.0/p3/queues", "", 200, &list)
	if list.Total != 0 || list.Queues == nil {
		t.Fatalf("empty project: %+v", list)
	}
	e.ok("GET", "/v1.0/p2/queues", "", 200, &list)
	if list.Total != 1 || list.Queues[0].ID != qOther {
		t.Fatalf("p2: %+v", list)
	}

	// Not found.
	missing := "00000000-0000-4000-8000-000000000000"
	e.fails("GET", "/v1.0/p1/queues/"+missing, "", 404, codeQueueNotFound)
	e.fails("GET", "/v1.0/p1/queues/not-a-uuid", "", 404, codeQueueNotFound)
	e.fails("DELETE", "/v1.0/p1/queues/"+missing, "", 404, codeQueueNotFound)

	// Delete: 204, then gone everywhere.
	r := e.request("DELETE", "/v1.0/p1/queues/"+q, "")
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %d %q", r.status, r.body)
	}
	e.fails("GET", "/v1.0/p1/queues/"+q, "", 404, codeQueueNotFound)
	e.fails("DELETE", "/v1.0/p1/queues/"+q, "", 404, codeQueueNotFound)
	e.fails("GET", "/v1.0/p1/queues/"+q+"/groups", "", 404, codeQueueNotFound)
	e.ok("GET", "/v1.0/p1/queues", "", 200, &list)
	if list.Total != 3 {
		t.Fatalf("after delete: %+v", list)
	}
	// The name is free again.
	e.createQueue("p1", `{"name":"orders"}`)
}

func TestDMS_Quotas(t *testing.T) {
	e := startEnv(t, nil, func(c *cluster.Config) { c.MaxQueuesPerProject = 4 })
	type quotas struct {
		Quotas struct {
			Resources []struct {
				Type                  string
				Quota, Used, Min, Max int
			}
		}
	}
	var qs quotas
	e.ok("GET", "/v1.0/p1/quotas/dms", "", 200, &qs)
	if len(qs.Quotas.Resources) != 1 {
		t.Fatalf("quotas %+v", qs)
	}
	res := qs.Quotas.Resources[0]
	if res.Type != "queue" || res.Quota != 4 || res.Max != 4 || res.Min != 0 || res.Used != 0 {
		t.Fatalf("quota %+v", res)
	}
	for i := range 4 {
		e.createQueue("p1", fmt.Sprintf(`{"name":"q%d"}`, i))
	}
	e.fails("POST", "/v1.0/p1/queues", `{"name":"one-too-many"}`, 400, codeQueueQuota)
	e.ok("GET", "/v1.0/p1/quotas/dms", "", 200, &qs)
	if res := qs.Quotas.Resources[0]; res.Used != 4 || res.Quota != 4 {
		t.Fatalf("quota after: %+v", res)
	}
	// Per project.
	e.createQueue("p2", `{"name":"q0"}`)
	e.fails("GET", "/v1.0/bad.project/quotas/dms", "", 400, codeProjectInvalid)
	e.fails("POST", "/v1.0/p1/quotas/dms", "", 405, codeUnknownPath)
}

func TestDMS_Groups(t *testing.T) {
	e := startEnv(t, nil, func(c *cluster.Config) { c.MaxGroupsPerQueue = 3 })
	q := e.createQueue("p1", `{"name":"q","redrive_policy":"enable","max_consume_count":5}`)
	g1 := e.createGroup("p1", q, "g1")
	e.fails("POST", "/v1.0/p1/queues/"+q+"/groups", `{"groups":[{"name":"g1"}]}`, 400, codeGroupExists)
	// All or none: g2 is not created with the existing g1.
	e.fails("POST", "/v1.0/p1/queues/"+q+"/groups", `{"groups":[{"name":"g2"},{"name":"g1"}]}`, 400, codeGroupExists)
	var created struct {
		Groups []struct{ ID, Name string }
	}
	e.ok("POST", "/v1.0/p1/queues/"+q+"/groups", `{"groups":[{"name":"g2"},{"name":"g3"}]}`, 201, &created)
	if len(created.Groups) != 2 || created.Groups[0].Name != "g2" || created.Groups[1].Name != "g3" || created.Groups[0].ID == created.Groups[1].ID {
		t.Fatalf("created %+v", created)
	}
	g3 := created.Groups[1].ID
	e.fails("POST", "/v1.0/p1/queues/"+q+"/groups", `{"groups":[{"name":"g4"}]}`, 400, codeGroupQuota)
	e.fails("POST", "/v1.0/p1/queues/"+q+"/groups", `{"groups":[{"name":"g4"},{"name":"g5"}]}`, 400, codeGroupQuota)

	e.produce("p1", q, `1`, `2`, `3`)
	got := e.consumeN("p1", q, g1, "messages", 3, "")
	e.ack("p1", q, g1, "ack", ackEntry{got[0].Handler, "success"})

	var list groupListJSON
	e.ok("GET", "/v1.0/p1/queues/"+q+"/groups", "", 200, &list)
	if list.QueueID != q || list.QueueName != "q" || len(list.Groups) != 3 || list.RedrivePolicy != nil {
		t.Fatalf("groups %+v", list)
	}
	if gs := list.Groups[0]; gs.ID != g1 || gs.Name != "g1" || gs.ProducedMessages != 3 || gs.ConsumedMessages != 1 || gs.AvailableMessages != 2 || gs.ProducedDeadletters != nil {
		t.Fatalf("g1 %+v", gs)
	}
	if g2 := list.Groups[1]; g2.ProducedMessages != 3 || g2.ConsumedMessages != 0 || g2.AvailableMessages != 3 {
		t.Fatalf("g2 %+v", g2)
	}
	e.ok("GET", "/v1.0/p1/queues/"+q+"/groups?include_deadletter=true", "", 200, &list)
	if list.RedrivePolicy == nil || *list.RedrivePolicy != "enable" {
		t.Fatalf("groups with dead letters %+v", list)
	}
	for _, g := range list.Groups {
		if g.ProducedDeadletters == nil || g.AvailableDeadletters == nil || *g.ProducedDeadletters != 0 {
			t.Fatalf("group with dead letters %+v", g)
		}
	}
	var qj queueJSON
	e.ok("GET", "/v1.0/p1/queues/"+q, "", 200, &qj)
	if qj.GroupCount != 3 || qj.ProducedMessages != 3 {
		t.Fatalf("queue %+v", qj)
	}

	// Delete.
	r := e.request("DELETE", "/v1.0/p1/queues/"+q+"/groups/"+g3, "")
	if r.status != 204 {
		t.Fatalf("delete group: %d %s", r.status, r.body)
	}
	e.fails("DELETE", "/v1.0/p1/queues/"+q+"/groups/"+g3, "", 404, codeGroupNotFound)
	e.fails("GET", groupPath("p1", q, g3)+"/messages?time_wait=1", "", 404, codeGroupNotFound)
	e.fails("DELETE", "/v1.0/p1/queues/"+q+"/groups/not-a-group", "", 404, codeGroupNotFound)
	missing := "00000000-0000-4000-8000-000000000000"
	e.fails("DELETE", "/v1.0/p1/queues/"+missing+"/groups/"+g3, "", 404, codeQueueNotFound)
	e.fails("DELETE", "/v1.0/p1/queues/"+missing+"/groups/x", "", 404, codeQueueNotFound)
	e.fails("POST", "/v1.0/p1/queues/"+missing+"/groups", `{"groups":[{"name":"g"}]}`, 404, codeQueueNotFound)
	e.fails("GET", "/v1.0/p1/queues/"+missing+"/groups", "", 404, codeQueueNotFound)
	e.ok("GET", "/v1.0/p1/queues/"+q+"/groups", "", 200, &list)
	if len(list.Groups) != 2 {
		t.Fatalf("after delete %+v", list)
	}
	// Room for one more now.
	e.createGroup("p1", q, "g4")
	// Groups of another project's queue are invisible.
	e.fails("GET", "/v1.0/p2/queues/"+q+"/groups", "", 404, codeQueueNotFound)
	e.fails("POST", "/v1.0/p2/queues/"+q+"/groups", `{"groups":[{"name":"x"}]}`, 404, codeQueueNotFound)
}

// Bodies come back byte for byte; attributes as sent or {}; returnId ids.
func TestDMS_ProduceConsumeExactBytes(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q","queue_mode":"FIFO"}`)
	g := e.createGroup("p1", q, "g")
	bodies := []string{
		`{"foo" : "123=",  "n": [1, 2.50, -0, 1e3]}`,
		`"caf\u00e9 \"quoted\" \/"`,
		`12345678901234567890123`,
		`[ ]`,
		`true`,
		`"é"`,
	}
	attrs := []string{`{"a" : "b"}`, ``, `{}`, ``, `{"n":{"deep":[1]}}`, ``}
	ms := make([]string, len(bodies))
	for i := range bodies {
		ms[i] = `{"body":` + bodies[i]
		if attrs[i] != "" {
			ms[i] += `,"attributes":` + attrs[i]
		}
		ms[i] += `}`
	}
	var out struct {
		Messages []struct {
			State     int     `json:"state"`
			Error     *string `json:"error"`
			ErrorCode *string `json:"error_code"`
			ID        string  `json:"id"`
		} `json:"messages"`
	}
	raw := e.ok("POST", "/v1.0/p1/queues/"+q+"/messages", `{"messages":[`+strings.Join(ms, ",")+`],"returnId":true}`, 201, &out)
	if !strings.Contains(string(raw), `"error":null`) || !strings.Contains(string(raw), `"error_code":null`) {
		t.Fatalf("produce answer %s", raw)
	}
	ids := map[string]bool{}
	for _, m := range out.Messages {
		if m.State != 0 || len(m.ID) != 32 || ids[m.ID] {
			t.Fatalf("produce answer %s", raw)
		}
		ids[m.ID] = true
	}
	// Without returnId: no ids.
	raw = e.ok("POST", "/v1.0/p1/queues/"+q+"/messages", `{"messages":[{"body":"x"}]}`, 201, nil)
	if string(raw) != `{"messages":[{"state":0,"error":null,"error_code":null}]}` {
		t.Fatalf("produce answer %s", raw)
	}

	resp := e.request("GET", groupPath("p1", q, g)+"/messages?max_msgs=10&time_wait=1", "")
	if resp.status != 200 || !strings.HasPrefix(resp.header.Get("Content-Type"), "application/json") {
		t.Fatalf("consume %d %v", resp.status, resp.header)
	}
	for i := range bodies {
		a := attrs[i]
		if a == "" {
			a = "{}"
		}
		want := `{"message":{"body":` + bodies[i] + `,"attributes":` + a + `},"handler":"`
		if !strings.Contains(string(resp.body), want) {
			t.Errorf("consume answer lacks %s\n%s", want, resp.body)
		}
	}
	var got []consumed
	if err := json.Unmarshal(resp.body, &got); err != nil {
		t.Fatalf("consume answer is not JSON: %v\n%s", err, resp.body)
	}
	if len(got) != len(bodies)+1 {
		t.Fatalf("consumed %d", len(got))
	}
}

func TestDMS_LongPoll(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	g := e.createGroup("p1", q, "g")

	t.Run("returns early when a message arrives", func(t *testing.T) {
		type result struct {
			got []consumed
			at  time.Time
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			var out []consumed
			resp, err := e.client.Get(e.base + groupPath("p1", q, g) + "/messages?time_wait=20")
			if err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
			}
			done <- result{out, time.Now()}
		}()
		e.waitWaiting(1)
		// The consumer is inside Broker.Consume; give it a moment to start
		// waiting, so that the produce below wakes a waiting poll rather than
		// racing its first look.
		time.Sleep(200 * time.Millisecond)
		produced := time.Now()
		e.produce("p1", q, `"wake up"`)
		r := <-done
		if len(r.got) != 1 || string(r.got[0].Message.Body) != `"wake up"` {
			t.Fatalf("got %+v", r.got)
		}
		if el := r.at.Sub(start); el > 5*time.Second {
			t.Fatalf("long poll returned after %v, time_wait was 20 s", el)
		}
		t.Logf("woke %v after the produce", r.at.Sub(produced))
		e.ack("p1", q, g, "ack", ackEntry{r.got[0].Handler, "success"})
	})

	t.Run("waits the full time_wait when nothing comes", func(t *testing.T) {
		start := time.Now()
		got := e.consume("p1", q, g, "messages", "time_wait=2")
		el := time.Since(start)
		if len(got) != 0 {
			t.Fatalf("got %+v", got)
		}
		if el < 1900*time.Millisecond || el > 5*time.Second {
			t.Fatalf("empty long poll took %v, time_wait was 2 s", el)
		}
	})
}

// Ordered ack [success, success, fail, success] gives {"success":2,
// "fail":2}; the last two are redelivered, the first two never again.
func TestDMS_OrderedAck(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	g := e.createGroup("p1", q, "g")
	e.produce("p1", q, `"m0"`, `"m1"`, `"m2"`, `"m3"`)
	got := e.consumeN("p1", q, g, "messages", 4, "ack_wait=60")
	res := e.ack("p1", q, g, "ack",
		ackEntry{got[0].Handler, "success"},
		ackEntry{got[1].Handler, "success"},
		ackEntry{got[2].Handler, "fail"},
		ackEntry{got[3].Handler, "success"},
	)
	if res.Success != 2 || res.Fail != 2 || res.FirstFailure.Index != 2 || res.FirstFailure.Reason != "status_fail" {
		t.Fatalf("ack %+v", res)
	}
	again := e.consumeN("p1", q, g, "messages", 2, "")
	want := bodiesOf(got[2:])
	gotBodies := bodiesOf(again)
	slices.Sort(want)
	slices.Sort(gotBodies)
	if !slices.Equal(gotBodies, want) {
		t.Fatalf("redelivered %v, want %v", gotBodies, want)
	}
	res = e.ack("p1", q, g, "ack", ackEntry{again[0].Handler, ""}, ackEntry{again[1].Handler, "success"})
	if res.Success != 2 || res.Fail != 0 {
		t.Fatalf("ack %+v", res)
	}
	if left := e.consume("p1", q, g, "messages", "time_wait=1"); len(left) != 0 {
		t.Fatalf("delivered again: %v", bodiesOf(left))
	}
	var list groupListJSON
	e.ok("GET", "/v1.0/p1/queues/"+q+"/groups", "", 200, &list)
	if gs := list.Groups[0]; gs.ConsumedMessages != 4 || gs.AvailableMessages != 0 {
		t.Fatalf("group stats %+v", gs)
	}
}

// Handlers are single use and bound to their queue, group and door.
func TestDMS_HandlerMisuse(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q","redrive_policy":"enable","max_consume_count":1}`)
	q2 := e.createQueue("p1", `{"name":"q2"}`)
	g := e.createGroup("p1", q, "g")
	other := e.createGroup("p1", q, "other")
	g2 := e.createGroup("p1", q2, "g")
	e.produce("p1", q, `"a"`)
	e.produce("p1", q2, `"b"`)

	first := e.consumeN("p1", q, g, "messages", 1, "ack_wait=60")[0]
	otherGroup := e.consumeN("p1", q, other, "messages", 1, "ack_wait=60")[0]
	otherQueue := e.consumeN("p1", q2, g2, "messages", 1, "ack_wait=60")[0]

	expectFail := func(door, handler, reason string) {
		t.Helper()
		res := e.ack("p1", q, g, door, ackEntry{handler, "success"})
		if res.Success != 0 || res.Fail != 1 || res.FirstFailure.Reason != reason || res.FirstFailure.Index != 0 {
			t.Fatalf("%s: ack %+v, want reason %s", handler, res, reason)
		}
	}
	// Forged and malformed: every character position changed.
	h := first.Handler
	for i := range len(h) {
		c := byte('A')
		if h[i] == 'A' {
			c = 'B'
		}
		expectFail("ack", h[:i]+string(c)+h[i+1:], reasonHandlerInvalid)
	}
	expectFail("ack", h[:len(h)-1], reasonHandlerInvalid)
	expectFail("ack", strings.Repeat("x", 300), reasonHandlerInvalid)
	expectFail("ack", "eyJjZyI6Im15X2pzb25fZ3JvdXAiLCJjb3VudCI6MH0=", reasonHandlerInvalid)
	// Another group's, another queue's handler.
	expectFail("ack", otherGroup.Handler, reasonHandlerForeign)
	expectFail("ack", otherQueue.Handler, reasonHandlerForeign)
	// A normal handler on the dead-letter door.
	expectFail("deadletters/ack", first.Handler, reasonHandlerForeign)
	// None of that touched the delivery: it acks now, once.
	if res := e.ack("p1", q, g, "ack", ackEntry{first.Handler, "success"}); res.Success != 1 {
		t.Fatalf("ack %+v", res)
	}
	expectFail("ack", first.Handler, "already_acknowledged")
	// The other group's delivery is untouched too.
	if res := e.ack("p1", q, other, "ack", ackEntry{otherGroup.Handler, "success"}); res.Success != 1 {
		t.Fatalf("other group ack %+v", res)
	}

	// A dead-letter handler on the normal door.
	e.produce("p1", q, `"dead"`)
	m := e.consumeN("p1", q, g, "messages", 1, "")[0]
	e.ack("p1", q, g, "ack", ackEntry{m.Handler, "fail"}) // max_consume_count 1: dead-lettered
	dl := e.consumeN("p1", q, g, "deadletters", 1, "")[0]
	expectFail("ack", dl.Handler, reasonHandlerForeign)
	if res := e.ack("p1", q, g, "deadletters/ack", ackEntry{dl.Handler, "success"}); res.Success != 1 {
		t.Fatalf("dead-letter ack %+v", res)
	}

	// A failure stops processing: entries after a foreign one fail too and
	// are released.
	e.produce("p1", q, `"x"`, `"y"`)
	xy := e.consumeN("p1", q, g, "messages", 2, "")
	res := e.ack("p1", q, g, "ack", ackEntry{xy[0].Handler, "success"}, ackEntry{otherGroup.Handler, "success"}, ackEntry{xy[1].Handler, "success"})
	if res.Success != 1 || res.Fail != 2 || res.FirstFailure.Index != 1 || res.FirstFailure.Reason != reasonHandlerForeign {
		t.Fatalf("ack %+v", res)
	}
}

// A FIFO queue delivers in produce order; a failure in the middle of a batch
// sends the group back to that message.
func TestDMS_FIFOOrderWithFailure(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q","queue_mode":"FIFO"}`)
	g := e.createGroup("p1", q, "g")
	var want []string
	for i := range 6 {
		b := fmt.Sprintf(`"m%d"`, i)
		e.produce("p1", q, b)
		want = append(want, b)
	}
	got := e.consumeN("p1", q, g, "messages", 6, "")
	if !slices.Equal(bodiesOf(got), want) {
		t.Fatalf("order %v, want %v", bodiesOf(got), want)
	}
	res := e.ack("p1", q, g, "ack",
		ackEntry{got[0].Handler, "success"},
		ackEntry{got[1].Handler, "success"},
		ackEntry{got[2].Handler, "fail"},
		ackEntry{got[3].Handler, "success"},
		ackEntry{got[4].Handler, "success"},
		ackEntry{got[5].Handler, "success"},
	)
	if res.Success != 2 || res.Fail != 4 || res.FirstFailure.Index != 2 {
		t.Fatalf("ack %+v", res)
	}
	again := e.consumeN("p1", q, g, "messages", 4, "")
	if !slices.Equal(bodiesOf(again), want[2:]) {
		t.Fatalf("redelivery order %v, want %v", bodiesOf(again), want[2:])
	}
	// m2 succeeds, m3 fails; m4 and m5 stay in flight.
	res = e.ack("p1", q, g, "ack", ackEntry{again[0].Handler, "success"}, ackEntry{again[1].Handler, "fail"})
	if res.Success != 1 || res.Fail != 1 {
		t.Fatalf("ack %+v", res)
	}
	// m3 has nothing earlier pending: it comes back alone.
	m3 := e.consumeN("p1", q, g, "messages", 1, "")
	if !slices.Equal(bodiesOf(m3), want[3:4]) {
		t.Fatalf("got %v, want %v", bodiesOf(m3), want[3:4])
	}
	// m4 and m5 fail, but m3 is in flight: nothing is delivered.
	e.ack("p1", q, g, "ack", ackEntry{again[2].Handler, "fail"}, ackEntry{again[3].Handler, "fail"})
	if got := e.consume("p1", q, g, "messages", "time_wait=1"); len(got) != 0 {
		t.Fatalf("delivered %v while m3 is in flight", bodiesOf(got))
	}
	e.ack("p1", q, g, "ack", ackEntry{m3[0].Handler, "success"})
	last := e.consumeN("p1", q, g, "messages", 2, "")
	if !slices.Equal(bodiesOf(last), want[4:]) {
		t.Fatalf("final order %v, want %v", bodiesOf(last), want[4:])
	}
}

// After max_consume_count failed consumptions a message moves to the
// group's dead letters, which are consumed and acked on their own door.
func TestDMS_DeadLetters(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q","redrive_policy":"enable","max_consume_count":2}`)
	g := e.createGroup("p1", q, "g")
	g2 := e.createGroup("p1", q, "g2")
	e.produce("p1", q, `{"poison":true}`)

	for range 2 {
		m := e.consumeN("p1", q, g, "messages", 1, "")
		e.ack("p1", q, g, "ack", ackEntry{m[0].Handler, "fail"})
	}
	if got := e.consume("p1", q, g, "messages", "time_wait=1"); len(got) != 0 {
		t.Fatalf("redelivered after max_consume_count: %v", bodiesOf(got))
	}
	var list groupListJSON
	e.ok("GET", "/v1.0/p1/queues/"+q+"/groups?include_deadletter=true", "", 200, &list)
	if gs := list.Groups[0]; *gs.ProducedDeadletters != 1 || *gs.AvailableDeadletters != 1 || gs.AvailableMessages != 0 {
		t.Fatalf("group stats %+v", gs)
	}
	// The other group is unaffected.
	if got := e.consumeN("p1", q, g2, "messages", 1, ""); string(got[0].Message.Body) != `{"poison":true}` {
		t.Fatalf("g2 got %v", bodiesOf(got))
	}

	dl := e.consumeN("p1", q, g, "deadletters", 1, "ack_wait=15")
	if string(dl[0].Message.Body) != `{"poison":true}` || string(dl[0].Message.Attributes) != `{}` {
		t.Fatalf("dead letter %+v", dl[0])
	}
	// A failed dead letter comes back from the dead letters.
	e.ack("p1", q, g, "deadletters/ack", ackEntry{dl[0].Handler, "fail"})
	dl = e.consumeN("p1", q, g, "deadletters", 1, "")
	if res := e.ack("p1", q, g, "deadletters/ack", ackEntry{dl[0].Handler, "success"}); res.Success != 1 {
		t.Fatalf("dead-letter ack %+v", res)
	}
	if got := e.consume("p1", q, g, "deadletters", "time_wait=1"); len(got) != 0 {
		t.Fatalf("dead letter delivered again: %v", bodiesOf(got))
	}
	e.ok("GET", "/v1.0/p1/queues/"+q+"/groups?include_deadletter=true", "", 200, &list)
	if gs := list.Groups[0]; *gs.ProducedDeadletters != 1 || *gs.AvailableDeadletters != 0 {
		t.Fatalf("group stats %+v", gs)
	}

	// Dead-letter endpoints on a queue without redrive: 400 10540010,
	// checked after the queue and group exist.
	plain := e.createQueue("p1", `{"name":"plain"}`)
	pg := e.createGroup("p1", plain, "g")
	e.fails("GET", groupPath("p1", plain, pg)+"/deadletters", "", 400, codeMalformed)
	e.fails("POST", groupPath("p1", plain, pg)+"/deadletters/ack", `{"message":[{"handler":"h"}]}`, 400, codeMalformed)
	missing := "00000000-0000-4000-8000-000000000000"
	e.fails("GET", groupPath("p1", missing, pg)+"/deadletters", "", 404, codeQueueNotFound)
	e.fails("GET", groupPath("p1", q, "g-"+missing)+"/deadletters", "", 404, codeGroupNotFound)
	e.fails("POST", groupPath("p1", q, "g-"+missing)+"/deadletters/ack", `{"message":[{"handler":"h"}]}`, 404, codeGroupNotFound)
}

func TestDMS_TwoGroupsEachReceiveEveryMessage(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	ga := e.createGroup("p1", q, "a")
	gb := e.createGroup("p1", q, "b")
	var want []string
	for i := range 12 {
		b := fmt.Sprintf(`%d`, i)
		want = append(want, b)
		e.produce("p1", q, b) // round-robin over the partitions
	}
	slices.Sort(want)
	for _, g := range []string{ga, gb} {
		got := e.consumeN("p1", q, g, "messages", 12, "max_msgs=5")
		bodies := bodiesOf(got)
		slices.Sort(bodies)
		if !slices.Equal(bodies, want) {
			t.Fatalf("group %s got %v", g, bodies)
		}
		for i := 0; i < len(got); i += 10 {
			var es []ackEntry
			for _, m := range got[i:min(i+10, len(got))] {
				es = append(es, ackEntry{m.Handler, "success"})
			}
			if res := e.ack("p1", q, g, "ack", es...); res.Fail != 0 {
				t.Fatalf("ack %+v", res)
			}
		}
	}
	// A group created later still sees everything retained.
	gc := e.createGroup("p1", q, "c")
	if got := e.consumeN("p1", q, gc, "messages", 10, "max_msgs=10"); len(got) != 10 {
		t.Fatalf("late group got %d", len(got))
	}
}

// Consume errors that need the broker: unknown queue and group.
func TestDMS_ConsumeNotFound(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	missing := "00000000-0000-4000-8000-000000000000"
	e.fails("GET", groupPath("p1", missing, "g-"+missing)+"/messages", "", 404, codeQueueNotFound)
	e.fails("GET", groupPath("p1", q, "g-"+missing)+"/messages", "", 404, codeGroupNotFound)
	e.fails("GET", groupPath("p1", q, "nope")+"/messages", "", 404, codeGroupNotFound)
	e.fails("POST", groupPath("p1", q, "g-"+missing)+"/ack", `{"message":[{"handler":"h"}]}`, 404, codeGroupNotFound)
	e.fails("POST", groupPath("p1", missing, "g-"+missing)+"/ack", `{"message":[{"handler":"h"}]}`, 404, codeQueueNotFound)
	e.fails("POST", "/v1.0/p1/queues/"+missing+"/messages", `{"messages":[{"body":1}]}`, 404, codeQueueNotFound)
	// Validation comes before lookups.
	e.fails("GET", groupPath("p1", missing, "g-"+missing)+"/messages?max_msgs=0", "", 400, codeMaxMsgs)
}

// Size limits at the edges, against the real broker: 524288 bytes in one
// message or in all is stored; one byte more is refused and stores nothing.
func TestDMS_MessageSizeLimits(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	g := e.createGroup("p1", q, "g")
	path := "/v1.0/p1/queues/" + q + "/messages"
	str := func(n int) string { return `"` + strings.Repeat("y", n-2) + `"` }
	attrs := `{"k":"v"}`
	e.ok("POST", path, `{"messages":[{"body":`+str(maxMessageBytes-len(attrs))+`,"attributes":`+attrs+`}]}`, 201, nil)
	e.fails("POST", path, `{"messages":[{"body":`+str(maxMessageBytes-len(attrs)+1)+`,"attributes":`+attrs+`}]}`, 400, codeTooLarge)
	e.ok("POST", path, `{"messages":[{"body":`+str(maxMessagesBytes/2)+`},{"body":`+str(maxMessagesBytes/2)+`}]}`, 201, nil)
	e.fails("POST", path, `{"messages":[{"body":`+str(maxMessagesBytes/2)+`},{"body":`+str(maxMessagesBytes/2+1)+`}]}`, 400, codeTooLarge)
	e.fails("POST", path, `{"messages":[{"body":null}]}`, 400, codeBodyMissing)
	var qj queueJSON
	e.ok("GET", "/v1.0/p1/queues/"+q, "", 200, &qj)
	if qj.ProducedMessages != 3 {
		t.Fatalf("produced %d, want 3", qj.ProducedMessages)
	}
	// A consume stays within 524288 bytes: the big one alone, then the two
	// halves together.
	total := 0
	for _, m := range e.consumeN("p1", q, g, "messages", 3, "") {
		total += len(m.Message.Body)
	}
	if total != maxMessageBytes-len(attrs)+maxMessagesBytes {
		t.Fatalf("consumed %d body bytes", total)
	}
}

// A lease that is not acked within ack_wait (15 s, the minimum) ends: the
// message is redelivered, the old handler is refused, and the expiry counts
// as a failed consumption toward max_consume_count.
func TestDMS_LeaseExpiryRedelivers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits 15 s for a lease to expire")
	}
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q","redrive_policy":"enable","max_consume_count":2}`)
	g := e.createGroup("p1", q, "g")
	e.produce("p1", q, `"slow"`)
	leased := time.Now()
	first := e.consumeN("p1", q, g, "messages", 1, "ack_wait=15")[0]

	var again []consumed
	deadline := leased.Add(30 * time.Second)
	for len(again) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not redelivered within 30 s of a 15 s lease")
		}
		again = e.consume("p1", q, g, "messages", "time_wait=20&ack_wait=15")
	}
	el := time.Since(leased)
	if el < 14500*time.Millisecond {
		t.Fatalf("redelivered after %v, before the 15 s lease ended", el)
	}
	t.Logf("redelivered %v after the lease", el)
	if string(again[0].Message.Body) != `"slow"` || again[0].Handler == first.Handler {
		t.Fatalf("redelivery %+v", again[0])
	}
	res := e.ack("p1", q, g, "ack", ackEntry{first.Handler, "success"})
	if res.Success != 0 || (res.FirstFailure.Reason != "handler_expired" && res.FirstFailure.Reason != "superseded") {
		t.Fatalf("old handler: %+v", res)
	}
	// Second failed consumption (expiry was the first): dead-lettered.
	e.ack("p1", q, g, "ack", ackEntry{again[0].Handler, "fail"})
	dl := e.consumeN("p1", q, g, "deadletters", 1, "")
	if string(dl[0].Message.Body) != `"slow"` {
		t.Fatalf("dead letter %+v", dl[0])
	}
}

// A dead-letter lease expires the same way: the dead letter becomes
// available again from the dead letters.
func TestDMS_DeadLetterLeaseExpiry(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits 15 s for a lease to expire")
	}
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q","redrive_policy":"enable","max_consume_count":1}`)
	g := e.createGroup("p1", q, "g")
	e.produce("p1", q, `"dl"`)
	m := e.consumeN("p1", q, g, "messages", 1, "")
	e.ack("p1", q, g, "ack", ackEntry{m[0].Handler, "fail"})
	leased := time.Now()
	first := e.consumeN("p1", q, g, "deadletters", 1, "ack_wait=15")[0]
	var again []consumed
	for len(again) == 0 {
		if time.Since(leased) > 30*time.Second {
			t.Fatal("dead letter not redelivered within 30 s")
		}
		again = e.consume("p1", q, g, "deadletters", "time_wait=20")
	}
	if el := time.Since(leased); el < 14500*time.Millisecond {
		t.Fatalf("redelivered after %v", el)
	}
	res := e.ack("p1", q, g, "deadletters/ack", ackEntry{first.Handler, "success"}, ackEntry{again[0].Handler, "success"})
	if res.Success != 0 || res.Fail != 2 {
		t.Fatalf("stale handler first: %+v", res)
	}
}
