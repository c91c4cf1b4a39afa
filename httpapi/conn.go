package httpapi

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the connection layer under fasthttp: the limits a hostile
// client meets before any request is read (connections in total and per
// IP), and what the transport-error answers need to know about a request
// fasthttp could not parse (which door it was for, how long its request line
// was).

// connLimiter counts open connections in total and per remote IP. It is
// safe for concurrent use.
type connLimiter struct {
	maxTotal, maxPerIP int

	mu    sync.Mutex
	total int
	perIP map[string]int
}

func newConnLimiter(maxTotal, maxPerIP int) *connLimiter {
	return &connLimiter{maxTotal: maxTotal, maxPerIP: maxPerIP, perIP: make(map[string]int)}
}

// acquire counts a new connection from ip; it returns "" when admitted, or
// why not.
func (l *connLimiter) acquire(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.maxTotal:
		return "total"
	case l.perIP[ip] >= l.maxPerIP:
		return "ip"
	}
	l.total++
	l.perIP[ip]++
	return ""
}

func (l *connLimiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip) // the map holds only IPs with open connections
	}
}

// limitListener refuses connections beyond the limiter's counts. It sits
// under TLS (it counts TCP connections, handshakes included). A refused
// connection gets, when plain, a short HTTP answer (429 for its IP, 503 for
// the node) and is closed; the door is unknown before a request is read, so
// that answer is plain text. Over TLS it is only closed: nothing readable
// can be said before a handshake, and a handshake is what the limit saves.
type limitListener struct {
	net.Listener
	lim   *connLimiter
	plain bool
	// refused is called for each refusal (logging, rate limited by the caller).
	refused func(ip, why string)
}

// refuseWriteTimeout bounds writing the refusal of a connection over the
// limits.
const refuseWriteTimeout = 100 * time.Millisecond

func (ln *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		why := ln.lim.acquire(ip)
		if why == "" {
			return &limitedConn{Conn: c, release: func() { ln.lim.release(ip) }}, nil
		}
		if ln.refused != nil {
			ln.refused(ip, why)
		}
		if ln.plain {
			status := "503 Service Unavailable"
			if why == "ip" {
				status = "429 Too Many Requests"
			}
			msg := "too many connections (" + why + ")\n"
			// Best effort, and never a wait: the accept loop serves
			// everyone. A fresh socket's buffer takes these bytes at once;
			// the deadline covers a peer that somehow does not.
			_ = c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
			_, _ = c.Write([]byte("HTTP/1.1 " + status + "\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(msg)) + "\r\n\r\n" + msg))
		}
		_ = c.Close()
	}
}

// remoteIP is the IP of c's peer (IPv4 and IPv6 alike), or its whole
// address when it has no port.
func remoteIP(c net.Conn) string {
	a := c.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

// limitedConn gives its count back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// sniffListener wraps each connection in a sniffConn. It sits above TLS, on
// the plain text fasthttp reads.
type sniffListener struct{ net.Listener }

func (ln sniffListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c}, nil
}

// sniffHeadLen is how much of a request's first bytes a sniffConn keeps:
// enough for a method and "/topics/" (or an absolute URI's scheme and host
// before it, within reason).
const sniffHeadLen = 128

// sniffConn remembers what transport errors need about a request fasthttp
// could not parse: the first bytes read since the previous request was
// routed (the current request's start, for a client that does not pipeline)
// and how long its request line is so far, and the door of the previous
// request. fasthttp reads and serves one connection from one goroutine, and
// the error handler runs in it too, so no locking is needed.
type sniffConn struct {
	net.Conn
	head     []byte
	lineLen  int  // bytes of the current request line read so far
	lineDone bool // the current request line ended (a '\n' was read)
	served   bool // a request was routed on this connection
	lastMQ   bool // ... and the last one was for the RocketMQ door
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.note(p[:n])
	return n, err
}

func (c *sniffConn) note(b []byte) {
	if room := sniffHeadLen - len(c.head); room > 0 {
		c.head = append(c.head, b[:min(room, len(b))]...)
	}
	if c.lineDone {
		return
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		c.lineLen += i
		c.lineDone = true
		return
	}
	c.lineLen += len(b)
}

// routed records the door of a request about to be served and starts
// watching for the next one. fasthttp has read the whole request by now
// (bodies are not streamed), so what is read next is the next request.
func (c *sniffConn) routed(mq bool) {
	c.served, c.lastMQ = true, mq
	c.head, c.lineLen, c.lineDone = c.head[:0], 0, false
}

// rocketMQ guesses whether the request that failed to parse was for the
// RocketMQ door: whether its request line's target is under /topics/ when
// it has a target at all, else the door of the connection's previous
// request (a client keeps to its door).
func (c *sniffConn) rocketMQ() bool {
	_, target, ok := strings.Cut(string(c.head), " ")
	target = strings.TrimLeft(target, " ")
	if i := strings.Index(target, "://"); i >= 0 && i < strings.IndexByte(target+"/", '/') { // absolute form: skip scheme and host
		rest := target[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			target = rest[j:]
		}
	}
	if !ok || !strings.HasPrefix(target, "/") {
		return c.served && c.lastMQ
	}
	return strings.HasPrefix(target, mqPrefix)
}

// lineTooLong reports whether the current request line was (or, unfinished,
// already is) longer than max bytes. A pipelining client's request that was
// read with the previous one is not measured: false.
func (c *sniffConn) lineTooLong(max int) bool {
	return c.lineLen > max
}
