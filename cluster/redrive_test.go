package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
)

// TestCommandAnswer_NewResultsCrossTheWire checks that the results of
// Redrive and Extend survive the JSON of a forwarded command, as the
// others do: a command forwarded to its leader must answer the same.
func TestCommandAnswer_NewResultsCrossTheWire(t *testing.T) {
	for _, res := range []fsm.Result{
		fsm.RedriveResult{Redriven: 7},
		fsm.RedriveResult{},
		fsm.ExtendResult{Reasons: []fsm.Reason{fsm.ReasonNone, fsm.ReasonExpired, fsm.ReasonSuperseded}},
	} {
		b, err := json.Marshal(answerOf(res))
		if err != nil {
			t.Fatal(err)
		}
		var a commandAnswer
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		got, err := a.result()
		if err != nil || !reflect.DeepEqual(got, res) {
			t.Fatalf("%#v crossed as %#v (%s), %v", res, got, b, err)
		}
	}
}

// TestCluster_RedriveExtendAndTagsThroughAFollower runs redrive, lease
// extension and queue tags through nodes that lead neither the partition
// nor the catalogue: the commands are forwarded and answer as on the leader.
func TestCluster_RedriveExtendAndTagsThroughAFollower(t *testing.T) {
	nodes := startTrio(t)
	meta := metaLeader(t, nodes)
	ctx := context.Background()
	q, err := meta.CreateQueue(ctx, "p", QueueSpec{Name: "q", Mode: ModeFIFO, Redrive: true, MaxConsumeCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := meta.CreateGroups(ctx, "p", q.ID, []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	g := gs[0].ID
	pid := catalogue.PartitionID(q.ID, 0)
	var follower *Node
	waitUntil(t, 10*time.Second, "a follower replica of the partition", func() bool {
		for _, n := range nodes {
			if r, ok := n.host.Get(pid); ok && r.Leader() != "" && !r.IsLeader() && n != meta {
				follower = n
				return true
			}
		}
		return false
	})
	if _, err := follower.Produce(ctx, q, []fsm.Message{{Body: []byte(`"a"`)}, {Body: []byte(`"b"`)}}); err != nil {
		t.Fatal(err)
	}
	consume := func(dl bool) []Delivery {
		t.Helper()
		ds, err := follower.Consume(ctx, q, g, ConsumeRequest{Max: 10, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 30_000, WaitMs: 2000, DeadLetter: dl})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	ds := consume(false)
	if len(ds) != 2 {
		t.Fatalf("consumed %d", len(ds))
	}
	// Extend the first; an unknown delivery fails on its own.
	fails, err := follower.Extend(ctx, q, g, false, []ExtendEntry{
		{Partition: 0, Item: fsm.ExtendItem{Offset: ds[0].Offset, DeliveryID: ds[0].DeliveryID, AckWaitMs: 60_000}},
		{Partition: 0, Item: fsm.ExtendItem{Offset: 99, DeliveryID: 1, AckWaitMs: 60_000}},
		{Partition: 5},
	})
	if err != nil || len(fails) != 2 || fails[0] != (ExtendFailure{Index: 1, Reason: "superseded"}) || fails[1] != (ExtendFailure{Index: 2, Reason: "handler_invalid"}) {
		t.Fatalf("extend: %+v, %v", fails, err)
	}
	// Fail both: with max_consume_count 1 they become dead letters.
	out, err := follower.Ack(ctx, q, g, false, []AckEntry{{Partition: 0, Item: fsm.AckItem{Offset: ds[0].Offset, DeliveryID: ds[0].DeliveryID}},
		{Partition: 0, Item: fsm.AckItem{Offset: ds[1].Offset, DeliveryID: ds[1].DeliveryID}}})
	if err != nil || out.Fail != 2 {
		t.Fatalf("fail acks: %+v, %v", out, err)
	}
	if n, err := follower.Redrive(ctx, q, g, 0); err != nil || n != 2 {
		t.Fatalf("redrive: %d, %v", n, err)
	}
	if ds := consume(false); len(ds) != 2 || string(ds[0].Message.Body) != `"a"` || ds[0].Deliveries != 1 || ds[1].Deliveries != 1 {
		t.Fatalf("after redrive: %+v", ds)
	}

	// Tags set through one follower of the catalogue are read through another.
	var others []*Node
	for _, n := range nodes {
		if n != meta {
			others = append(others, n)
		}
	}
	if err := others[0].SetQueueTags(ctx, "p", q.ID, TagActionCreate, []QueueTag{{Key: "env", Value: "prod"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := others[1].QueueTags(ctx, "p", q.ID)
	if err != nil || len(tags) != 1 || tags[0] != (QueueTag{Key: "env", Value: "prod"}) {
		t.Fatalf("tags through another node: %+v, %v", tags, err)
	}
	if err := others[1].SetQueueTags(ctx, "p", q.ID, TagActionCreate, make([]QueueTag, 0)); err == nil {
		t.Fatal("an empty tag list was proposed")
	}
	many := make([]QueueTag, MaxTagsPerQueue)
	for i := range many {
		many[i] = QueueTag{Key: fmt.Sprint("k", i)}
	}
	if err := others[1].SetQueueTags(ctx, "p", q.ID, TagActionCreate, many); !errors.Is(err, ErrTagQuota) {
		t.Fatalf("21 tags through a follower: %v, want ErrTagQuota", err)
	}
	tv, err := others[0].ProjectTags(ctx, "p")
	if err != nil || len(tv) != 1 || tv[0].Key != "env" {
		t.Fatalf("project tags: %+v, %v", tv, err)
	}
}
