package httpapi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mq "github.com/aliyunmq/mq-http-go-sdk"

	"raftmq/cluster/clustertest"
)

// These tests drive the RocketMQ door with the unmodified official Go client.

const (
	mqInst   = "MQ_INST_1"
	mqAK     = "AK_TEST"
	mqSecret = "SK_TEST"
	adminAK  = "AK_ADMIN"
	adminSK  = "SK_ADMIN"
)

// startMQEnv starts a server with credentials (AK_TEST on MQ_INST_1, AK_OTHER
// on other_inst only) and lease, when not zero, as the RocketMQ lease.
func startMQEnv(t *testing.T, lease time.Duration, adjust func(*Config), opts ...clustertest.Option) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte("# test keys\n"+mqAK+" "+mqSecret+" "+mqInst+"\nAK_OTHER SK_OTHER other_inst\n"+adminAK+" "+adminSK+" *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, func(c *Config) {
		c.Credentials = creds
		if lease > 0 {
			c.RocketMQLease = lease
		}
		if adjust != nil {
			adjust(c)
		}
	}, opts...)
	// The DMS requests of these tests (setting up queues) are signed with
	// the admin key, on the server's clock.
	e.signer = &sdkTestSigner{ak: adminAK, sk: adminSK, now: e.srv.cfg.Now}
	return e
}

func (e *env) mqClient(ak, sk string) mq.MQClient {
	return mq.NewAliyunMQClient(e.base, ak, sk, "")
}

func mqConsume(t *testing.T, c mq.MQConsumer, n int32, wait int64, ordered bool) ([]mq.ConsumeMessageEntry, error) {
	t.Helper()
	resp := make(chan mq.ConsumeMessageResponse, 1)
	errs := make(chan error, 1)
	if ordered {
		c.ConsumeMessageOrderly(resp, errs, n, wait)
	} else {
		c.ConsumeMessage(resp, errs, n, wait)
	}
	select {
	case r := <-resp:
		return r.Messages, nil
	case err := <-errs:
		return nil, err
	}
}

// mqConsumeN consumes until n messages came, failing on more or on 30 s.
func mqConsumeN(t *testing.T, c mq.MQConsumer, n int, ordered bool) []mq.ConsumeMessageEntry {
	t.Helper()
	var got []mq.ConsumeMessageEntry
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d of %d in 30 s", len(got), n)
		}
		ms, err := mqConsume(t, c, 16, 2, ordered)
		if err != nil && !strings.Contains(err.Error(), "MessageNotExist") {
			t.Fatalf("consume: %v", err)
		}
		got = append(got, ms...)
	}
	if len(got) != n {
		t.Fatalf("consumed %d, want %d", len(got), n)
	}
	return got
}

func wantMQErr(t *testing.T, what string, err error, code string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), code) {
		t.Fatalf("%s: error %v, want %s", what, err, code)
	}
}

