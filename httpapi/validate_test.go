package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
	"raftmq/fsm"
)

// untouchedBroker fails the test on any call. It proves that a request
// refused by validation reaches nothing: the real broker cannot show that.
type untouchedBroker struct {
	t     *testing.T
	calls atomic.Int32
}

func (b *untouchedBroker) called(name string) {
	b.calls.Add(1)
	b.t.Errorf("broker.%s called", name)
}

func (b *untouchedBroker) CreateQueue(context.Context, string, cluster.QueueSpec) (cluster.Queue, error) {
	b.called("CreateQueue")
	return cluster.Queue{}, cluster.ErrUnavailable
}
func (b *untouchedBroker) ListQueues(context.Context, string) ([]cluster.Queue, error) {
	b.called("ListQueues")
	return nil, cluster.ErrUnavailable
}
func (b *untouchedBroker) GetQueue(context.Context, string, string) (cluster.Queue, error) {
	b.called("GetQueue")
	return cluster.Queue{}, cluster.ErrUnavailable
}
func (b *untouchedBroker) QueueByName(context.Context, string, string) (cluster.Queue, error) {
	b.called("QueueByName")
	return cluster.Queue{}, cluster.ErrUnavailable
}
func (b *untouchedBroker) EnsureGroup(context.Context, cluster.Queue, string) (cluster.Queue, cluster.Group, error) {
	b.called("EnsureGroup")
	return cluster.Queue{}, cluster.Group{}, cluster.ErrUnavailable
}
func (b *untouchedBroker) DeleteQueue(context.Context, string, string) error {
	b.called("DeleteQueue")
	return cluster.ErrUnavailable
}
func (b *untouchedBroker) CreateGroups(context.Context, string, string, []string) ([]cluster.Group, error) {
	b.called("CreateGroups")
	return nil, cluster.ErrUnavailable
}
func (b *untouchedBroker) DeleteGroup(context.Context, string, string, string) error {
	b.called("DeleteGroup")
	return cluster.ErrUnavailable
}
func (b *untouchedBroker) QueueStats(context.Context, cluster.Queue) (cluster.QueueStats, error) {
	b.called("QueueStats")
	return cluster.QueueStats{}, cluster.ErrUnavailable
}
func (b *untouchedBroker) GroupStats(context.Context, cluster.Queue, string) (fsm.GroupStats, error) {
	b.called("GroupStats")
	return fsm.GroupStats{}, cluster.ErrUnavailable
}
func (b *untouchedBroker) Produce(context.Context, cluster.Queue, []fsm.Message) ([]cluster.MessageRef, error) {
	b.called("Produce")
	return nil, cluster.ErrUnavailable
}
func (b *untouchedBroker) Consume(context.Context, cluster.Queue, string, cluster.ConsumeRequest) ([]cluster.Delivery, error) {
	b.called("Consume")
	return nil, cluster.ErrUnavailable
}
func (b *untouchedBroker) Ack(context.Context, cluster.Queue, string, bool, []cluster.AckEntry) (cluster.AckOutcome, error) {
	b.called("Ack")
	return cluster.AckOutcome{}, cluster.ErrUnavailable
}
func (b *untouchedBroker) HandlerKey() ([]byte, bool)       { b.called("HandlerKey"); return nil, false }
func (b *untouchedBroker) Ready() bool                      { b.called("Ready"); return false }
func (b *untouchedBroker) Status() cluster.Status           { b.called("Status"); return cluster.Status{} }
func (b *untouchedBroker) MaxQueuesPerProject() int         { b.called("MaxQueuesPerProject"); return 0 }
func (b *untouchedBroker) Digests() []cluster.ReplicaDigest { b.called("Digests"); return nil }
func (b *untouchedBroker) GetGroup(context.Context, string, string, string) (cluster.Queue, error) {
	b.called("GetGroup")
	return cluster.Queue{}, nil
}
func (b *untouchedBroker) Decommission(context.Context, string) error {
	b.called("Decommission")
	return cluster.ErrUnavailable
}
func (b *untouchedBroker) RemoveNode(context.Context, string) error {
	b.called("RemoveNode")
	return cluster.ErrUnavailable
}
func (b *untouchedBroker) HandleInternal(context.Context, string, string, []byte) (int, []byte) {
	b.called("HandleInternal")
	return 500, nil
}

