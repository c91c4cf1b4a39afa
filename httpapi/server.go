package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Server serves the client HTTP API of one node: DMS v1.0 and the node
// endpoints (/health, /ready, /v1/cluster).
type Server struct {
	cfg    Config
	log    *slog.Logger
	broker Broker
	http   *fasthttp.Server
	// metrics is nil unless Config.Registry is set (metrics.go).
	metrics *metrics
	routes  []route

	// waiting counts the consume requests in progress (MaxWaitingConsumers).
	waiting atomic.Int64

	// conns counts open connections (MaxConns, MaxConnsPerIP).
	conns *connLimiter

	// Request ids are reqPrefix followed by a per-server sequence number.
	reqPrefix string
	reqSeq    atomic.Uint64

	// mu guards stopped and listeners, so that a Serve racing with
	// Shutdown either is shut down or does not start.
	mu        sync.Mutex
	stopped   bool
	listeners []net.Listener

	// base is the parent of every request's context. It is cancelled only
	// when Shutdown gives up waiting, to end long polls that outlive it.
	base       context.Context
	cancelBase context.CancelFunc
}

// New returns a Server for broker b. A nil cfg.Logger or cfg.Now takes its
// default.
func New(cfg Config, b Broker) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errors.New("httpapi: nil broker")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var prefix [6]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, fmt.Errorf("httpapi: request id prefix: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		broker:    b,
		reqPrefix: hex.EncodeToString(prefix[:]),
	}
	s.conns = newConnLimiter(cfg.MaxConns, cfg.MaxConnsPerIP)
	if err := s.enableMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.routes = append(s.dmsRoutes(), s.tagRoutes()...)
	s.http = &fasthttp.Server{
		Handler:            s.handle,
		ErrorHandler:       s.handleTransportError,
		Name:               "raftmq",
		MaxRequestBodySize: cfg.MaxRequestBodySize,
		ReadBufferSize:     cfg.MaxHeaderBytes,
		Concurrency:        cfg.MaxConns,
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		CloseOnShutdown:    true,
		Logger:             fasthttpLogger{cfg.Logger},
	}
	return s, nil
}

// Serve accepts connections on ln until Shutdown; it then returns nil.
// Serve after Shutdown closes ln and returns nil at once.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	return s.http.Serve(s.wrapListener(ln))
}

// wrapListener stacks the connection layer on ln: the connection limits on
// the TCP connections, TLS when configured, and the sniffing of what the
// transport errors need on the plain text.
func (s *Server) wrapListener(ln net.Listener) net.Listener {
	var out net.Listener = &limitListener{
		Listener: ln,
		lim:      s.conns,
		plain:    s.cfg.TLS == nil,
		refused: func(ip, why string) {
			s.log.Debug("httpapi: connection refused", "remote_ip", ip, "limit", why)
		},
	}
	if s.cfg.TLS != nil {
		out = tls.NewListener(out, s.cfg.TLS)
	}
	return sniffListener{out}
}

// Shutdown stops accepting connections, closes idle ones and waits for the
// requests in flight to finish (a long poll finishes within its time_wait).
// When ctx ends first, it cancels the requests still running and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	err := s.http.ShutdownWithContext(ctx)
	if ctx.Err() != nil {
		s.cancelBase()
	}
	// A Serve that raced with Shutdown may have a listener fasthttp did not
	// know yet; closing it makes that Serve return.
	s.mu.Lock()
	for _, ln := range s.listeners {
		_ = ln.Close()
	}
	s.mu.Unlock()
	return err
}

// Handler returns the request handler, for serving from another
// fasthttp.Server or in-memory tests. It does not apply the body size limit
// or the timeouts of Config: those are the fasthttp.Server's.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// handle is the top of every request: request id, routing, and a last
// resort against panics.
func (s *Server) handle(rc *fasthttp.RequestCtx) {
	id := s.requestID(rc)
	rc.Response.Header.Set(headerRequestID, id)
	if s.metrics != nil {
		defer s.metrics.observe(rc, time.Now()) // after the recover below has answered
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("httpapi: panic in handler", "request_id", id,
				"method", string(rc.Method()), "path", string(rc.Path()),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			rc.Response.Reset()
			rc.Response.Header.Set(headerRequestID, id)
			s.writeError(rc, fmt.Errorf("panic: %v", r))
		}
	}()
	mq := strings.HasPrefix(string(rc.Path()), mqPrefix)
	if sc, ok := rc.Conn().(*sniffConn); ok {
		sc.routed(mq)
	}
	if len(rc.Request.Header.RequestURI()) > s.cfg.MaxRequestLineBytes {
		s.writeDoorError(rc, mq, errURITooLong)
		return
	}
	if err := s.dispatch(rc); err != nil {
		s.writeError(rc, err)
	}
}

// writeDoorError answers err in the vocabulary of the request's door: XML
// for RocketMQ (with its request id header), DMS JSON otherwise. It is for
// answers given before routing (limits, transport errors).
func (s *Server) writeDoorError(rc *fasthttp.RequestCtx, mq bool, err error) {
	if mq {
		rc.Response.Header.Set(headerMQRequestID, string(rc.Response.Header.Peek(headerRequestID)))
		s.writeMQError(rc, err)
		return
	}
	s.writeError(rc, err)
}

const (
	headerRequestID  = "X-Request-Id"
	headerRetryAfter = "Retry-After"
	contentTypeJSON  = "application/json"
	maxRequestIDLen  = 64
)

