package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestConfig_Validate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, mutate := range map[string]func(c *Config){
		"waiting 0":       func(c *Config) { c.MaxWaitingConsumers = 0 },
		"body too small":  func(c *Config) { c.MaxRequestBodySize = 524288 },
		"read timeout":    func(c *Config) { c.ReadTimeout = 0 },
		"write timeout":   func(c *Config) { c.WriteTimeout = -1 },
		"idle timeout":    func(c *Config) { c.IdleTimeout = 0 },
		"request timeout": func(c *Config) { c.RequestTimeout = 0 },
		"max conns 0":     func(c *Config) { c.MaxConns = 0 },
		"per IP 0":        func(c *Config) { c.MaxConnsPerIP = 0 },
		"headers 1 KB":    func(c *Config) { c.MaxHeaderBytes = 1024 },
		"line > headers":  func(c *Config) { c.MaxRequestLineBytes = c.MaxHeaderBytes },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := New(c, &untouchedBroker{t: t}); err == nil {
			t.Errorf("%s: New accepted", name)
		}
	}
	if _, err := New(DefaultConfig(), nil); err == nil {
		t.Error("nil broker accepted")
	}
	c := DefaultConfig()
	c.Logger, c.Now = nil, nil
	if _, err := New(c, &untouchedBroker{t: t}); err != nil {
		t.Errorf("nil logger and clock: %v", err)
	}
}

func TestRequestID(t *testing.T) {
	s, err := New(quietConfig(), &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 100 {
		resp := serveInMemory(s.Handler(), "GET", "/nope", "")
		id := string(resp.Header.Peek(headerRequestID))
		if id == "" || seen[id] {
			t.Fatalf("request id %q empty or repeated", id)
		}
		seen[id] = true
	}
	// A client's (or forwarding node's) own short id is kept.
	var req fasthttp.Request
	req.SetRequestURI("/nope")
	req.Header.Set(headerRequestID, "abc-123")
	var rc fasthttp.RequestCtx
	rc.Init(&req, nil, nil)
	s.Handler()(&rc)
	if got := string(rc.Response.Header.Peek(headerRequestID)); got != "abc-123" {
		t.Fatalf("kept id %q", got)
	}
	// Not a token: replaced.
	req.Header.Set(headerRequestID, "a b\"c")
	rc.Init(&req, nil, nil)
	s.Handler()(&rc)
	if got := string(rc.Response.Header.Peek(headerRequestID)); got == "a b\"c" || got == "" {
		t.Fatalf("kept id %q", got)
	}
}

// panickyBroker panics where a broker should not.
type panickyBroker struct{ untouchedBroker }

func (b *panickyBroker) Ready() bool { panic("boom") }

func TestHandle_RecoversPanic(t *testing.T) {
	s, err := New(quietConfig(), &panickyBroker{untouchedBroker{t: t}})
	if err != nil {
		t.Fatal(err)
	}
	resp := serveInMemory(s.Handler(), "GET", "/ready", "")
	if resp.StatusCode() != 500 {
		t.Fatalf("status %d", resp.StatusCode())
	}
	if e := decodeError(t, resp); e.ErrorCode != codeInternal || strings.Contains(e.ErrorMsg, "boom") {
		t.Fatalf("body %+v", e)
	}
	if len(resp.Header.Peek(headerRequestID)) == 0 {
		t.Fatal("no request id after panic")
	}
}

// startUnit serves s on a loopback listener for the duration of the test.
func startUnit(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawRequest writes head (and body) on a new connection and reads one
// response.
func rawRequest(t *testing.T, addr, head string, body []byte) *fasthttp.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		go func() { _, _ = c.Write(body) }() // the server may stop reading early
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return &resp
}

// A body over MaxRequestBodySize is refused by fasthttp before the handler,
// through Server.ErrorHandler: 413 with the DMS code and a request id.
func TestServer_BodyTooLarge413(t *testing.T) {
	b := &untouchedBroker{t: t}
	s, err := New(quietConfig(), b)
	if err != nil {
		t.Fatal(err)
	}
	addr := startUnit(t, s)
	path := "/v1.0/proj/queues/" + vq + "/messages"
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, DefaultMaxRequestBodySize+1)
	resp := rawRequest(t, addr, head, nil)
	if resp.StatusCode() != 413 {
		t.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
	}
	if e := decodeError(t, resp); e.ErrorCode != codeTooLarge {
		t.Fatalf("body %+v", e)
	}
	if len(resp.Header.Peek(headerRequestID)) == 0 {
		t.Fatal("413 without X-Request-Id")
	}

	// Chunked: the limit applies while reading.
	chunk := strings.Repeat("x", 64*1024)
	var body strings.Builder
	for sent := 0; sent <= DefaultMaxRequestBodySize; sent += len(chunk) {
		fmt.Fprintf(&body, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	body.WriteString("0\r\n\r\n")
	head = fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", path)
	resp = rawRequest(t, addr, head, []byte(body.String()))
	if resp.StatusCode() != 413 {
		t.Fatalf("chunked: status %d: %s", resp.StatusCode(), resp.Body())
	}
	if e := decodeError(t, resp); e.ErrorCode != codeTooLarge {
		t.Fatalf("chunked: body %+v", e)
	}
	if b.calls.Load() != 0 {
		t.Fatal("broker called")
	}
}

func TestServer_MalformedHTTP400(t *testing.T) {
	s, err := New(quietConfig(), &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	addr := startUnit(t, s)
	resp := rawRequest(t, addr, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", nil)
	if resp.StatusCode() != 400 {
		t.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
	}
	if e := decodeError(t, resp); e.ErrorCode != codeMalformed {
		t.Fatalf("body %+v", e)
	}
	if len(resp.Header.Peek(headerRequestID)) == 0 {
		t.Fatal("no X-Request-Id")
	}
}

// Serve after Shutdown returns at once instead of serving forever.
func TestServer_ServeAfterShutdown(t *testing.T) {
	s, err := New(quietConfig(), &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve after Shutdown did not return")
	}
}
