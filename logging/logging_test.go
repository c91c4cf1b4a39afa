package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// fakeClock is a settable clock for the limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestLogger(t *testing.T, format string) (*slog.Logger, *bytes.Buffer, *fakeClock) {
	t.Helper()
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l, err := New(&buf, Config{Level: "debug", Format: format, RepeatWindow: 10 * time.Second, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return l, &buf, clk
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestRateLimiter_RepeatsCollapseWithCount(t *testing.T) {
	l, buf, clk := newTestLogger(t, "text")
	g1 := l.With(GroupKey, "q/0")
	for range 5 {
		g1.Error("failed to heartbeat to", "peer", "n3")
	}
	l.With(GroupKey, "q/1").Error("failed to heartbeat to") // another group: its own line
	g1.Info("an info line is never limited")
	g1.Info("an info line is never limited")
	if got := lines(buf); len(got) != 4 {
		t.Fatalf("want 4 lines (1 limited error, 1 other group, 2 info), got %d:\n%s", len(got), buf)
	}
	clk.t = clk.t.Add(10 * time.Second)
	buf.Reset()
	g1.Error("failed to heartbeat to", "peer", "n3")
	got := lines(buf)
	if len(got) != 1 || !strings.Contains(got[0], "suppressed=4") {
		t.Fatalf("after the window want one line with suppressed=4, got %q", got)
	}
}

func TestRateLimiter_GroupAsRecordAttr(t *testing.T) {
	l, buf, _ := newTestLogger(t, "json")
	l.Warn("x", GroupKey, "a")
	l.Warn("x", GroupKey, "a")
	l.Warn("x", GroupKey, "b")
	if n := len(lines(buf)); n != 2 {
		t.Fatalf("want 2 lines, got %d:\n%s", n, buf)
	}
}

func TestNew_JSONAndLevel(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, Config{Level: "warn", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("dropped")
	l.Warn("kept", "k", 1)
	got := lines(&buf)
	if len(got) != 1 {
		t.Fatalf("want only the warning, got %q", got)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(got[0]), &rec); err != nil {
		t.Fatalf("not JSON: %q: %v", got[0], err)
	}
	if rec["msg"] != "kept" || rec["level"] != "WARN" {
		t.Fatalf("record %v", rec)
	}
}

func TestConfig_RejectsUnknown(t *testing.T) {
	for _, c := range []Config{{Level: "loud"}, {Format: "xml"}} {
		var ie *InvalidError
		if err := c.Validate(); !errors.As(err, &ie) {
			t.Errorf("%+v: want *InvalidError, got %v", c, err)
		}
	}
}

func TestHclog_DemotesPeerDownAndShutdown(t *testing.T) {
	l, buf, _ := newTestLogger(t, "json")
	h := NewHclog(l.With(GroupKey, "meta"), "raft", hclog.Debug)
	h.Error("failed to appendEntries to", "peer", "{Voter n3 127.0.0.1:1}", "error", errors.New("dial tcp: connection refused"))
	h.Error("failed to decode incoming command", "error", errors.New("transport shutdown"))
	h.Error("failed to restore snapshot", "error", "bad")
	h.Warn("failed to contact", "server-id", "n3", "time", 500*time.Millisecond)
	h.Error("peer has newer term, stopping replication", "peer", "n1")
	h.Debug("debug line")
	want := []struct{ msg, level string }{
		{"failed to appendEntries to", "WARN"},
		{"failed to decode incoming command", "DEBUG"},
		{"failed to restore snapshot", "ERROR"},
		{"failed to contact", "WARN"},
		{"peer has newer term, stopping replication", "WARN"},
		{"debug line", "DEBUG"},
	}
	got := lines(buf)
	if len(got) != len(want) {
		t.Fatalf("want %d lines, got:\n%s", len(want), buf)
	}
	for i, w := range want {
		var rec map[string]any
		if err := json.Unmarshal([]byte(got[i]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["msg"] != w.msg || rec["level"] != w.level || rec["group"] != "meta" || rec["component"] != "raft" {
			t.Errorf("line %d: %v, want msg %q level %s group meta component raft", i, rec, w.msg, w.level)
		}
	}
	if !strings.Contains(got[0], `"error":"dial tcp: connection refused"`) {
		t.Errorf("error value not written as text: %s", got[0])
	}
}

func TestHclog_MinLevel(t *testing.T) {
	l, buf, _ := newTestLogger(t, "text")
	h := NewHclog(l, "raft", hclog.Warn)
	h.Info("entering follower state")
	if buf.Len() != 0 || h.IsInfo() {
		t.Fatalf("info below the adapter's minimum was written: %q", buf)
	}
	h.SetLevel(hclog.Info)
	h.Named("snap").Info("entering follower state")
	if !strings.Contains(buf.String(), "component=raft.snap") {
		t.Fatalf("want the named component, got %q", buf)
	}
}

func TestStdLogger_Levels(t *testing.T) {
	l, buf, _ := newTestLogger(t, "json")
	sl := NewStdLogger(l, "memberlist")
	sl.Printf("[DEBUG] memberlist: Stream connection from=%s", "127.0.0.1:5")
	sl.Printf("[ERR] memberlist: Failed fallback TCP ping: EOF")
	sl.Printf("[WARN] memberlist: Was able to connect to n3 over TCP")
	got := lines(buf)
	wantLevels := []string{"DEBUG", "WARN", "WARN"}
	if len(got) != 3 {
		t.Fatalf("want 3 lines, got:\n%s", buf)
	}
	for i, w := range wantLevels {
		var rec map[string]any
		if err := json.Unmarshal([]byte(got[i]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] != w || rec["component"] != "memberlist" || strings.HasPrefix(rec["msg"].(string), "[") {
			t.Errorf("line %d: %v, want level %s", i, rec, w)
		}
	}
}