// requestID returns the id of this request: the one the client (or, later,
// a forwarding node) sent when it is a short token, so that a forwarded
// request keeps its id; a new one otherwise.
func (s *Server) requestID(rc *fasthttp.RequestCtx) string {
	if v := rc.Request.Header.Peek(headerRequestID); len(v) > 0 && len(v) <= maxRequestIDLen && validName(string(v)) {
		return string(v)
	}
	return s.reqPrefix + strconv.FormatUint(s.reqSeq.Add(1), 16)
}

// handleTransportError answers a request fasthttp could not read: 413 for a
// body over MaxRequestBodySize, 400 for anything else it could parse far
// enough to answer.
//
// The answer is in the door's format. When fasthttp parsed the headers (a
// body too large) the path tells the door; when it could not, the
// connection's sniffConn guesses it (see rocketMQ), and tells a request line
// over MaxRequestLineBytes (414) from headers over MaxHeaderBytes (431).
func (s *Server) handleTransportError(rc *fasthttp.RequestCtx, err error) {
	rc.Response.Header.Set(headerRequestID, s.requestID(rc))
	sc, _ := rc.Conn().(*sniffConn)
	mq := strings.HasPrefix(string(rc.Path()), mqPrefix) || (sc != nil && sc.rocketMQ())
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		drainRequest(rc.Conn(), 4*s.cfg.MaxRequestBodySize)
		s.writeDoorError(rc, mq, errBodyTooLarge)
		return
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		rc.Response.Header.Set(fasthttp.HeaderConnection, "close")
		s.writeDoorError(rc, mq, &apiError{status: 408, code: codeMalformed, msg: "request not received in time"})
		return
	}
	if small := (*fasthttp.ErrSmallBuffer)(nil); errors.As(err, &small) {
		if sc != nil && sc.lineTooLong(s.cfg.MaxRequestLineBytes) {
			s.writeDoorError(rc, mq, errURITooLong)
			return
		}
		s.writeDoorError(rc, mq, errHeaderTooLarge)
		return
	}
	s.writeDoorError(rc, mq, malformed("malformed HTTP request"))
}

// Draining an oversized request body: fasthttp stops reading at the limit
// and closes the connection after the 413. Closing a socket with unread
// data makes the kernel send a reset, and a client still writing its body
// then sees "connection reset" instead of the 413. So the rest of the body is
// read and discarded first, as long as it keeps coming: at most limit
// bytes, drainIdle without data, drainTotal in all.
const (
	drainIdle  = 200 * time.Millisecond
	drainTotal = 5 * time.Second
)

func drainRequest(c net.Conn, limit int) {
	if c == nil {
		return
	}
	defer c.SetReadDeadline(time.Time{}) //nolint:errcheck // the connection is closed next
	end := time.Now().Add(drainTotal)
	buf := make([]byte, 32*1024)
	for read := 0; read < limit && time.Now().Before(end); {
		deadline := time.Now().Add(drainIdle)
		if deadline.After(end) {
			deadline = end
		}
		if err := c.SetReadDeadline(deadline); err != nil {
			return
		}
		n, err := c.Read(buf)
		read += n
		if err != nil {
			return
		}
	}
}

// writeJSON answers with status and v encoded as JSON.
func (s *Server) writeJSON(rc *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(rc, fmt.Errorf("encode response: %w", err))
		return
	}
	s.writeRaw(rc, status, b)
}

// writeRaw answers with status and an already encoded JSON body.
func (s *Server) writeRaw(rc *fasthttp.RequestCtx, status int, body []byte) {
	rc.SetStatusCode(status)
	rc.SetContentType(contentTypeJSON)
	rc.SetBody(body)
}

// writeError answers with the status and DMS body errorResponse gives for
// err, logging what the client does not see.
func (s *Server) writeError(rc *fasthttp.RequestCtx, err error) {
	status, body := errorResponse(err)
	switch {
	case status >= 500 && status != 503 && status != 507:
		s.log.Error("httpapi: request failed", "request_id", string(rc.Response.Header.Peek(headerRequestID)),
			"method", string(rc.Method()), "path", string(rc.Path()), "err", err)
	case status == 503 && string(rc.Path()) != "/ready": // a not-ready node is polled; that is no news
		s.log.Info("httpapi: unavailable", "request_id", string(rc.Response.Header.Peek(headerRequestID)),
			"method", string(rc.Method()), "path", string(rc.Path()), "err", err)
	}
	if ra := retryAfter(status); ra != "" {
		rc.Response.Header.Set(headerRetryAfter, ra)
	}
	b, merr := json.Marshal(body)
	if merr != nil { // cannot happen: two strings
		b = []byte(`{"error_code":"` + codeInternal + `","error_msg":"internal error"}`)
	}
	s.writeRaw(rc, status, b)
}

// requestContext returns the context of one broker call: it ends after the
// configured RequestTimeout plus extra (a long poll's wait), or when
// Shutdown gives up waiting.
func (s *Server) requestContext(extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, s.cfg.RequestTimeout+extra)
}

// fasthttpLogger routes fasthttp's messages to slog.
type fasthttpLogger struct{ l *slog.Logger }

// Printf logs at debug level the errors of single connections (a client
// that reset, timed out or sent too much: already answered or logged
// elsewhere) and at warn level anything else, such as accept failures.
func (f fasthttpLogger) Printf(format string, args ...any) {
	msg := "httpapi: fasthttp: " + strings.TrimSpace(fmt.Sprintf(format, args...))
	if strings.Contains(msg, "error when serving connection") {
		f.l.Debug(msg)
		return
	}
	f.l.Warn(msg)
}
