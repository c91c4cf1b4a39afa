package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
	"raftmq/httpapi"
)

func TestOffsetClock_ShiftsBase(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newOffsetClock(func() time.Time { return t0 })
	if !c.Now().Equal(t0) || c.Offset() != 0 {
		t.Fatalf("zero offset: %v (offset %v)", c.Now(), c.Offset())
	}
	for _, d := range []time.Duration{2 * time.Second, -2 * time.Second, 0} {
		c.SetOffset(d)
		if got := c.Now(); !got.Equal(t0.Add(d)) || c.Offset() != d {
			t.Fatalf("offset %v: Now %v, want %v", d, got, t0.Add(d))
		}
	}
}

// Without --unsafe-test-clock nothing changes: the replicas stamp time.Now
// (a nil Clock) and httpapi serves no clock endpoint (a nil ClockControl).
// With it, both are the same offsetClock: the endpoint's offset shifts
// what the replicas stamp.
func TestServeFlags_UnsafeTestClock(t *testing.T) {
	noEnv := func(string) string { return "" }
	m := NewMain()
	if err := m.ParseFlags(nil, noEnv); err != nil {
		t.Fatal(err)
	}
	if m.Cluster.Raft.Clock != nil || m.HTTP.ClockControl != nil {
		t.Fatal("clock control wired without --" + unsafeClockFlag)
	}
	m = NewMain()
	if err := m.ParseFlags([]string{"--" + unsafeClockFlag}, noEnv); err != nil {
		t.Fatal(err)
	}
	stamp, ctl := m.Cluster.Raft.Clock, m.HTTP.ClockControl
	if stamp == nil || ctl == nil {
		t.Fatalf("--%s: Raft.Clock %v, ClockControl %v", unsafeClockFlag, stamp != nil, ctl)
	}
	within := func(d time.Duration) {
		t.Helper()
		before := time.Now()
		got := stamp()
		after := time.Now()
		if got.Before(before.Add(d)) || got.After(after.Add(d)) {
			t.Fatalf("offset %v: stamped %v, want within [%v, %v]", d, got, before.Add(d), after.Add(d))
		}
	}
	within(0)
	ctl.SetOffset(2 * time.Second)
	within(2 * time.Second)
	ctl.SetOffset(-2 * time.Second)
	within(-2 * time.Second)
}

// The test-only flags are left out of -h.
func TestServeFlags_UnsafeFlagsHiddenFromHelp(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	perr := NewMain().ParseFlags([]string{"-h"}, func(string) string { return "" })
	os.Stderr = stderr
	w.Close()
	out, _ := io.ReadAll(r)
	if !errors.Is(perr, flag.ErrHelp) || !strings.Contains(string(out), "--data-dir") {
		t.Fatalf("-h: %v, output %q", perr, out)
	}
	for _, hidden := range []string{unsafeAckFlag, unsafeClockFlag, unsafeNoSyncFlag} {
		if strings.Contains(string(out), hidden) {
			t.Errorf("-h lists --%s:\n%s", hidden, out)
		}
	}
}

// TestServe_TestClockOffsetEndsLeases runs real nodes: without the flag the
// clock endpoint is 404; with it, moving the node's clock 10 minutes ahead
// ends a 5-minute lease at once (the leader stamps the shifted time into
// its commands), and the old handler is refused.
func TestServe_TestClockOffsetEndsLeases(t *testing.T) {
	if testing.Short() {
		t.Skip("starts raftmq processes")
	}
	plain := clustertest.NewProcess(t, binPath, "plain")
	plain.Start(t)
	call(t, "POST", plain.URL()+httpapi.ClockOffsetPath+"?ms=600000", nil, 404, nil)
	call(t, "GET", plain.URL()+httpapi.ClockOffsetPath, nil, 404, nil)
	plain.Stop(t, 30*time.Second)

	p := clustertest.NewProcess(t, binPath, "skewed", "--partitions", "1", "--"+unsafeClockFlag)
	p.Start(t)
	base := p.URL() + "/v1.0/proj1"
	dms := newDMSClient(t, "proj1", p.URL())
	qID := dms.createQueue("q", nil)
	gURL := base + "/queues/" + qID + "/groups/" + dms.createGroup(qID, "g")
	call(t, "POST", base+"/queues/"+qID+"/messages", map[string]any{"messages": []map[string]any{{"body": "m"}}}, 201, nil)

	var first []consumed
	call(t, "GET", gURL+"/messages?max_msgs=1&ack_wait=300", nil, 200, &first)
	if len(first) != 1 {
		t.Fatalf("consumed %d, want 1", len(first))
	}
	var none []consumed
	call(t, "GET", gURL+"/messages?max_msgs=1&time_wait=1", nil, 200, &none)
	if len(none) != 0 {
		t.Fatalf("redelivered %v while the 300 s lease is live and the clock unshifted", bodies(none))
	}
	var off struct {
		OffsetMs int64 `json:"offset_ms"`
	}
	call(t, "POST", p.URL()+httpapi.ClockOffsetPath+"?ms=600000", nil, 200, &off)
	if off.OffsetMs != 600000 {
		t.Fatalf("offset answer %+v", off)
	}
	shifted := time.Now()
	var again []consumed
	call(t, "GET", gURL+"/messages?max_msgs=1&time_wait=10&ack_wait=300", nil, 200, &again)
	if len(again) != 1 || string(again[0].Message.Body) != `"m"` || again[0].Handler == first[0].Handler {
		t.Fatalf("after +10 min: consumed %v (handlers %q then %+v), want the message redelivered", bodies(again), first[0].Handler, again)
	}
	if el := time.Since(shifted); el > 8*time.Second {
		t.Fatalf("redelivered %v after the shift; want within a few housekeeping intervals", el)
	}
	var ar struct{ Success, Fail int }
	call(t, "POST", gURL+"/ack", map[string]any{"message": []map[string]string{{"handler": first[0].Handler}}}, 200, &ar)
	if ar.Success != 0 || ar.Fail != 1 {
		t.Fatalf("ack of the lease the shifted clock ended: %+v, want refused", ar)
	}
	call(t, "POST", p.URL()+httpapi.ClockOffsetPath+"?ms=0", nil, 200, &off)
	if off.OffsetMs != 0 {
		t.Fatalf("reset answer %+v", off)
	}
}

// --unsafe-no-sync (T6's negative control) turns fsync off in the Raft log
// stores; without it they sync.
func TestServeFlags_UnsafeNoSync(t *testing.T) {
	noEnv := func(string) string { return "" }
	m := NewMain()
	if err := m.ParseFlags(nil, noEnv); err != nil || m.Cluster.Raft.NoSync {
		t.Fatalf("default: NoSync %v, err %v", m.Cluster.Raft.NoSync, err)
	}
	m = NewMain()
	if err := m.ParseFlags([]string{"--" + unsafeNoSyncFlag}, noEnv); err != nil || !m.Cluster.Raft.NoSync {
		t.Fatalf("--%s: NoSync %v, err %v", unsafeNoSyncFlag, m.Cluster.Raft.NoSync, err)
	}
}
