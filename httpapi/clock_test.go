package httpapi

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

type fakeClockControl struct {
	mu  sync.Mutex
	off time.Duration
	set int
}

func (c *fakeClockControl) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off
}

func (c *fakeClockControl) SetOffset(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off, c.set = d, c.set+1
}

// Without Config.ClockControl the test endpoint does not exist: 404 for
// every method, as any unknown path.
func TestClockOffset_AbsentWithoutControl(t *testing.T) {
	s, err := New(quietConfig(), &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"GET", "POST", "PUT"} {
		resp := serveInMemory(s.Handler(), m, ClockOffsetPath+"?ms=2000", "")
		if resp.StatusCode() != 404 {
			t.Fatalf("%s %s without ClockControl: status %d, want 404", m, ClockOffsetPath, resp.StatusCode())
		}
		if e := decodeError(t, resp); e.ErrorCode != codeUnknownPath {
			t.Fatalf("%s: body %+v", m, e)
		}
	}
}

// With Config.ClockControl, POST ?ms=N sets the offset and GET reads it; a
// bad or out-of-range N is 400 and changes nothing.
func TestClockOffset_SetsAndReadsOffset(t *testing.T) {
	ctl := &fakeClockControl{}
	cfg := quietConfig()
	cfg.ClockControl = ctl
	s, err := New(cfg, &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	offsetOf := func(method, uri string, want int) int64 {
		t.Helper()
		resp := serveInMemory(s.Handler(), method, uri, "")
		if resp.StatusCode() != want {
			t.Fatalf("%s %s: status %d, want %d: %s", method, uri, resp.StatusCode(), want, resp.Body())
		}
		if want != 200 {
			return 0
		}
		var body struct {
			OffsetMs *int64 `json:"offset_ms"`
		}
		if err := json.Unmarshal(resp.Body(), &body); err != nil || body.OffsetMs == nil {
			t.Fatalf("%s %s: body %q: %v", method, uri, resp.Body(), err)
		}
		return *body.OffsetMs
	}
	if got := offsetOf("GET", ClockOffsetPath, 200); got != 0 || ctl.set != 0 {
		t.Fatalf("initial offset %d (set %d times)", got, ctl.set)
	}
	if got := offsetOf("POST", ClockOffsetPath+"?ms=2000", 200); got != 2000 || ctl.Offset() != 2*time.Second {
		t.Fatalf("after +2000: answered %d, control holds %v", got, ctl.Offset())
	}
	if got := offsetOf("POST", ClockOffsetPath+"?ms=-2000", 200); got != -2000 || ctl.Offset() != -2*time.Second {
		t.Fatalf("after -2000: answered %d, control holds %v", got, ctl.Offset())
	}
	for _, bad := range []string{"", "?ms=", "?ms=2s", "?ms=1.5", "?ms=3600001", "?ms=-3600001"} {
		offsetOf("POST", ClockOffsetPath+bad, 400)
	}
	if ctl.Offset() != -2*time.Second || ctl.set != 2 {
		t.Fatalf("bad requests changed the offset: %v (set %d times)", ctl.Offset(), ctl.set)
	}
	offsetOf("DELETE", ClockOffsetPath, 405)
	if got := offsetOf("POST", ClockOffsetPath+"?ms=0", 200); got != 0 || ctl.Offset() != 0 {
		t.Fatalf("reset: answered %d, control holds %v", got, ctl.Offset())
	}
}
