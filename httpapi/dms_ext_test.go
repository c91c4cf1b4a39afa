package httpapi

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"raftmq/cluster"
)

// dmsV2Run names the subtests of TestDMSv2_SameOperations: under it, env
// sends every DMS request under /v2/{project_id} instead of /v1.0.
const dmsV2Run = "TestDMSv2_SameOperations/"

// dmsPath is path as this test sends it: /v1.0 paths move to /v2 in the
// subtests of TestDMSv2_SameOperations.
func (e *env) dmsPath(path string) string {
	if strings.HasPrefix(e.t.Name(), dmsV2Run) {
		if rest, ok := strings.CutPrefix(path, dmsPrefix); ok {
			return dmsV2Prefix + rest
		}
	}
	return path
}

// TestDMSv2_SameOperations runs the DMS black-box tests again with every
// request under /v2/{project_id}: the same operations, the same shapes.
func TestDMSv2_SameOperations(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"Queues", TestDMS_Queues},
		{"Groups", TestDMS_Groups},
		{"ProduceConsumeExactBytes", TestDMS_ProduceConsumeExactBytes},
		{"OrderedAck", TestDMS_OrderedAck},
		{"HandlerMisuse", TestDMS_HandlerMisuse},
		{"DeadLetters", TestDMS_DeadLetters},
		{"Redrive", TestDMS_Redrive},
		{"LeaseExtension", TestDMS_LeaseExtension},
		{"TagFilter", TestDMS_TagFilter},
		{"AuthOfficialSigner", TestDMSAuth_OfficialSignerWorks},
		{"AuthRefusedFirst", TestDMSAuth_RefusedBeforeAnyOtherCheck},
		{"AuthProjectPermission", TestDMSAuth_ProjectPermission},
	} {
		t.Run(tt.name, tt.run)
	}
}

func TestDMSv2_RoutesAndMetrics(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	// A queue created under /v1.0 is the same queue under /v2.
	var qj queueJSON
	e.ok("GET", "/v2/p1/queues/"+q, "", 200, &qj)
	if qj.ID != q || qj.Name != "q" {
		t.Fatalf("v2 queue %+v", qj)
	}
	e.fails("GET", "/v2/p1/nothing", "", 404, codeUnknownPath)
	e.fails("GET", "/v3/p1/queues", "", 404, codeUnknownPath)
	e.fails("PUT", "/v2/p1/queues", "", 405, codeUnknownPath)
	for _, c := range []struct{ method, path, op string }{
		{"POST", "/v2/p/queues/x/groups/y/deadletters/redrive", "redrive"},
		{"POST", "/v2/p/queues/x/groups/y/messages/lease", "lease"},
		{"POST", "/v1.0/p/queues/x/groups/y/deadletters/lease", "lease_deadletters"},
		{"GET", "/v2/p/queues/x/groups/y/messages", "consume"},
	} {
		if door, op := classify(c.method, c.path, nil); door != "dms" || op != c.op {
			t.Errorf("classify(%s %s) = %s %s, want dms %s", c.method, c.path, door, op, c.op)
		}
	}
}

type redriveJSON struct {
	Redriven int `json:"redriven"`
}