func TestRocketMQ_PublishConsumeAckWithOfficialClient(t *testing.T) {
	e := startMQEnv(t, 0, nil)
	e.createQueue(mqInst, `{"name":"TopicA"}`)
	c := e.mqClient(mqAK, mqSecret)
	p := c.GetProducer(mqInst, "TopicA")
	pub, err := p.PublishMessage(mq.PublishMessageRequest{
		MessageBody: "hello <world> & co", MessageTag: "TagA", MessageKey: "key-1",
		Properties: map[string]string{"color": "red", "n": "2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.MessageId) != 32 || pub.MessageBodyMD5 != bodyMD5("hello <world> & co") {
		t.Fatalf("publish answered %+v", pub)
	}
	cons := c.GetConsumer(mqInst, "TopicA", "GID_1", "")
	ms := mqConsumeN(t, cons, 1, false)
	m := ms[0]
	if m.MessageBody != "hello <world> & co" || m.MessageTag != "TagA" || m.MessageKey != "key-1" ||
		m.MessageId != pub.MessageId || m.MessageBodyMD5 != pub.MessageBodyMD5 || m.ConsumedTimes != 1 ||
		m.Properties["color"] != "red" || m.Properties["n"] != "2" || len(m.Properties) != 2 {
		t.Fatalf("consumed %+v", m)
	}
	if m.NextConsumeTime-m.FirstConsumeTime != 5*60*1000 || m.PublishTime == 0 || m.PublishTime > m.FirstConsumeTime {
		t.Fatalf("times: publish %d first %d next %d", m.PublishTime, m.FirstConsumeTime, m.NextConsumeTime)
	}
	if err := cons.AckMessage([]string{m.ReceiptHandle}); err != nil {
		t.Fatalf("ack: %v", err)
	}
	wantMQErr(t, "second ack", cons.AckMessage([]string{m.ReceiptHandle}), "ReceiptHandleError")

	// An empty long poll waits, then 404 MessageNotExist.
	start := time.Now()
	_, err = mqConsume(t, cons, 3, 1, false)
	wantMQErr(t, "empty long poll", err, "MessageNotExist")
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("empty long poll returned after %v", d)
	}
	// Unknown topic.
	_, err = mqConsume(t, c.GetConsumer(mqInst, "NoSuchTopic", "GID_1", ""), 1, 0, false)
	wantMQErr(t, "unknown topic", err, "TopicNotExist")
}

func TestRocketMQ_HandlesForgedForeignExpired(t *testing.T) {
	e := startMQEnv(t, 2*time.Second, nil)
	qid := e.createQueue(mqInst, `{"name":"TopicH"}`)
	c := e.mqClient(mqAK, mqSecret)
	p := c.GetProducer(mqInst, "TopicH")
	for _, b := range []string{"m1", "m2"} {
		if _, err := p.PublishMessage(mq.PublishMessageRequest{MessageBody: b}); err != nil {
			t.Fatal(err)
		}
	}
	// A DMS group and a DMS message, for a DMS handler.
	gid := e.createGroup(mqInst, qid, "dmsgroup")
	e.produce(mqInst, qid, `"d"`)
	d := e.consumeN(mqInst, qid, gid, "messages", 3, "")
	g1 := c.GetConsumer(mqInst, "TopicH", "GID_1", "")
	g2 := c.GetConsumer(mqInst, "TopicH", "GID_2", "")
	ms1 := mqConsumeN(t, g1, 3, false)
	ms2 := mqConsumeN(t, g2, 3, false)

	wantMQErr(t, "forged", g1.AckMessage([]string{"adfadfadf"}), "ReceiptHandleError")
	wantMQErr(t, "foreign group", g1.AckMessage([]string{ms2[0].ReceiptHandle}), "ReceiptHandleError")
	// A DMS handler is foreign to this door.
	wantMQErr(t, "DMS handler", g1.AckMessage([]string{d[0].Handler}), "ReceiptHandleError")

	// A good handle with a bad one: the good one is acknowledged.
	wantMQErr(t, "mixed", g1.AckMessage([]string{ms1[0].ReceiptHandle, "bad"}), "ReceiptHandleError")
	wantMQErr(t, "mixed again", g1.AckMessage([]string{ms1[0].ReceiptHandle}), "ReceiptHandleError")

	// ms1[1] is not acknowledged: after the 2 s lease it comes again, with a
	// new handle; the old one is MessageNotExist, the new one works.
	again := mqConsumeN(t, g1, 2, false)
	var re mq.ConsumeMessageEntry
	for _, m := range again {
		if m.MessageId == ms1[1].MessageId {
			re = m
		}
	}
	if re.ConsumedTimes != 2 || re.ReceiptHandle == ms1[1].ReceiptHandle {
		t.Fatalf("redelivery %+v of %+v", re, ms1[1])
	}
	wantMQErr(t, "expired", g1.AckMessage([]string{ms1[1].ReceiptHandle}), "MessageNotExist")
	if err := g1.AckMessage([]string{re.ReceiptHandle}); err != nil {
		t.Fatalf("ack of the redelivery: %v", err)
	}
}

func TestRocketMQ_TagFilter(t *testing.T) {
	e := startMQEnv(t, 0, nil)
	qid := e.createQueue(mqInst, `{"name":"TopicT","queue_mode":"FIFO"}`)
	c := e.mqClient(mqAK, mqSecret)
	p := c.GetProducer(mqInst, "TopicT")
	for _, tag := range []string{"A", "B", "C", "", "A"} {
		if _, err := p.PublishMessage(mq.PublishMessageRequest{MessageBody: "tag-" + tag, MessageTag: tag}); err != nil {
			t.Fatal(err)
		}
	}
	cons := c.GetConsumer(mqInst, "TopicT", "GID_T", "A||B")
	ms := mqConsumeN(t, cons, 3, false)
	var got []string
	for _, m := range ms {
		got = append(got, m.MessageBody)
	}
	if strings.Join(got, ",") != "tag-A,tag-B,tag-A" {
		t.Fatalf("filtered consume got %v", got)
	}
	_, err := mqConsume(t, cons, 16, 0, false)
	wantMQErr(t, "nothing more", err, "MessageNotExist")
	// For that group the others count as consumed.
	var groups struct {
		Groups []struct {
			Name             string
			ConsumedMessages int64 `json:"consumed_messages"`
		}
	}
	e.ok("GET", "/v1.0/"+mqInst+"/queues/"+qid+"/groups", "", 200, &groups)
	if len(groups.Groups) != 1 || groups.Groups[0].Name != "GID_T" || groups.Groups[0].ConsumedMessages != 2 {
		t.Fatalf("groups %+v", groups)
	}
	// A group without a filter sees all five.
	mqConsumeN(t, c.GetConsumer(mqInst, "TopicT", "GID_ALL", ""), 5, false)
}

func TestRocketMQ_DelayedDelivery(t *testing.T) {
	e := startMQEnv(t, 0, nil)
	e.createQueue(mqInst, `{"name":"TopicD"}`)
	c := e.mqClient(mqAK, mqSecret)
	at := time.Now().Add(2 * time.Second).UnixMilli()
	if _, err := c.GetProducer(mqInst, "TopicD").PublishMessage(mq.PublishMessageRequest{MessageBody: "later", StartDeliverTime: at}); err != nil {
		t.Fatal(err)
	}
	cons := c.GetConsumer(mqInst, "TopicD", "GID_D", "")
	_, err := mqConsume(t, cons, 1, 0, false)
	wantMQErr(t, "before due", err, "MessageNotExist")
	// One long poll longer than the delay wakes when the message is due.
	ms, err := mqConsume(t, cons, 1, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	if now := time.Now().UnixMilli(); now < at || ms[0].MessageBody != "later" || ms[0].StartDeliverTime != at {
		t.Fatalf("got %+v at %d, due %d", ms[0], now, at)
	}
	if ms[0].FirstConsumeTime < at {
		t.Fatalf("first consume %d before %d", ms[0].FirstConsumeTime, at)
	}
}

func TestRocketMQ_OrderedConsumeByShardingKey(t *testing.T) {
	e := startMQEnv(t, 0, nil)
	e.createQueue(mqInst, `{"name":"TopicO"}`) // three partitions
	c := e.mqClient(mqAK, mqSecret)
	p := c.GetProducer(mqInst, "TopicO")
	for _, kv := range []string{"k1:1", "k2:1", "k1:2", "k1:3", "k2:2"} {
		k, _, _ := strings.Cut(kv, ":")
		if _, err := p.PublishMessage(mq.PublishMessageRequest{MessageBody: kv, ShardingKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	cons := c.GetConsumer(mqInst, "TopicO", "GID_O", "")
	next := func(want ...string) []mq.ConsumeMessageEntry {
		t.Helper()
		ms := mqConsumeN(t, cons, len(want), true)
		seen := map[string]bool{}
		for _, m := range ms {
			seen[m.MessageBody] = true
			if m.ShardingKey == "" || !strings.HasPrefix(m.MessageBody, m.ShardingKey+":") {
				t.Fatalf("sharding key %q on %q", m.ShardingKey, m.MessageBody)
			}
		}
		for _, w := range want {
			if !seen[w] {
				t.Fatalf("got %d messages without %s", len(ms), w)
			}
		}
		if _, err := mqConsume(t, cons, 16, 0, true); err == nil {
			t.Fatal("a key's next message came before the previous was acknowledged")
		}
		return ms
	}
	ms := next("k1:1", "k2:1")
	var hs []string
	for _, m := range ms {
		hs = append(hs, m.ReceiptHandle)
	}
	if err := cons.AckMessage(hs); err != nil {
		t.Fatal(err)
	}
	ms = next("k1:2", "k2:2")
	for _, m := range ms {
		if m.MessageBody == "k1:2" {
			if err := cons.AckMessage([]string{m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	next("k1:3")
}

func TestRocketMQ_InteropWithDMS(t *testing.T) {
	e := startMQEnv(t, 0, nil)
	qid := e.createQueue(mqInst, `{"name":"TopicX"}`)
	gid := e.createGroup(mqInst, qid, "GID_X")
	c := e.mqClient(mqAK, mqSecret)

	// DMS → RocketMQ.
	var prod struct{ Messages []struct{ ID string } }
	e.ok("POST", "/v1.0/"+mqInst+"/queues/"+qid+"/messages",
		`{"messages":[{"body":"plain text","attributes":{"x":"y","n":2}},{"body":{"a":[1,2]}}],"returnId":true}`, 201, &prod)
	cons := c.GetConsumer(mqInst, "TopicX", "GID_X", "")
	ms := mqConsumeN(t, cons, 2, false)
	byID := map[string]mq.ConsumeMessageEntry{}
	for _, m := range ms {
		byID[m.MessageId] = m
	}
	m0, m1 := byID[prod.Messages[0].ID], byID[prod.Messages[1].ID]
	if m0.MessageBody != "plain text" || m0.Properties["x"] != "y" || m0.Properties["n"] != "2" || m1.MessageBody != `{"a":[1,2]}` {
		t.Fatalf("DMS messages through RocketMQ: %+v %+v", m0, m1)
	}
	if err := cons.AckMessage([]string{m0.ReceiptHandle, m1.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	// RocketMQ → DMS, same queue and group.
	if _, err := c.GetProducer(mqInst, "TopicX").PublishMessage(mq.PublishMessageRequest{
		MessageBody: `say "hi"`, MessageKey: "k", Properties: map[string]string{"p": "v"}}); err != nil {
		t.Fatal(err)
	}
	d := e.consumeN(mqInst, qid, gid, "messages", 1, "")
	var body string
	if err := json.Unmarshal(d[0].Message.Body, &body); err != nil || body != `say "hi"` || !jsonEqual(d[0].Message.Attributes, []byte(`{"p":"v"}`)) {
		t.Fatalf("RocketMQ message through DMS: %s %s", d[0].Message.Body, d[0].Message.Attributes)
	}
	if r := e.ack(mqInst, qid, gid, "ack", ackEntry{handler: d[0].Handler}); r.Success != 1 {
		t.Fatalf("DMS ack %+v", r)
	}
}

func TestRocketMQ_AuthenticationRefusals(t *testing.T) {
	skew := 20 * time.Minute
	e := startMQEnv(t, 0, nil)
	e.createQueue(mqInst, `{"name":"TopicS"}`)
	e.createQueue("other_inst", `{"name":"TopicS"}`)
	req := mq.PublishMessageRequest{MessageBody: "x"}
	_, err := e.mqClient("NOPE", mqSecret).GetProducer(mqInst, "TopicS").PublishMessage(req)
	wantMQErr(t, "wrong key", err, "InvalidAccessKeyId")
	_, err = e.mqClient(mqAK, "wrong").GetProducer(mqInst, "TopicS").PublishMessage(req)
	wantMQErr(t, "wrong secret", err, "SignatureDoesNotMatch")
	_, err = e.mqClient(mqAK, mqSecret).GetProducer("other_inst", "TopicS").PublishMessage(req)
	wantMQErr(t, "other project", err, "AccessDenied")
	if _, err := e.mqClient("AK_OTHER", "SK_OTHER").GetProducer("other_inst", "TopicS").PublishMessage(req); err != nil {
		t.Fatalf("allowed key: %v", err)
	}

	// A server whose clock is 20 minutes ahead sees the client's Date as skewed.
	e2 := startMQEnv(t, 0, func(c *Config) { c.Now = func() time.Time { return time.Now().Add(skew) } })
	e2.createQueue(mqInst, `{"name":"TopicS"}`)
	_, err = e2.mqClient(mqAK, mqSecret).GetProducer(mqInst, "TopicS").PublishMessage(req)
	wantMQErr(t, "skewed date", err, "TimeExpired")
}

// Without credentials authentication is off; requests are accepted with or
// without XML declaration, namespace or CDATA.
func TestRocketMQ_XMLVariantsWithoutAuth(t *testing.T) {
	e := startEnv(t, nil)
	e.createQueue("default", `{"name":"TopicV"}`)
	for _, body := range []string{
		`<Message><MessageBody>a</MessageBody></Message>`,
		`<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mq.aliyuncs.com/doc/v1/"><MessageBody>b</MessageBody><MessageTag>T</MessageTag></Message>`,
		`<Message><MessageBody><![CDATA[<c>]]></MessageBody><Properties>KEYS:k|x:y|</Properties></Message>`,
	} {
		r := e.request("POST", "/topics/TopicV/messages", body)
		if r.status != 201 || r.header.Get("Content-Type") != contentTypeXML || r.header.Get(headerMQRequestID) == "" {
			t.Fatalf("publish %s: %d %v %s", body, r.status, r.header, r.body)
		}
	}
	r := e.request("POST", "/topics/TopicV/messages", `<Message><Nope/></Message>`)
	if r.status != 400 || !strings.Contains(string(r.body), "MalformedXML") {
		t.Fatalf("malformed: %d %s", r.status, r.body)
	}
	r = e.request("DELETE", "/topics/TopicV/messages?consumer=GID_V", `<ReceiptHandles xmlns="http://mq.aliyuncs.com/doc/v1/"></ReceiptHandles>`)
	if r.status != 404 || !strings.Contains(string(r.body), "<Code>MissingReceiptHandle</Code>") || r.header.Get("Content-Type") != contentTypeXML {
		t.Fatalf("no handle: %d %s", r.status, r.body)
	}
	r = e.request("GET", "/topics/TopicV/messages?consumer=GID_V&numOfMessages=17", "")
	if r.status != 400 || !strings.Contains(string(r.body), "InvalidArgument") {
		t.Fatalf("numOfMessages 17: %d %s", r.status, r.body)
	}
	r = e.request("GET", "/topics/TopicV/messages?consumer=GID_V&numOfMessages=16", "")
	if r.status != 200 || !strings.Contains(string(r.body), "<MessageBody>&lt;c&gt;</MessageBody>") || !strings.Contains(string(r.body), "<Properties>x:y|KEYS:k|</Properties>") {
		t.Fatalf("consume: %d %s", r.status, r.body)
	}
}
