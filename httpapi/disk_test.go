package httpapi

import (
	"sync/atomic"
	"testing"
	"time"

	mq "github.com/aliyunmq/mq-http-go-sdk"

	"raftmq/cluster"
	"raftmq/cluster/clustertest"
)

// fakeDisk is a cluster.DiskSpace whose free space the test sets.
type fakeDisk struct{ free atomic.Uint64 }

func (d *fakeDisk) DiskSpace() (uint64, uint64, error) { return d.free.Load(), 100 << 30, nil }

func withDisk(d *fakeDisk) clustertest.Option {
	return func(c *cluster.Config) {
		c.Disk = cluster.DiskLimits{MinFreeBytes: 1 << 30, Interval: 10 * time.Millisecond, Space: d}
	}
}

// TestServer_LowDiskRefusesProduceOnBothDoors: below the watermark the
// DMS door answers 507 10550001 and the RocketMQ door 507
// InsufficientStorage, both with Retry-After: 5; consume, ack and deletes
// are served; once space is back produce is accepted again.
func TestServer_LowDiskRefusesProduceOnBothDoors(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(50 << 30)
	e := startMQEnv(t, 0, nil, withDisk(disk))
	q := e.createQueue(mqInst, `{"name":"TopicA"}`)
	g := e.createGroup(mqInst, q, "g1")
	g2 := e.createGroup(mqInst, q, "g2")
	e.produce(mqInst, q, `"a"`, `"b"`)

	disk.free.Store(100 << 20)
	produce := func() response {
		return e.request("POST", "/v1.0/"+mqInst+"/queues/"+q+"/messages", `{"messages":[{"body":"c"}]}`)
	}
	deadline := time.Now().Add(10 * time.Second)
	r := produce()
	for r.status == 201 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the guard reads free space every 10 ms
		r = produce()
	}
	e.fails("POST", "/v1.0/"+mqInst+"/queues/"+q+"/messages", `{"messages":[{"body":"c"}]}`, 507, codeDiskFull)
	if got := r.header.Get("Retry-After"); r.status != 507 || got != "5" {
		t.Fatalf("produce on a low disk: %d, Retry-After %q", r.status, got)
	}
	c := e.mqClient(mqAK, mqSecret)
	_, err := c.GetProducer(mqInst, "TopicA").PublishMessage(mq.PublishMessageRequest{MessageBody: "x"})
	wantMQErr(t, "publish on a low disk", err, "InsufficientStorage")

	// Consume and ack go on (everything produced before, and whatever the
	// loop above got in before the guard saw the low disk).
	for {
		ms := e.consume(mqInst, q, g, "messages", "max_msgs=10&time_wait=1")
		if len(ms) == 0 {
			break
		}
		var es []ackEntry
		for _, m := range ms {
			es = append(es, ackEntry{handler: m.Handler})
		}
		if out := e.ack(mqInst, q, g, "ack", es...); out.Fail != 0 {
			t.Fatalf("ack on a low disk: %+v", out)
		}
	}
	if r := e.request("DELETE", "/v1.0/"+mqInst+"/queues/"+q+"/groups/"+g2, ""); r.status != 204 {
		t.Fatalf("group delete on a low disk: %d %s", r.status, r.body)
	}

	disk.free.Store(50 << 30)
	deadline = time.Now().Add(10 * time.Second)
	for r = produce(); r.status != 201; r = produce() {
		if time.Now().After(deadline) {
			t.Fatalf("produce still refused after space came back: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.GetProducer(mqInst, "TopicA").PublishMessage(mq.PublishMessageRequest{MessageBody: "x"}); err != nil {
		t.Fatalf("publish after space came back: %v", err)
	}
}