func TestDMS_Redrive(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q","redrive_policy":"enable","max_consume_count":1}`)
	g := e.createGroup("p1", q, "g")
	g2 := e.createGroup("p1", q, "g2")
	e.produce("p1", q, `"a"`, `"b"`, `"c"`)
	for _, m := range e.consumeN("p1", q, g, "messages", 3, "") {
		e.ack("p1", q, g, "ack", ackEntry{m.Handler, "fail"})
	}
	stats := func(group string) groupStatsJSON {
		t.Helper()
		var list groupListJSON
		e.ok("GET", "/v1.0/p1/queues/"+q+"/groups?include_deadletter=true", "", 200, &list)
		for _, gs := range list.Groups {
			if gs.ID == group {
				return gs
			}
		}
		t.Fatalf("group %s not listed", group)
		return groupStatsJSON{}
	}
	if gs := stats(g); *gs.AvailableDeadletters != 3 || gs.AvailableMessages != 0 {
		t.Fatalf("before redrive: %+v", gs)
	}
	path := groupPath("p1", q, g) + "/deadletters/redrive"
	// Bad bodies: 400 10540010, nothing moves.
	for _, body := range []string{`{"max_msgs":0}`, `{"max_msgs":-1}`, `{"max_msgs":"2"}`, `{"max_msgs":1.5}`, `[1]`, `{"max_msgs":1`, `nope`} {
		e.fails("POST", path, body, 400, codeMalformed)
	}
	var out redriveJSON
	e.ok("POST", path, `{"max_msgs":1}`, 200, &out)
	if out.Redriven != 1 {
		t.Fatalf("redrive max 1: %+v", out)
	}
	if gs := stats(g); *gs.AvailableDeadletters != 2 || gs.AvailableMessages != 1 || *gs.ProducedDeadletters != 3 {
		t.Fatalf("after redriving one: %+v", gs)
	}
	// The oldest went back, available at once, counted from 0 again.
	m := e.consumeN("p1", q, g, "messages", 1, "")
	if string(m[0].Message.Body) != `"a"` {
		t.Fatalf("redriven %s, want the oldest", m[0].Message.Body)
	}
	if res := e.ack("p1", q, g, "ack", ackEntry{m[0].Handler, ""}); res.Success != 1 {
		t.Fatalf("ack of a redriven message: %+v", res)
	}
	// A dead letter leased right now stays; the rest (empty body: all) moves.
	dl := e.consumeN("p1", q, g, "deadletters", 1, "max_msgs=1")
	e.ok("POST", path, "", 200, &out)
	if out.Redriven != 1 {
		t.Fatalf("redrive all with one leased: %+v", out)
	}
	if res := e.ack("p1", q, g, "deadletters/ack", ackEntry{dl[0].Handler, ""}); res.Success != 1 {
		t.Fatalf("the leased dead letter: %+v", res)
	}
	e.ok("POST", path, `{}`, 200, &out)
	if out.Redriven != 0 {
		t.Fatalf("redrive of nothing: %+v", out)
	}
	if gs := stats(g2); gs.AvailableMessages != 3 || *gs.ProducedDeadletters != 0 {
		t.Fatalf("other group changed: %+v", gs)
	}
	// Errors: unknown group, queue without redrive, wrong method.
	e.fails("POST", groupPath("p1", q, "g-00000000-0000-4000-8000-000000000000")+"/deadletters/redrive", "", 404, codeGroupNotFound)
	plain := e.createQueue("p1", `{"name":"plain"}`)
	pg := e.createGroup("p1", plain, "g")
	e.fails("POST", groupPath("p1", plain, pg)+"/deadletters/redrive", "", 400, codeMalformed)
	e.fails("GET", path, "", 405, codeUnknownPath)
}

type extendJSON struct {
	Success  int `json:"success"`
	Fail     int `json:"fail"`
	Failures []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"failures"`
}

func TestDMS_LeaseExtension(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q","redrive_policy":"enable","max_consume_count":3}`)
	g := e.createGroup("p1", q, "g")
	e.produce("p1", q, `"a"`, `"b"`)
	ms := e.consumeN("p1", q, g, "messages", 2, "ack_wait=15")
	path := groupPath("p1", q, g) + "/messages/lease"
	entry := func(h string, wait int) string { return fmt.Sprintf(`{"handler":%q,"ack_wait":%d}`, h, wait) }

	for _, c := range []struct{ body, code string }{
		{`{"message":[]}`, codeMalformed},
		{`{"message":[` + strings.Repeat(entry(ms[0].Handler, 30)+",", 10) + entry(ms[0].Handler, 30) + `]}`, codeMalformed},
		{`{"message":[{"handler":""}]}`, codeMalformed},
		{`{"message":[{"handler":"x"}]}`, codeAckWait},
		{`{"message":[` + entry("x", 14) + `]}`, codeAckWait},
		{`{"message":[` + entry("x", 301) + `]}`, codeAckWait},
		{`{"message":[{"handler":"x","ack_wait":"30"}]}`, codeAckWait},
		{`not json`, codeMalformed},
	} {
		e.fails("POST", path, c.body, 400, c.code)
	}
	var out extendJSON
	body := `{"message":[` + entry(ms[0].Handler, 300) + "," + entry("forged", 30) + "," + entry(ms[1].Handler, 15) + `]}`
	e.ok("POST", path, body, 200, &out)
	if out.Success != 2 || out.Fail != 1 || len(out.Failures) != 1 || out.Failures[0].Index != 1 || out.Failures[0].Reason != reasonHandlerInvalid {
		t.Fatalf("extend: %+v", out)
	}
	// The same handlers stay valid: the ack succeeds.
	if res := e.ack("p1", q, g, "ack", ackEntry{ms[0].Handler, ""}); res.Success != 1 {
		t.Fatalf("ack after extension: %+v", res)
	}
	e.ok("POST", path, `{"message":[`+entry(ms[0].Handler, 30)+`]}`, 200, &out)
	if out.Fail != 1 || out.Failures[0].Reason != "already_acknowledged" {
		t.Fatalf("extension of an acked handler: %+v", out)
	}
	// A handler of the other lane or door is foreign.
	e.ok("POST", groupPath("p1", q, g)+"/deadletters/lease", `{"message":[`+entry(ms[1].Handler, 30)+`]}`, 200, &out)
	if out.Fail != 1 || out.Failures[0].Reason != reasonHandlerForeign {
		t.Fatalf("extension in the dead-letter lane: %+v", out)
	}
	e.ok("POST", path, `{"message":[`+entry(ms[1].Handler, 30)+`]}`, 200, &out)
	if out.Success != 1 || out.Failures == nil || len(out.Failures) != 0 {
		t.Fatalf("second extension: %+v", out)
	}
	plain := e.createQueue("p1", `{"name":"plain"}`)
	pg := e.createGroup("p1", plain, "g")
	e.fails("POST", groupPath("p1", plain, pg)+"/deadletters/lease", `{"message":[`+entry("x", 30)+`]}`, 400, codeMalformed)
}

