package httpapi

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// startLimited serves an untouched broker with cfg adjusted by adjust.
func startLimited(t *testing.T, adjust func(*Config)) string {
	t.Helper()
	cfg := quietConfig()
	if adjust != nil {
		adjust(&cfg)
	}
	s, err := New(cfg, &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	return startUnit(t, s)
}

// dialServed opens a connection and checks it is served: a request on it
// gets the 404 of an unknown path. It returns the open connection.
func dialServed(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(c)); err != nil || resp.StatusCode() != 404 {
		t.Fatalf("connection not served: %v %d", err, resp.StatusCode())
	}
	_ = c.SetDeadline(time.Time{})
	return c
}

// refusedWith dials and expects the connection to be refused with status
// before any request is sent.
func refusedWith(t *testing.T, addr string, status int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		t.Fatalf("refused connection: %v", err)
	}
	if resp.StatusCode() != status || string(resp.Header.Peek("Retry-After")) != "1" {
		t.Fatalf("refused connection: %d %s, want %d with Retry-After: 1", resp.StatusCode(), resp.Body(), status)
	}
}

// served polls until a new connection is served again: a closed
// connection's count comes back when the server notices the close.
func servedAgain(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
		var resp fasthttp.Response
		err = resp.Read(bufio.NewReader(c))
		c.Close()
		if err == nil && resp.StatusCode() == 404 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after a close: %v %d", err, resp.StatusCode())
		}
		time.Sleep(20 * time.Millisecond) // polling a condition against a deadline
	}
}

func TestLimits_ConnectionsPerIP(t *testing.T) {
	addr := startLimited(t, func(c *Config) { c.MaxConnsPerIP, c.MaxConns = 3, 100 })
	held := []net.Conn{dialServed(t, addr), dialServed(t, addr), dialServed(t, addr)}
	refusedWith(t, addr, 429)
	held[0].Close()
	servedAgain(t, addr)
}

func TestLimits_ConnectionsInTotal(t *testing.T) {
	addr := startLimited(t, func(c *Config) { c.MaxConnsPerIP, c.MaxConns = 100, 2 })
	held := []net.Conn{dialServed(t, addr), dialServed(t, addr)}
	refusedWith(t, addr, 503)
	// Idle connections that send nothing count too (slowloris).
	held[1].Close()
	servedAgain(t, addr)
}

func TestConnLimiter_Counts(t *testing.T) {
	l := newConnLimiter(3, 2)
	for i, want := range []string{"", "", "ip"} {
		if got := l.acquire("a"); got != want {
			t.Fatalf("a #%d: %q, want %q", i, got, want)
		}
	}
	if got := l.acquire("b"); got != "" {
		t.Fatalf("b: %q", got)
	}
	if got := l.acquire("c"); got != "total" {
		t.Fatalf("c: %q, want total", got)
	}
	l.release("a")
	if got := l.acquire("c"); got != "" {
		t.Fatalf("c after a release: %q", got)
	}
	l.release("a")
	l.release("b")
	l.release("c")
	if l.total != 0 || len(l.perIP) != 0 {
		t.Fatalf("after releasing all: total %d, %v", l.total, l.perIP)
	}
}

// isXMLError reports whether resp is a RocketMQ door error.
func isXMLError(resp *fasthttp.Response) bool {
	return string(resp.Header.ContentType()) == contentTypeXML && strings.Contains(string(resp.Body()), "<Code>") &&
		len(resp.Header.Peek(headerMQRequestID)) > 0
}