// quietConfig is DefaultConfig without log output.
func quietConfig() Config {
	c := DefaultConfig()
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

// serveInMemory runs one request through h without a network.
func serveInMemory(h fasthttp.RequestHandler, method, uri string, body string) *fasthttp.Response {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	if body != "" {
		req.SetBodyString(body)
	}
	var rc fasthttp.RequestCtx
	rc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	h(&rc)
	var resp fasthttp.Response
	rc.Response.CopyTo(&resp)
	return &resp
}

func decodeError(t *testing.T, resp *fasthttp.Response) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(resp.Body(), &e); err != nil {
		t.Fatalf("error body %q: %v", resp.Body(), err)
	}
	return e
}

const (
	vq  = "0e6bb1b4-3c1f-4f57-9c1e-6f3c3b0a9d21"
	vg  = "g-7f0c3a52-9b8e-4c1d-a2f3-1e5d6c7b8a90"
	vqp = "/v1.0/proj/queues/" + vq
	vgp = vqp + "/groups/" + vg
)

// TestValidation_RefusedBeforeTheBroker drives every request-level limit of
// API.md section 2 through the real handler and checks the status, the DMS
// code and that the broker was not called.
func TestValidation_RefusedBeforeTheBroker(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	q := func(fields string) string { return `{"name":"q1"` + fields + `}` }
	msgs := func(n int) string {
		ms := make([]string, n)
		for i := range ms {
			ms[i] = `{"body":1}`
		}
		return `{"messages":[` + strings.Join(ms, ",") + `]}`
	}
	acks := func(n int) string {
		es := make([]string, n)
		for i := range es {
			es[i] = `{"handler":"h"}`
		}
		return `{"message":[` + strings.Join(es, ",") + `]}`
	}
	big := func(n int) string { return `"` + strings.Repeat("x", n-2) + `"` } // a JSON string of n bytes
	cases := []struct {
		name         string
		method, path string
		body         string
		status       int
		code         string
	}{
		// routing
		{"unknown path", "GET", "/nope", "", 404, codeUnknownPath},
		{"unknown v1.0 path", "GET", "/v1.0/proj/topics", "", 404, codeUnknownPath},
		{"no project route", "GET", "/v1.0/proj", "", 404, codeUnknownPath},
		{"trailing slash", "GET", "/v1.0/proj/queues/", "", 404, codeUnknownPath},
		{"too deep", "GET", vgp + "/messages/x", "", 404, codeUnknownPath},
		{"wrong method queues", "PUT", "/v1.0/proj/queues", "", 405, codeUnknownPath},
		{"wrong method consume", "POST", vgp + "/messages", "", 405, codeUnknownPath},
		{"wrong method ack", "GET", vgp + "/ack", "", 405, codeUnknownPath},
		{"wrong method health", "POST", "/health", "", 405, codeUnknownPath},
		{"wrong method cluster", "DELETE", "/v1/cluster", "", 405, codeUnknownPath},

		// project_id
		{"project chars", "GET", "/v1.0/pr.oj/queues", "", 400, codeProjectInvalid},
		{"project chars 2", "GET", "/v1.0/pr%20oj/queues", "", 400, codeProjectInvalid},
		{"project 65", "GET", "/v1.0/" + long(65) + "/queues", "", 400, codeProjectInvalid},
		{"project on consume", "GET", "/v1.0/p!/queues/" + vq + "/groups/" + vg + "/messages", "", 400, codeProjectInvalid},

		// create queue
		{"queue body empty", "POST", "/v1.0/proj/queues", "", 400, codeMalformed},
		{"queue body not JSON", "POST", "/v1.0/proj/queues", `{"name":`, 400, codeMalformed},
		{"queue body array", "POST", "/v1.0/proj/queues", `[]`, 400, codeMalformed},
		{"queue body null", "POST", "/v1.0/proj/queues", `null`, 400, codeMalformed},
		{"queue body trailing", "POST", "/v1.0/proj/queues", `{"name":"q"} x`, 400, codeMalformed},
		{"name missing", "POST", "/v1.0/proj/queues", `{}`, 400, codeQueueNameLength},
		{"name null", "POST", "/v1.0/proj/queues", `{"name":null}`, 400, codeQueueNameLength},
		{"name empty", "POST", "/v1.0/proj/queues", `{"name":""}`, 400, codeQueueNameLength},
		{"name 65", "POST", "/v1.0/proj/queues", `{"name":"` + long(65) + `"}`, 400, codeQueueNameLength},
		{"name chars", "POST", "/v1.0/proj/queues", `{"name":"a b"}`, 400, codeQueueNameChars},
		{"name unicode", "POST", "/v1.0/proj/queues", `{"name":"é"}`, 400, codeQueueNameChars},
		{"name number", "POST", "/v1.0/proj/queues", `{"name":5}`, 400, codeMalformed},
		{"description <", "POST", "/v1.0/proj/queues", q(`,"description":"a<b"`), 400, codeDescriptionChars},
		{"description >", "POST", "/v1.0/proj/queues", q(`,"description":">"`), 400, codeDescriptionChars},
		{"description 161", "POST", "/v1.0/proj/queues", q(`,"description":"` + long(161) + `"`), 400, codeDescriptionLen},
		{"description 161 runes", "POST", "/v1.0/proj/queues", q(`,"description":"` + strings.Repeat("é", 161) + `"`), 400, codeDescriptionLen},
		{"description type", "POST", "/v1.0/proj/queues", q(`,"description":1`), 400, codeMalformed},
		{"mode unknown", "POST", "/v1.0/proj/queues", q(`,"queue_mode":"LIFO"`), 400, codeMalformed},
		{"mode lower case", "POST", "/v1.0/proj/queues", q(`,"queue_mode":"fifo"`), 400, codeMalformed},
		{"mode type", "POST", "/v1.0/proj/queues", q(`,"queue_mode":1`), 400, codeMalformed},
		{"redrive unknown", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":"on"`), 400, codeMalformed},
		{"redrive type", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":true`), 400, codeMalformed},
		{"redrive kafka ha", "POST", "/v1.0/proj/queues", q(`,"queue_mode":"KAFKA_HA","redrive_policy":"enable","max_consume_count":3`), 400, codeMalformed},
		{"redrive kafka ht", "POST", "/v1.0/proj/queues", q(`,"queue_mode":"KAFKA_HT","redrive_policy":"enable","max_consume_count":3`), 400, codeMalformed},
		{"mcc missing", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":"enable"`), 400, codeMaxConsumeCount},
		{"mcc null", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":"enable","max_consume_count":null`), 400, codeMaxConsumeCount},
		{"mcc 0", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":"enable","max_consume_count":0`), 400, codeMaxConsumeCount},
		{"mcc 101", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":"enable","max_consume_count":101`), 400, codeMaxConsumeCount},
		{"mcc -1", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":"enable","max_consume_count":-1`), 400, codeMaxConsumeCount},
		{"mcc 3.5", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":"enable","max_consume_count":3.5`), 400, codeMaxConsumeCount},
		{"mcc 1e1", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":"enable","max_consume_count":1e1`), 400, codeMaxConsumeCount},
		{"mcc string", "POST", "/v1.0/proj/queues", q(`,"redrive_policy":"enable","max_consume_count":"5"`), 400, codeMaxConsumeCount},
		{"mcc out of range without redrive", "POST", "/v1.0/proj/queues", q(`,"max_consume_count":500`), 400, codeMaxConsumeCount},
		{"retention on NORMAL", "POST", "/v1.0/proj/queues", q(`,"retention_hours":5`), 400, codeRetentionMode},
		{"retention on FIFO", "POST", "/v1.0/proj/queues", q(`,"queue_mode":"FIFO","retention_hours":5`), 400, codeRetentionMode},
		{"retention 0", "POST", "/v1.0/proj/queues", q(`,"queue_mode":"KAFKA_HA","retention_hours":0`), 400, codeRetentionRange},
		{"retention 73", "POST", "/v1.0/proj/queues", q(`,"queue_mode":"KAFKA_HT","retention_hours":73`), 400, codeRetentionRange},
		{"retention 1.5", "POST", "/v1.0/proj/queues", q(`,"queue_mode":"KAFKA_HT","retention_hours":1.5`), 400, codeRetentionRange},
		{"retention string", "POST", "/v1.0/proj/queues", q(`,"queue_mode":"KAFKA_HT","retention_hours":"5"`), 400, codeRetentionRange},
		{"retention policy unknown", "POST", "/v1.0/proj/queues", q(`,"retention_policy":"never"`), 400, codeRetentionPolicy},
		{"retention policy type", "POST", "/v1.0/proj/queues", q(`,"retention_policy":true`), 400, codeRetentionPolicy},

		// include_deadletter
		{"include_deadletter list", "GET", "/v1.0/proj/queues?include_deadletter=yes", "", 400, codeMalformed},
		{"include_deadletter get", "GET", vqp + "?include_deadletter=1", "", 400, codeMalformed},
		{"include_deadletter groups", "GET", vqp + "/groups?include_deadletter=x", "", 400, codeMalformed},

		// create groups
		{"groups body empty", "POST", vqp + "/groups", "", 400, codeMalformed},
		{"groups missing", "POST", vqp + "/groups", `{}`, 400, codeMalformed},
		{"groups not array", "POST", vqp + "/groups", `{"groups":{"name":"g"}}`, 400, codeMalformed},
		{"groups empty", "POST", vqp + "/groups", `{"groups":[]}`, 400, codeMalformed},
		{"groups 11", "POST", vqp + "/groups", `{"groups":[` + strings.Repeat(`{"name":"g"},`, 10) + `{"name":"g"}]}`, 400, codeMalformed},
		{"group not object", "POST", vqp + "/groups", `{"groups":["g1"]}`, 400, codeMalformed},
		{"group name missing", "POST", vqp + "/groups", `{"groups":[{}]}`, 400, codeGroupName},
		{"group name empty", "POST", vqp + "/groups", `{"groups":[{"name":""}]}`, 400, codeGroupName},
		{"group name 33", "POST", vqp + "/groups", `{"groups":[{"name":"` + long(33) + `"}]}`, 400, codeGroupName},
		{"group name chars", "POST", vqp + "/groups", `{"groups":[{"name":"g/1"}]}`, 400, codeGroupName},
		{"group name type", "POST", vqp + "/groups", `{"groups":[{"name":1}]}`, 400, codeMalformed},
		{"group name twice", "POST", vqp + "/groups", `{"groups":[{"name":"g1"},{"name":"g1"}]}`, 400, codeGroupExists},

		// produce
		{"produce empty body", "POST", vqp + "/messages", "", 400, codeMalformed},
		{"produce bad JSON", "POST", vqp + "/messages", `{"messages":[{"body":}]}`, 400, codeMalformed},
		{"produce no messages", "POST", vqp + "/messages", `{}`, 400, codeMalformed},
		{"produce messages null", "POST", vqp + "/messages", `{"messages":null}`, 400, codeMalformed},
		{"produce messages object", "POST", vqp + "/messages", `{"messages":{"body":1}}`, 400, codeMalformed},
		{"produce 0 messages", "POST", vqp + "/messages", msgs(0), 400, codeMalformed},
		{"produce 11 messages", "POST", vqp + "/messages", msgs(11), 400, codeMalformed},
		{"produce message not object", "POST", vqp + "/messages", `{"messages":[1]}`, 400, codeMalformed},
		{"produce body missing", "POST", vqp + "/messages", `{"messages":[{"attributes":{}}]}`, 400, codeBodyMissing},
		{"produce body null", "POST", vqp + "/messages", `{"messages":[{"body":null}]}`, 400, codeBodyMissing},
		{"produce second body missing", "POST", vqp + "/messages", `{"messages":[{"body":1},{}]}`, 400, codeBodyMissing},
		{"produce attributes array", "POST", vqp + "/messages", `{"messages":[{"body":1,"attributes":[]}]}`, 400, codeMalformed},
		{"produce attributes string", "POST", vqp + "/messages", `{"messages":[{"body":1,"attributes":"a"}]}`, 400, codeMalformed},
		{"produce returnId string", "POST", vqp + "/messages", `{"messages":[{"body":1}],"returnId":"true"}`, 400, codeMalformed},
		{"produce message too big", "POST", vqp + "/messages", `{"messages":[{"body":` + big(maxMessageBytes+1) + `}]}`, 400, codeTooLarge},
		{"produce body+attributes too big", "POST", vqp + "/messages", `{"messages":[{"body":` + big(maxMessageBytes-10) + `,"attributes":{"a":"12345678"}}]}`, 400, codeTooLarge},
		{"produce sum too big", "POST", vqp + "/messages", `{"messages":[{"body":` + big(maxMessageBytes/2) + `},{"body":` + big(maxMessageBytes/2+1) + `}]}`, 400, codeTooLarge},

		// consume and dead-letter consume
		{"max_msgs 0", "GET", vgp + "/messages?max_msgs=0", "", 400, codeMaxMsgs},
		{"max_msgs 11", "GET", vgp + "/messages?max_msgs=11", "", 400, codeMaxMsgs},
		{"max_msgs 3.5", "GET", vgp + "/messages?max_msgs=3.5", "", 400, codeMaxMsgs},
		{"max_msgs abc", "GET", vgp + "/messages?max_msgs=abc", "", 400, codeMaxMsgs},
		{"max_msgs -1", "GET", vgp + "/messages?max_msgs=-1", "", 400, codeMaxMsgs},
		{"max_msgs huge", "GET", vgp + "/messages?max_msgs=99999999999999999999", "", 400, codeMaxMsgs},
		{"time_wait 0", "GET", vgp + "/messages?time_wait=0", "", 400, codeTimeWait},
		{"time_wait 61", "GET", vgp + "/messages?time_wait=61", "", 400, codeTimeWait},
		{"time_wait 1.5", "GET", vgp + "/messages?time_wait=1.5", "", 400, codeTimeWait},
		{"time_wait abc", "GET", vgp + "/messages?time_wait=abc", "", 400, codeTimeWait},
		{"ack_wait 14", "GET", vgp + "/messages?ack_wait=14", "", 400, codeAckWait},
		{"ack_wait 301", "GET", vgp + "/messages?ack_wait=301", "", 400, codeAckWait},
		{"ack_wait 30.0", "GET", vgp + "/messages?ack_wait=30.0", "", 400, codeAckWait},
		{"ack_wait abc", "GET", vgp + "/messages?ack_wait=abc", "", 400, codeAckWait},
		{"dl max_msgs 11", "GET", vgp + "/deadletters?max_msgs=11", "", 400, codeMaxMsgs},
		{"dl time_wait 61", "GET", vgp + "/deadletters?time_wait=61", "", 400, codeTimeWait},
		{"dl ack_wait 3.5", "GET", vgp + "/deadletters?ack_wait=3.5", "", 400, codeAckWait},

		// ack and dead-letter ack
		{"ack empty body", "POST", vgp + "/ack", "", 400, codeMalformed},
		{"ack bad JSON", "POST", vgp + "/ack", `{"message":[`, 400, codeMalformed},
		{"ack no message", "POST", vgp + "/ack", `{}`, 400, codeMalformed},
		{"ack message object", "POST", vgp + "/ack", `{"message":{"handler":"h"}}`, 400, codeMalformed},
		{"ack 0 entries", "POST", vgp + "/ack", acks(0), 400, codeMalformed},
		{"ack 11 entries", "POST", vgp + "/ack", acks(11), 400, codeMalformed},
		{"ack entry not object", "POST", vgp + "/ack", `{"message":["h"]}`, 400, codeMalformed},
		{"ack handler missing", "POST", vgp + "/ack", `{"message":[{"status":"success"}]}`, 400, codeMalformed},
		{"ack handler empty", "POST", vgp + "/ack", `{"message":[{"handler":""}]}`, 400, codeMalformed},
		{"ack handler number", "POST", vgp + "/ack", `{"message":[{"handler":5}]}`, 400, codeMalformed},
		{"ack second handler missing", "POST", vgp + "/ack", `{"message":[{"handler":"h"},{}]}`, 400, codeMalformed},
		{"ack status bad", "POST", vgp + "/ack", `{"message":[{"handler":"h","status":"ok"}]}`, 400, codeAckStatus},
		{"ack status case", "POST", vgp + "/ack", `{"message":[{"handler":"h","status":"SUCCESS"}]}`, 400, codeAckStatus},
		{"ack status number", "POST", vgp + "/ack", `{"message":[{"handler":"h","status":1}]}`, 400, codeAckStatus},
		{"ack status empty", "POST", vgp + "/ack", `{"message":[{"handler":"h","status":""}]}`, 400, codeAckStatus},
		{"dl ack 11 entries", "POST", vgp + "/deadletters/ack", acks(11), 400, codeMalformed},
		{"dl ack status bad", "POST", vgp + "/deadletters/ack", `{"message":[{"handler":"h","status":"done"}]}`, 400, codeAckStatus},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &untouchedBroker{t: t}
			s, err := New(quietConfig(), b)
			if err != nil {
				t.Fatal(err)
			}
			resp := serveInMemory(s.Handler(), tc.method, tc.path, tc.body)
			if resp.StatusCode() != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode(), tc.status, resp.Body())
			}
			if e := decodeError(t, resp); e.ErrorCode != tc.code || e.ErrorMsg == "" {
				t.Fatalf("body %+v, want code %s and a message", e, tc.code)
			}
			if len(resp.Header.Peek(headerRequestID)) == 0 {
				t.Fatal("no X-Request-Id")
			}
			if tc.status == 405 && len(resp.Header.Peek(fasthttp.HeaderAllow)) == 0 {
				t.Fatal("405 without Allow")
			}
			if b.calls.Load() != 0 {
				t.Fatalf("broker called %d times", b.calls.Load())
			}
		})
	}
}

// "ack status empty": API.md says status is success or fail; an empty
// string is neither (null and absent are the default).
func TestParseAck_Defaults(t *testing.T) {
	entries, err := parseAck([]byte(`{"message":[{"handler":"a"},{"handler":"b","status":null},{"handler":"c","status":"fail"},{"handler":"d","status":"success","extra":1}],"other":true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []ackRequestEntry{{"a", true}, {"b", true}, {"c", false}, {"d", true}}
	if fmt.Sprint(entries) != fmt.Sprint(want) {
		t.Fatalf("entries %v, want %v", entries, want)
	}
}

func TestParseQueueSpec_Accepted(t *testing.T) {
	cases := []struct {
		body string
		want cluster.QueueSpec
	}{
		{`{"name":"q"}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeNormal}},
		{`{"name":"` + strings.Repeat("A", 64) + `"}`, cluster.QueueSpec{Name: strings.Repeat("A", 64), Mode: cluster.ModeNormal}},
		{`{"name":"a-_Z9","description":"","queue_mode":"","redrive_policy":""}`, cluster.QueueSpec{Name: "a-_Z9", Mode: cluster.ModeNormal}},
		{`{"name":"q","description":"` + strings.Repeat("é", 160) + `"}`, cluster.QueueSpec{Name: "q", Description: strings.Repeat("é", 160), Mode: cluster.ModeNormal}},
		{`{"name":"q","queue_mode":"FIFO","redrive_policy":"enable","max_consume_count":1}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeFIFO, Redrive: true, MaxConsumeCount: 1}},
		{`{"name":"q","redrive_policy":"enable","max_consume_count":100}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeNormal, Redrive: true, MaxConsumeCount: 100}},
		{`{"name":"q","redrive_policy":"disable","max_consume_count":5}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeNormal}},
		{`{"name":"q","queue_mode":"KAFKA_HA"}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeKafkaHA}},
		{`{"name":"q","queue_mode":"KAFKA_HT","retention_hours":1,"redrive_policy":"disable"}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeKafkaHT, RetentionHours: 1}},
		{`{"name":"q","queue_mode":"KAFKA_HA","retention_hours":72}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeKafkaHA, RetentionHours: 72}},
		{`{"name":"q","retention_hours":null,"max_consume_count":null,"unknown":[1,2]}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeNormal}},
		{` { "name" : "q" } `, cluster.QueueSpec{Name: "q", Mode: cluster.ModeNormal}},
		{`{"name":"q","retention_policy":null}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeNormal}},
		{`{"name":"q","retention_policy":"time"}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeNormal, RetentionPolicy: cluster.RetentionTime}},
		{`{"name":"q","queue_mode":"FIFO","retention_policy":"acked"}`, cluster.QueueSpec{Name: "q", Mode: cluster.ModeFIFO, RetentionPolicy: cluster.RetentionAcked}},
	}
	for _, tc := range cases {
		got, err := parseQueueSpec([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.body, got, tc.want)
		}
	}
}

// Field names match exactly: "Name" is not "name".
func TestParseQueueSpec_FieldNamesAreCaseSensitive(t *testing.T) {
	_, err := parseQueueSpec([]byte(`{"Name":"q"}`))
	if status, body := errorResponse(err); status != 400 || body.ErrorCode != codeQueueNameLength {
		t.Fatalf("got %d %+v", status, body)
	}
}

func TestParseGroupNames_Accepted(t *testing.T) {
	names, err := parseGroupNames([]byte(`{"groups":[{"name":"g1"},{"name":"` + strings.Repeat("G", 32) + `","x":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names) != fmt.Sprint([]string{"g1", strings.Repeat("G", 32)}) {
		t.Fatalf("names %v", names)
	}
}

func TestParseConsumeParams(t *testing.T) {
	cases := []struct {
		query string
		want  consumeParams
	}{
		{"", consumeParams{10, 3e9, 30e9}},
		{"max_msgs=&time_wait=&ack_wait=", consumeParams{10, 3e9, 30e9}},
		{"max_msgs=1&time_wait=1&ack_wait=15", consumeParams{1, 1e9, 15e9}},
		{"max_msgs=10&time_wait=60&ack_wait=300", consumeParams{10, 60e9, 300e9}},
		{"max_msgs=05&other=x", consumeParams{5, 3e9, 30e9}},
	}
	for _, tc := range cases {
		var args fasthttp.Args
		args.Parse(tc.query)
		got, err := parseConsumeParams(&args)
		if err != nil {
			t.Errorf("%q: %v", tc.query, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.query, got, tc.want)
		}
	}
}

func TestParseProduce_KeepsExactText(t *testing.T) {
	body := `{"returnId":true,"messages":[` +
		`{"body": {"b" : [1, 2.50, "\u00e9"]} ,"attributes": {"k":"v", "n":1}},` +
		`{"body":"text"},` +
		`{"body":0,"attributes":null},` +
		`{"body":false,"attributes":{}}]}`
	msgs, returnID, err := parseProduce([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if !returnID {
		t.Fatal("returnId lost")
	}
	want := []fsm.Message{
		{Body: []byte(`{"b" : [1, 2.50, "\u00e9"]}`), Attributes: []byte(`{"k":"v", "n":1}`)},
		{Body: []byte(`"text"`)},
		{Body: []byte(`0`)},
		{Body: []byte(`false`), Attributes: []byte(`{}`)},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages", len(msgs))
	}
	for i := range want {
		if string(msgs[i].Body) != string(want[i].Body) || string(msgs[i].Attributes) != string(want[i].Attributes) {
			t.Errorf("message %d: body %q attributes %q, want %q %q", i, msgs[i].Body, msgs[i].Attributes, want[i].Body, want[i].Attributes)
		}
	}
}

// The size limits are inclusive: exactly 524288 bytes is accepted.
func TestParseProduce_SizeLimitInclusive(t *testing.T) {
	body := `"` + strings.Repeat("x", maxMessageBytes-2-len(`{"a":1}`)) + `"`
	msgs, _, err := parseProduce([]byte(`{"messages":[{"body":` + body + `,"attributes":{"a":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Size() != maxMessageBytes {
		t.Fatalf("size %d", msgs[0].Size())
	}
}

func FuzzProduceBody(f *testing.F) {
	f.Add(`{"messages":[{"body":{"a":1},"attributes":{"k":"v"}}],"returnId":true}`)
	f.Add(`{"messages":[{"body":"x"},{"body":[1,2,3]},{"body":null}]}`)
	f.Add(`{"messages":[]}`)
	f.Add(`{"messages":[{"body":1,"attributes":[]}]}`)
	f.Add(`{"messages":[{"body":  1e400 }]}`)
	f.Add(`{"messages":[{"body":"\ud800"}]}`)
	f.Add(`[]`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, body string) {
		msgs, _, err := parseProduce([]byte(body))
		if err != nil {
			status, eb := errorResponse(err)
			if status != 400 {
				t.Fatalf("status %d for %q", status, body)
			}
			switch eb.ErrorCode {
			case codeMalformed, codeBodyMissing, codeTooLarge:
			default:
				t.Fatalf("code %s for %q", eb.ErrorCode, body)
			}
			return
		}
		if len(msgs) < 1 || len(msgs) > maxProduceMessages {
			t.Fatalf("%d messages accepted", len(msgs))
		}
		total := 0
		for _, m := range msgs {
			if !json.Valid(m.Body) || string(m.Body) == "null" {
				t.Fatalf("body %q accepted", m.Body)
			}
			if m.Attributes != nil && (!json.Valid(m.Attributes) || !isKind(m.Attributes, '{')) {
				t.Fatalf("attributes %q accepted", m.Attributes)
			}
			total += m.Size()
			// What consume writes back must be valid JSON.
			out := appendDeliveries(nil, []cluster.Delivery{{Delivery: fsm.Delivery{Message: m}}}, func(cluster.Delivery) string { return "h" })
			if !json.Valid(out) {
				t.Fatalf("consume response %q is not JSON", out)
			}
		}
		if total > maxMessagesBytes {
			t.Fatalf("%d bytes accepted", total)
		}
	})
}