// TestDMS_LeaseExtensionOutlivesTheFirstLease checks with the node's clock
// moved forward that an extended lease is still live past its first end,
// and that it ends at its new one.
func TestDMS_LeaseExtensionOutlivesTheFirstLease(t *testing.T) {
	clk := &shiftClock{}
	e := startEnv(t, func(c *Config) { c.Now = clk.Now }, func(c *cluster.Config) { c.Raft.Clock = clk.Now })
	q := e.createQueue("p1", `{"name":"q"}`)
	g := e.createGroup("p1", q, "g")
	e.produce("p1", q, `"a"`, `"b"`)
	ms := e.consumeN("p1", q, g, "messages", 2, "ack_wait=15")
	var out extendJSON
	e.ok("POST", groupPath("p1", q, g)+"/messages/lease",
		fmt.Sprintf(`{"message":[{"handler":%q,"ack_wait":60},{"handler":%q,"ack_wait":60}]}`, ms[0].Handler, ms[1].Handler), 200, &out)
	if out.Success != 2 {
		t.Fatalf("extend: %+v", out)
	}
	clk.Advance(30 * time.Second) // past the first end, before the new one
	if got := e.consume("p1", q, g, "messages", "time_wait=1"); len(got) != 0 {
		t.Fatalf("redelivered during the extended lease: %v", bodiesOf(got))
	}
	// The extended handler still acks after its first lease would have ended.
	if res := e.ack("p1", q, g, "ack", ackEntry{ms[1].Handler, ""}); res.Success != 1 {
		t.Fatalf("ack within the extended lease: %+v", res)
	}
	m := ms[:1]
	clk.Advance(31 * time.Second)
	again := e.consumeN("p1", q, g, "messages", 1, "")
	if res := e.ack("p1", q, g, "ack", ackEntry{m[0].Handler, ""}); res.Fail != 1 || res.FirstFailure.Reason != "superseded" {
		t.Fatalf("ack of the ended lease: %+v", res)
	}
	if res := e.ack("p1", q, g, "ack", ackEntry{again[0].Handler, ""}); res.Success != 1 {
		t.Fatalf("ack of the redelivery: %+v", res)
	}
}

