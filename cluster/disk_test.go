package cluster

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"raftmq/fsm"
)

// fakeDisk is a DiskSpace whose free space the test sets.
type fakeDisk struct{ free atomic.Uint64 }

func (d *fakeDisk) DiskSpace() (uint64, uint64, error) { return d.free.Load(), 100 << 30, nil }

func TestDiskGuard_WatermarkAndHysteresis(t *testing.T) {
	d := &fakeDisk{}
	g := newDiskGuard(DiskLimits{MinFreeBytes: 1 << 30, MinFreePercent: 2, Space: d}, "")
	// 2% of 100 GiB is 2 GiB: the larger of the two is the watermark.
	steps := []struct {
		free    uint64
		low     bool
		changed bool
	}{
		{10 << 30, false, false},
		{2<<30 - 1, true, true},
		{2 << 30, true, false},       // not yet an eighth above
		{2<<30 + 1<<28, false, true}, // 2.25 GiB: accepted again
		{3 << 30, false, false},
	}
	for _, s := range steps {
		d.free.Store(s.free)
		changed, err := g.check()
		if err != nil || changed != s.changed || g.low.Load() != s.low {
			t.Fatalf("free %d: changed %v low %v err %v; want changed %v low %v", s.free, changed, g.low.Load(), err, s.changed, s.low)
		}
	}
	if err := (DiskLimits{MinFreePercent: 51}).validate(); err == nil {
		t.Fatal("51% accepted")
	}
}

// TestCluster_LowDiskRefusesProduceKeepsConsumeAndAck: one node of three
// falls below its watermark. Produce through every node is refused with
// ErrDiskFull (the low node gossips it: its log holds a replica of every
// partition); consume and ack go on; once space is back, produce is
// accepted again.
func TestCluster_LowDiskRefusesProduceKeepsConsumeAndAck(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(50 << 30)
	nodes := startTrioWith(t, trioOptions{config: func(i int, cfg *Config) {
		if i == 2 {
			cfg.Disk = DiskLimits{MinFreeBytes: 1 << 30, Interval: 20 * time.Millisecond, Space: disk}
		}
	}})
	leader := metaLeader(t, nodes)
	ctx := context.Background()
	q, err := leader.CreateQueue(ctx, "p", QueueSpec{Name: "q", Mode: ModeNormal})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := leader.CreateGroups(ctx, "p", q.ID, []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	msg := []fsm.Message{{Body: []byte(`"m"`)}}
	for range 6 {
		if _, err := nodes[0].Produce(ctx, q, msg); err != nil {
			t.Fatal(err)
		}
	}
	disk.free.Store(100 << 20)
	waitUntil(t, 10*time.Second, "produce refused on every node", func() bool {
		for _, n := range nodes {
			if _, err := n.Produce(ctx, q, msg); !errors.Is(err, ErrDiskFull) {
				return false
			}
		}
		return true
	})
	if !nodes[2].DiskLow() || nodes[0].DiskLow() {
		t.Fatalf("DiskLow: n3 %v, n1 %v", nodes[2].DiskLow(), nodes[0].DiskLow())
	}
	for _, ni := range nodes[0].Status().Nodes {
		if ni.DiskLow != (ni.ID == "n3") {
			t.Fatalf("n1's status shows %s with disk_low %v", ni.ID, ni.DiskLow)
		}
	}
	// Some produces of the loop above may have been accepted before the
	// gossip arrived: consume until the queue is empty.
	var acked int
	for try := 0; try < 30; try++ {
		ds, err := nodes[2].Consume(ctx, q, groups[0].ID, ConsumeRequest{Max: 10, MaxBytes: fsm.MaxLeaseBytes, AckWaitMs: 30_000, WaitMs: 300})
		if err != nil {
			t.Fatalf("consume on a low disk: %v", err)
		}
		var entries []AckEntry
		for _, d := range ds {
			entries = append(entries, AckEntry{Partition: d.Partition, Item: fsm.AckItem{Offset: d.Offset, DeliveryID: d.DeliveryID, Success: true}})
		}
		if len(entries) == 0 && acked >= 6 {
			break
		}
		if len(entries) == 0 {
			continue
		}
		out, err := nodes[2].Ack(ctx, q, groups[0].ID, false, entries)
		if err != nil || out.Fail != 0 {
			t.Fatalf("ack on a low disk: %+v %v", out, err)
		}
		acked += out.Success
	}
	if acked < 6 {
		t.Fatalf("acked %d of at least 6 messages while the disk was low", acked)
	}
	disk.free.Store(50 << 30)
	waitUntil(t, 10*time.Second, "produce accepted again", func() bool {
		_, err := nodes[0].Produce(ctx, q, msg)
		return err == nil
	})
}
