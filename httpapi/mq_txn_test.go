package httpapi

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mq "github.com/aliyunmq/mq-http-go-sdk"

	"raftmq/cluster"
)

// skewedClock is a clock that a test moves forward, shared by the HTTP layer
// and the partitions' stamps, so that check times pass without waiting.
type skewedClock struct{ offset atomic.Int64 }

func (c *skewedClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *skewedClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// startTxnEnv is startMQEnv on a clock the test can move.
func startTxnEnv(t *testing.T) (*env, *skewedClock) {
	t.Helper()
	clk := &skewedClock{}
	e := startMQEnv(t, 0, func(c *Config) { c.Now = clk.now }, func(c *cluster.Config) { c.Raft.Clock = clk.now })
	e.signer.now = clk.now
	return e, clk
}

func mqHalfPop(t *testing.T, p mq.MQTransProducer, n int32, wait int64) ([]mq.ConsumeMessageEntry, error) {
	t.Helper()
	resp := make(chan mq.ConsumeMessageResponse, 1)
	errs := make(chan error, 1)
	p.ConsumeHalfMessage(resp, errs, n, wait)
	select {
	case r := <-resp:
		return r.Messages, nil
	case err := <-errs:
		return nil, err
	}
}

func TestRocketMQ_TransactionalMessagesWithOfficialClient(t *testing.T) {
	e, clk := startTxnEnv(t)
	qid := e.createQueue(mqInst, `{"name":"TopicX"}`)
	c := e.mqClient(mqAK, mqSecret)
	tp := c.GetTransProducer(mqInst, "TopicX", "GID_P")
	pubs := map[string]mq.PublishMessageResponse{}
	for _, body := range []string{"commit-me", "rollback-me", "crashed"} {
		pub, err := tp.PublishMessage(mq.PublishMessageRequest{MessageBody: body, TransCheckImmunityTime: 10,
			Properties: map[string]string{"k": "v"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(pub.MessageId) != 32 || pub.ReceiptHandle == "" {
			t.Fatalf("half publish answered %+v", pub)
		}
		pubs[body] = pub
	}
	cons := c.GetConsumer(mqInst, "TopicX", "GID_C", "")
	_, err := mqConsume(t, cons, 16, 0, false)
	wantMQErr(t, "half messages are invisible", err, "MessageNotExist")
	e.wantProduced(mqInst, qid, 0)

	if err := tp.Commit(pubs["commit-me"].ReceiptHandle); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := tp.Rollback(pubs["rollback-me"].ReceiptHandle); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	wantMQErr(t, "second commit", tp.Commit(pubs["commit-me"].ReceiptHandle), "ReceiptHandleError")
	wantMQErr(t, "commit after rollback", tp.Commit(pubs["rollback-me"].ReceiptHandle), "ReceiptHandleError")
	wantMQErr(t, "forged handle", tp.Commit("forged"), "ReceiptHandleError")
	ms := mqConsumeN(t, cons, 1, false)
	if ms[0].MessageBody != "commit-me" || ms[0].MessageId != pubs["commit-me"].MessageId || ms[0].Properties["k"] != "v" {
		t.Fatalf("consumed %+v", ms[0])
	}
	if err := cons.AckMessage([]string{ms[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	e.wantProduced(mqInst, qid, 1)
	// A half handle is no consumer's handle, and a consumer's is no half's.
	wantMQErr(t, "half handle acked", cons.AckMessage([]string{pubs["crashed"].ReceiptHandle}), "ReceiptHandleError")
	wantMQErr(t, "consumer handle committed", tp.Commit(ms[0].ReceiptHandle), "ReceiptHandleError")

	// The producer of "crashed" never ends it. Before its check time the
	// check-back finds nothing; after it, a new producer finds it once.
	_, err = mqHalfPop(t, tp, 16, 0)
	wantMQErr(t, "check before due", err, "MessageNotExist")
	clk.advance(11 * time.Second)
	tp2 := e.mqClient(mqAK, mqSecret).GetTransProducer(mqInst, "TopicX", "GID_P")
	hs, err := mqHalfPop(t, tp2, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].MessageBody != "crashed" || hs[0].MessageId != pubs["crashed"].MessageId ||
		hs[0].ReceiptHandle == pubs["crashed"].ReceiptHandle || hs[0].Properties["k"] != "v" {
		t.Fatalf("check-back got %+v", hs)
	}
	_, err = mqHalfPop(t, tp2, 16, 0)
	wantMQErr(t, "check window restarted", err, "MessageNotExist")
	wantMQErr(t, "publish handle superseded", tp2.Commit(pubs["crashed"].ReceiptHandle), "ReceiptHandleError")
	if err := tp2.Commit(hs[0].ReceiptHandle); err != nil {
		t.Fatalf("commit after check: %v", err)
	}
	ms = mqConsumeN(t, cons, 1, false)
	if ms[0].MessageBody != "crashed" || ms[0].MessageId != pubs["crashed"].MessageId {
		t.Fatalf("consumed %+v", ms[0])
	}
	// The rolled-back one never comes, to this group or a new one.
	got := mqConsumeN(t, c.GetConsumer(mqInst, "TopicX", "GID_NEW", ""), 2, false)
	for _, m := range got {
		if m.MessageBody == "rollback-me" {
			t.Fatal("a rolled back message was delivered")
		}
	}
}

func TestRocketMQ_TransactionalRefusals(t *testing.T) {
	e, _ := startTxnEnv(t)
	e.createQueue(mqInst, `{"name":"TopicY"}`)
	tp := e.mqClient(mqAK, mqSecret).GetTransProducer(mqInst, "TopicY", "GID_P")
	for _, secs := range []int{9, 301} {
		_, err := tp.PublishMessage(mq.PublishMessageRequest{MessageBody: "x", TransCheckImmunityTime: secs})
		wantMQErr(t, "check time out of range", err, "InvalidArgument")
	}
	// Without credentials, raw requests.
	u := startEnv(t, nil)
	u.createQueue("default", `{"name":"TopicZ"}`)
	for _, q := range []string{"consumer=GID_P&trans=pop&numOfMessages=17", "consumer=&trans=pop", "consumer=GID_P&trans=pop&waitseconds=31"} {
		r := u.request("GET", "/topics/TopicZ/messages?"+q, "")
		if r.status != 400 || !strings.Contains(string(r.body), "InvalidArgument") {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
	}
	handles := "<ReceiptHandles><ReceiptHandle>x</ReceiptHandle></ReceiptHandles>"
	if r := u.request("DELETE", "/topics/TopicZ/messages?consumer=&trans=bogus", handles); r.status != 400 {
		t.Fatalf("trans=bogus: %d %s", r.status, r.body)
	}
	if r := u.request("DELETE", "/topics/TopicZ/messages?consumer=&trans=commit", handles); r.status != 404 ||
		!strings.Contains(string(r.body), "ReceiptHandleError") {
		t.Fatalf("bad handle: %d %s", r.status, r.body)
	}
	if r := u.request("DELETE", "/topics/TopicZ/messages?consumer=&trans=commit", "<ReceiptHandles></ReceiptHandles>"); r.status != 404 ||
		!strings.Contains(string(r.body), "MissingReceiptHandle") {
		t.Fatalf("no handle: %d %s", r.status, r.body)
	}
}

// wantProduced checks the queue's produced_messages.
func (e *env) wantProduced(project, qid string, want int64) {
	e.t.Helper()
	var q struct {
		Produced int64 `json:"produced_messages"`
	}
	e.ok("GET", "/v1.0/"+project+"/queues/"+qid, "", 200, &q)
	if q.Produced != want {
		e.t.Fatalf("produced_messages %d, want %d", q.Produced, want)
	}
}

// A check-back long poll wakes when a half message becomes due.
func TestRocketMQ_TransactionalCheckBackLongPoll(t *testing.T) {
	e, clk := startTxnEnv(t)
	e.createQueue(mqInst, `{"name":"TopicW"}`)
	tp := e.mqClient(mqAK, mqSecret).GetTransProducer(mqInst, "TopicW", "GID_P")
	pub, err := tp.PublishMessage(mq.PublishMessageRequest{MessageBody: "soon", TransCheckImmunityTime: 10})
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(9500 * time.Millisecond)
	start := time.Now()
	hs, err := mqHalfPop(t, tp, 16, 5)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); len(hs) != 1 || hs[0].MessageId != pub.MessageId || d > 4*time.Second {
		t.Fatalf("check-back after %v: %+v", d, hs)
	}
	if hs[0].ConsumedTimes != 1 {
		t.Fatalf("ConsumedTimes %d, want 1 (the first check)", hs[0].ConsumedTimes)
	}
}