func TestDMS_DelayedDelivery(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	g := e.createGroup("p1", q, "g")
	produce := "/v1.0/p1/queues/" + q + "/messages"
	for _, body := range []string{`-1`, `86401`, `"5"`, `1.5`, `true`} {
		e.fails("POST", produce, `{"messages":[{"body":1,"delay_seconds":`+body+`}]}`, 400, codeMalformed)
	}
	fifo := e.createQueue("p1", `{"name":"f","queue_mode":"FIFO"}`)
	e.fails("POST", "/v1.0/p1/queues/"+fifo+"/messages", `{"messages":[{"body":1,"delay_seconds":1}]}`, 400, codeMalformed)
	e.ok("POST", "/v1.0/p1/queues/"+fifo+"/messages", `{"messages":[{"body":1,"delay_seconds":0}]}`, 201, nil)

	start := time.Now()
	e.ok("POST", produce, `{"messages":[{"body":"later","delay_seconds":2},{"body":"now","delay_seconds":0}]}`, 201, nil)
	var qj queueJSON
	e.ok("GET", "/v1.0/p1/queues/"+q, "", 200, &qj)
	if qj.ProducedMessages != 2 {
		t.Fatalf("produced %d, want both counted at once", qj.ProducedMessages)
	}
	var list groupListJSON
	e.ok("GET", "/v1.0/p1/queues/"+q+"/groups", "", 200, &list)
	if list.Groups[0].AvailableMessages != 1 && time.Since(start) < 2*time.Second {
		t.Fatalf("available %d before the delay, want 1", list.Groups[0].AvailableMessages)
	}
	first := e.consumeN("p1", q, g, "messages", 1, "")
	if string(first[0].Message.Body) != `"now"` {
		t.Fatalf("first delivery %s", first[0].Message.Body)
	}
	// The delayed one comes by a long poll once due, not before.
	later := e.consumeN("p1", q, g, "messages", 1, "")
	if string(later[0].Message.Body) != `"later"` || time.Since(start) < 2*time.Second {
		t.Fatalf("delayed delivery %s after %v", later[0].Message.Body, time.Since(start))
	}
}

func TestDMS_TagFilter(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	g := e.createGroup("p1", q, "g")
	all := e.createGroup("p1", q, "all")
	produce := "/v1.0/p1/queues/" + q + "/messages"
	for _, tags := range []string{`["a","b"]`, `[""]`, `["a|b"]`, `"a"`, `[1]`, `["` + strings.Repeat("x", 129) + `"]`} {
		e.fails("POST", produce, `{"messages":[{"body":1,"tags":`+tags+`}]}`, 400, codeMalformed)
	}
	e.ok("POST", produce, `{"messages":[{"body":"A","tags":["a"]},{"body":"B","tags":["b"]},{"body":"none"},{"body":"C","tags":["c"]},{"body":"E","tags":[]}]}`, 201, nil)
	tooMany := "tag=t0"
	for i := 1; i <= maxFilterTags; i++ {
		tooMany += fmt.Sprintf("||t%d", i)
	}
	for _, query := range []string{"tag=a&tag_type=xor", "tag=a&tag=b&tag_type=and", "tag=a||b&tag_type=and", "tag=a|b", tooMany, "tag=" + strings.Repeat("x", 129)} {
		e.fails("GET", groupPath("p1", q, g)+"/messages?"+query, "", 400, codeMalformed)
	}
	var got []consumed
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		got = append(got, e.consume("p1", q, g, "messages", "time_wait=1&max_msgs=10&tag=a&tag=c||zz&tag_type=or")...)
	}
	if fmt.Sprint(bodiesOf(got)) != `["A" "C"]` {
		t.Fatalf("filtered %v", bodiesOf(got))
	}
	var tagged []struct {
		Message struct {
			Tags []string `json:"tags"`
		} `json:"message"`
	}
	raw := e.ok("GET", groupPath("p1", q, all)+"/messages?max_msgs=10&time_wait=2", "", 200, &tagged)
	if len(tagged) != 5 || fmt.Sprint(tagged[0].Message.Tags) != "[a]" || tagged[2].Message.Tags != nil {
		t.Fatalf("unfiltered consume: %s", raw)
	}
	// The filtered-out messages count as consumed for g.
	var list groupListJSON
	e.ok("GET", "/v1.0/p1/queues/"+q+"/groups", "", 200, &list)
	for _, gs := range list.Groups {
		if gs.ID == g && gs.AvailableMessages != 2 {
			t.Fatalf("g: %+v", gs)
		}
	}
	// and with one tag is the same filter.
	e.produce("p1", q, `"x"`)
	e.ok("POST", produce, `{"messages":[{"body":"A2","tags":["a"]}]}`, 201, nil)
	one := e.consumeN("p1", q, g, "messages", 1, "tag=a&tag_type=and")
	if string(one[0].Message.Body) != `"A2"` {
		t.Fatalf("and filter: %s", one[0].Message.Body)
	}
}