// Request lines and headers over their limits are 414 and 431, in the
// door's format, whether fasthttp could parse the request (a line over
// MaxRequestLineBytes inside MaxHeaderBytes) or not (over MaxHeaderBytes).
func TestLimits_RequestLineAndHeaders(t *testing.T) {
	addr := startLimited(t, nil)
	for _, c := range []struct {
		name, head string
		status     int
		mq         bool
	}{
		{"DMS 10 KB URL", "GET /v1.0/p/queues?x=" + strings.Repeat("a", 10*1024) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, false},
		{"DMS 6 KB URL", "GET /v1.0/p/queues?x=" + strings.Repeat("a", 6*1024) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, false},
		{"RocketMQ 10 KB URL", "GET /topics/T/messages?consumer=" + strings.Repeat("a", 10*1024) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, true},
		{"RocketMQ 6 KB URL", "GET /topics/T/messages?consumer=" + strings.Repeat("a", 6*1024) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, true},
		{"absolute-form RocketMQ 10 KB URL", "GET http://x/topics/T/messages?c=" + strings.Repeat("a", 10*1024) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, true},
		{"DMS 10 KB header", "GET /v1.0/p/queues HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 10*1024) + "\r\n\r\n", 431, false},
		{"RocketMQ 10 KB header", "GET /topics/T/messages HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 10*1024) + "\r\n\r\n", 431, true},
		{"DMS bad request line", "GET /v1.0/p/queues HTTP/1.1 junk\r\nHost: x\r\n\r\n", 400, false},
		{"RocketMQ bad request line", "GET /topics/T/messages HTTP/1.1 junk\r\nHost: x\r\n\r\n", 400, true},
		{"RocketMQ bad header", "GET /topics/T/messages HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400, true},
		{"RocketMQ bad Content-Length", "POST /topics/T/messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, true},
		{"RocketMQ body over 1 MiB", fmt.Sprintf("POST /topics/T/messages HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", DefaultMaxRequestBodySize+1), 413, true},
		{"garbage", "\x00\x01 garbage\r\n\r\n", 400, false},
	} {
		resp := rawRequest(t, addr, c.head, nil)
		if resp.StatusCode() != c.status {
			t.Fatalf("%s: %d %s, want %d", c.name, resp.StatusCode(), resp.Body(), c.status)
		}
		if c.mq {
			if !isXMLError(resp) {
				t.Fatalf("%s: not a RocketMQ XML error: %s %s", c.name, resp.Header.ContentType(), resp.Body())
			}
			continue
		}
		if e := decodeError(t, resp); e.ErrorCode != codeMalformed && e.ErrorCode != codeTooLarge {
			t.Fatalf("%s: body %+v", c.name, e)
		}
	}
}

// On a keep-alive connection, a request fasthttp cannot parse is answered
// in the door of the connection's previous request.
func TestTransportError_KeepsConnectionsDoor(t *testing.T) {
	addr := startLimited(t, nil)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if _, err := c.Write([]byte("GET /topics/T/messages?numOfMessages=99 HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(br); err != nil || resp.StatusCode() != 400 || !isXMLError(&resp) {
		t.Fatalf("first request: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	// A long request line as a later request on the connection is measured
	// as well as a first one.
	if _, err := c.Write([]byte("GET /topics/T/messages?consumer=" + strings.Repeat("a", 10*1024) + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp.Reset()
	if err := resp.Read(br); err != nil || resp.StatusCode() != 414 || !isXMLError(&resp) {
		t.Fatalf("second request: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	// fasthttp closes after a transport error: a new connection, one good
	// RocketMQ request, then garbage without a target.
	c2 := dialServed(t, addr)
	_ = c2.SetDeadline(time.Now().Add(10 * time.Second))
	br2 := bufio.NewReader(c2)
	if _, err := c2.Write([]byte("GET /topics/T/messages?numOfMessages=99 HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp.Reset()
	if err := resp.Read(br2); err != nil || !isXMLError(&resp) {
		t.Fatalf("RocketMQ request: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	if _, err := c2.Write([]byte("\x00\x01garbage\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp.Reset()
	if err := resp.Read(br2); err != nil || resp.StatusCode() != 400 || !isXMLError(&resp) {
		t.Fatalf("garbage after a RocketMQ request: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
}

// JSON nested deeper than 1000 levels is refused with a message that says
// so, not "not valid JSON".
func TestJSON_TooDeepSaysSo(t *testing.T) {
	s, err := New(quietConfig(), &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	deep := `{"name":"q","description":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `}`
	resp := serveInMemory(s.Handler(), "POST", "/v1.0/p/queues", deep)
	e := decodeError(t, resp)
	if resp.StatusCode() != 400 || e.ErrorCode != codeMalformed || !strings.Contains(e.ErrorMsg, "nested too deep") {
		t.Fatalf("deep: %d %+v", resp.StatusCode(), e)
	}
	ok := `{"name":"q","description":` + strings.Repeat("[", 998) + strings.Repeat("]", 998) + `}`
	resp = serveInMemory(s.Handler(), "POST", "/v1.0/p/queues", ok)
	if e := decodeError(t, resp); strings.Contains(e.ErrorMsg, "too deep") || strings.Contains(e.ErrorMsg, "not valid JSON") {
		t.Fatalf("999 levels: %d %+v", resp.StatusCode(), e)
	}
}

// Slowloris: a request whose headers never finish is answered 408 once
// ReadTimeout passes (in its door's format) and the connection is closed;
// it holds nothing longer.
func TestLimits_SlowHeadersTimeOut(t *testing.T) {
	addr := startLimited(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	for _, c := range []struct {
		head string
		mq   bool
	}{
		{"GET /v1.0/p/queues HTTP/1.1\r\nHost: x\r\nX-Slow: a", false},
		{"GET /topics/T/messages HTTP/1.1\r\nHost: x\r\nX-Slow: a", true},
	} {
		start := time.Now()
		resp := rawRequest(t, addr, c.head, nil)
		if resp.StatusCode() != 408 || time.Since(start) > 5*time.Second {
			t.Fatalf("%q: %d after %v", c.head, resp.StatusCode(), time.Since(start))
		}
		if c.mq != isXMLError(resp) {
			t.Fatalf("%q: wrong door: %s", c.head, resp.Body())
		}
	}
}

// 2,000 idle connections (within the per-IP limit) leave the node serving.
func TestLimits_ThousandsOfIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	addr := startLimited(t, nil)
	for range 2000 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	dialServed(t, addr)
}
