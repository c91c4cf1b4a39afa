package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/sdkauth"
)

// Retry policy for 503, 429 and requests without an answer: up to
// maxAttempts tries, backing off from backoffMin, doubling, to backoffMax.
// Retry-After (1 s) is not honoured: a load test wants to know how soon the
// broker serves again, and each retry is counted as an error anyway.
const (
	maxAttempts = 10
	backoffMin  = 20 * time.Millisecond
	backoffMax  = 500 * time.Millisecond
)

// client sends DMS requests to the targets. Like a client library holding a
// connection to one server, each worker has a home target and moves on to
// the next one only when a try fails. It never retries on its own inside
// fasthttp: every retry is the harness's, and counted.
type client struct {
	hc      *fasthttp.Client
	targets []string
	timeout time.Duration
	// ak and sk, when set, sign each request (sdkauth).
	ak, sk string
	now    func() time.Time
}

// clientAuth is how the client proves itself: the CA that verifies https
// targets (nil: the system pool) and the access key that signs requests
// (empty: unsigned).
type clientAuth struct {
	roots  *x509.CertPool
	ak, sk string
	now    func() time.Time
}

// loadRoots reads a PEM CA bundle; "" is nil (the system pool).
func loadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %w", ErrInvalidConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrInvalidConfig, file)
	}
	return pool, nil
}

func newClient(targets []string, conns int, timeout time.Duration, auth clientAuth) *client {
	now := auth.now
	if now == nil {
		now = time.Now
	}
	return &client{
		ak: auth.ak, sk: auth.sk, now: now,
		hc: &fasthttp.Client{
			TLSConfig:                 &tls.Config{RootCAs: auth.roots, MinVersion: tls.VersionTLS12},
			Name:                      "raftmq-loadtest",
			MaxConnsPerHost:           conns,
			MaxIdemponentCallAttempts: 1,
			RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
			ReadTimeout:               timeout,
			WriteTimeout:              timeout,
			MaxConnWaitTimeout:        timeout,
			MaxResponseBodySize:       8 << 20,
		},
		targets: targets,
		timeout: timeout,
	}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// request is one DMS call.
type request struct {
	op     string // for error accounting
	home   int    // the worker's home target (index into targets, modulo)
	method string
	path   string // from /v1.0/...
	body   []byte
	want   int // the success status
	// read parses a success answer's body; the slice is valid only during
	// the call.
	read func(body []byte) error
	// retried is called before each retry (produce marks its messages).
	retried func()
}

// do sends r to its home target, retrying (each retry on the next target) 503, 429 and missing answers after
// a back-off (each failed try is counted in errs). It returns the last error
// when every try failed or the answer was another status.
func (c *client) do(ctx context.Context, errs *errorCounts, r request) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	var last error
	for attempt := range maxAttempts {
		if attempt > 0 {
			if r.retried != nil {
				r.retried()
			}
			wait := min(backoffMax, backoffMin<<(attempt-1))
			if waitFor(ctx, wait) != nil {
				return errors.Join(last, ctx.Err())
			}
		}
		target := c.targets[(r.home+attempt)%len(c.targets)]
		req.Reset()
		resp.Reset()
		req.SetRequestURI(target + r.path)
		req.Header.SetMethod(r.method)
		if r.body != nil {
			req.Header.SetContentType("application/json")
			req.SetBodyRaw(r.body)
		}
		if err := c.sign(req); err != nil {
			return &ProtocolError{Op: r.op, Err: err}
		}
		sent := c.now()
		err := c.hc.DoTimeout(req, resp, c.timeout)
		errs.nodes.record(target, r.op, c.now().Sub(sent), err == nil, err != nil || resp.StatusCode() != r.want)
		if err != nil {
			last = &TransportError{Op: r.op, Target: target, Err: err}
			errs.add(ErrorKey{Op: r.op, Code: transportCode(err)})
			continue
		}
		status := resp.StatusCode()
		if status == r.want {
			if r.read == nil {
				return nil
			}
			if err := r.read(resp.Body()); err != nil {
				errs.add(ErrorKey{Op: r.op, Status: status, Code: "unreadable"})
				return &ProtocolError{Op: r.op, Body: clip(resp.Body()), Err: err}
			}
			return nil
		}
		se := statusError(r.op, status, resp.Body())
		errs.add(ErrorKey{Op: r.op, Status: status, Code: se.Code})
		last = se
		if !se.Retryable() {
			return se
		}
	}
	return last
}

// sign adds the SDK-HMAC-SHA256 headers when the client has a key. Signed
// again on each try: a retry goes to another target (another Host).
func (c *client) sign(req *fasthttp.Request) error {
	if c.ak == "" {
		return nil
	}
	u := req.URI()
	var query [][2]string
	for k, v := range u.QueryArgs().All() {
		query = append(query, [2]string{string(k), string(v)})
	}
	date, auth, err := sdkauth.Sign(string(req.Header.Method()), string(u.PathOriginal()), query, string(u.Host()), req.Body(), c.ak, c.sk, c.now())
	if err != nil {
		return err
	}
	req.Header.Set(sdkauth.HeaderDate, date)
	req.Header.Set("Authorization", auth)
	return nil
}

func transportCode(err error) string {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		return "timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no_free_conns"
	}
	return "transport"
}

func statusError(op string, status int, body []byte) *StatusError {
	var e struct {
		Code string `json:"error_code"`
		Msg  string `json:"error_msg"`
	}
	se := &StatusError{Op: op, Status: status}
	if json.Unmarshal(body, &e) == nil && e.Code != "" {
		se.Code, se.Msg = e.Code, e.Msg
	} else {
		se.Msg = clip(body)
	}
	return se
}

func clip(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// ErrorKey classifies a failed try: the operation, the HTTP status (0 when
// there was no answer) and the DMS error_code, or for failures without one:
// "transport", "timeout", "unreadable", or "ack:<reason>" for entries of an
// ordered ack that failed.
type ErrorKey struct {
	Op     string `json:"op"`
	Status int    `json:"status"`
	Code   string `json:"code"`
}

// ErrorCount is how often one kind of error happened.
type ErrorCount struct {
	ErrorKey
	Count int64 `json:"count"`
}

// errorCounts is a concurrency-safe tally of errors.
type errorCounts struct {
	mu    sync.Mutex
	m     map[ErrorKey]int64
	total atomic.Int64
	onAdd func(n int64) // the phase's per-second series; may be nil
	// nodes tallies every try by target node; nil (warm-up, setup) for none.
	nodes *nodeTally
}

func newErrorCounts(onAdd func(n int64)) *errorCounts {
	return &errorCounts{m: map[ErrorKey]int64{}, onAdd: onAdd}
}

func (e *errorCounts) add(k ErrorKey) { e.addN(k, 1) }

func (e *errorCounts) addN(k ErrorKey, n int64) {
	e.mu.Lock()
	e.m[k] += n
	e.mu.Unlock()
	e.total.Add(n)
	if e.onAdd != nil {
		e.onAdd(n)
	}
}

// list returns the counts, most frequent first.
func (e *errorCounts) list() []ErrorCount {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ErrorCount, 0, len(e.m))
	for k, n := range e.m {
		out = append(out, ErrorCount{ErrorKey: k, Count: n})
	}
	sortErrors(out)
	return out
}

func sortErrors(out []ErrorCount) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Op != b.Op {
			return a.Op < b.Op
		}
		if a.Status != b.Status {
			return a.Status < b.Status
		}
		return a.Code < b.Code
	})
}