// shiftClock is the wall clock moved forward by Advance: the node stamps
// it into its commands, so leases end by it.
type shiftClock struct{ offset atomic.Int64 }

func (c *shiftClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *shiftClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// The untouchedBroker of validate_test.go refuses the extension calls too.
func (b *untouchedBroker) Redrive(context.Context, cluster.Queue, string, int) (int, error) {
	b.called("Redrive")
	return 0, nil
}

func (b *untouchedBroker) Extend(context.Context, cluster.Queue, string, bool, []cluster.ExtendEntry) ([]cluster.ExtendFailure, error) {
	b.called("Extend")
	return nil, nil
}

func (b *untouchedBroker) SetQueueTags(context.Context, string, string, string, []cluster.QueueTag) error {
	b.called("SetQueueTags")
	return nil
}

func (b *untouchedBroker) QueueTags(context.Context, string, string) ([]cluster.QueueTag, error) {
	b.called("QueueTags")
	return nil, nil
}

func (b *untouchedBroker) ProjectTags(context.Context, string) ([]cluster.TagValues, error) {
	b.called("ProjectTags")
	return nil, nil
}

// produced is the queue's produced_messages.
func (e *env) produced(project, qid string) int64 {
	e.t.Helper()
	var q struct {
		Produced int64 `json:"produced_messages"`
	}
	e.ok("GET", "/v1.0/"+project+"/queues/"+qid, "", 200, &q)
	return q.Produced
}

// retention_policy (raftmq extension): time by default, acked on request,
// anything else refused with its own code; GET and list show it. Under
// acked, a message leaves once every group that exists has acknowledged
// it, including a group that never consumed.
func TestDMS_RetentionPolicy(t *testing.T) {
	e := startEnv(t, nil)
	for _, body := range []string{
		`{"name":"x","retention_policy":"ack"}`,
		`{"name":"x","retention_policy":"ACKED"}`,
		`{"name":"x","retention_policy":""}`,
		`{"name":"x","retention_policy":1}`,
	} {
		e.fails("POST", "/v1.0/p1/queues", body, 400, codeRetentionPolicy)
	}
	plain := e.createQueue("p1", `{"name":"plain"}`)
	timed := e.createQueue("p1", `{"name":"timed","retention_policy":"time"}`)
	q := e.createQueue("p1", `{"name":"acked","retention_policy":"acked","redrive_policy":"enable","max_consume_count":3}`)
	for id, want := range map[string]string{plain: "time", timed: "time", q: "acked"} {
		var qj queueJSON
		e.ok("GET", "/v1.0/p1/queues/"+id, "", 200, &qj)
		if qj.RetentionPolicy != want {
			t.Fatalf("queue %s: retention_policy %q, want %q", id, qj.RetentionPolicy, want)
		}
	}
	var list struct{ Queues []queueJSON }
	e.ok("GET", "/v1.0/p1/queues?include_deadletter=true", "", 200, &list)
	for _, qj := range list.Queues {
		if (qj.ID == q) != (qj.RetentionPolicy == "acked") {
			t.Fatalf("list: %s has retention_policy %q", qj.Name, qj.RetentionPolicy)
		}
	}

	g1, g2 := e.createGroup("p1", q, "g1"), e.createGroup("p1", q, "g2")
	e.produce("p1", q, `1`, `2`, `3`)
	ackEach := func(g string, n int) {
		var acks []ackEntry
		for _, m := range e.consumeN("p1", q, g, "messages", n, "max_msgs=10") {
			acks = append(acks, ackEntry{handler: m.Handler})
		}
		e.ack("p1", q, g, "ack", acks...)
	}
	ackEach(g1, 3)
	e.produce("p1", q, `4`)
	// Each partition's housekeeping Tick (once a second) would trim what
	// every group acknowledged: g2 has acknowledged nothing.
	time.Sleep(1500 * time.Millisecond) // nothing to await: the test is that nothing happens
	e.wantProduced("p1", q, 4)
	ackEach(g2, 4)
	// 4 stays: g1 has not acknowledged it.
	deadline := time.Now().Add(10 * time.Second)
	for e.produced("p1", q) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("produced_messages %d 10 s after every group acknowledged 3 of 4", e.produced("p1", q))
		}
		time.Sleep(50 * time.Millisecond) // polling the partitions' housekeeping against a deadline
	}
}
