package httpapi

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server.
type Config struct {
	// Logger receives internal errors, recovered panics and fasthttp's own
	// messages. Nil means slog.Default().
	Logger *slog.Logger

	// MaxWaitingConsumers bounds the consume requests (normal and dead
	// letter) in progress on this node at once; the next one gets 429
	// 10240407 with Retry-After: 1.
	MaxWaitingConsumers int

	// MaxRequestBodySize is the largest HTTP request body, in bytes; a larger
	// one gets 413 10540011.
	MaxRequestBodySize int

	// ReadTimeout bounds reading one request, headers and body (fasthttp
	// starts it at the connection's first byte or a keep-alive request's
	// first byte). It does not bound the handler.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. fasthttp starts it after the
	// handler returned, so a 60 s long poll is not cut short by it.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request.
	IdleTimeout time.Duration

	// MaxConns bounds the connections open at once on the HTTP port, and
	// MaxConnsPerIP those from one remote IP: a client past either is
	// answered 503 (total) or 429 (its IP) with Retry-After: 1 and closed
	// before any request is read. They are counted under TLS, handshakes
	// included.
	MaxConns      int
	MaxConnsPerIP int

	// MaxHeaderBytes bounds a request's line and headers together; beyond
	// it the answer is 431 (414 when the request line alone is too long).
	// It is also the size of each connection's read buffer.
	MaxHeaderBytes int
	// MaxRequestLineBytes bounds a request's target (path and query): a
	// longer one is 414. No URL of either API comes near it.
	MaxRequestLineBytes int

	// TLS, when not nil, makes Serve speak HTTPS only (API.md section 5:
	// both APIs, the node endpoints and node-to-node forwarding).
	TLS *tls.Config

	// RequestTimeout bounds one broker call, on top of a consume's time_wait.
	// When it passes the answer is 503 10250005 (outcome unknown).
	RequestTimeout time.Duration

	// Credentials, when not nil, authenticates both doors (API.md sections
	// 3 and 5: RocketMQ signatures, DMS SDK-HMAC-SHA256) and the node
	// endpoints (admin keys); nil turns authentication off (open mode).
	Credentials *Credentials

	// RocketMQLease is the invisible time of a RocketMQ consume: a message's
	// NextConsumeTime is its delivery plus this (5 minutes; tests shorten it).
	RocketMQLease time.Duration

	// Registry, when set, receives raftmq's metric families and is served
	// on GET /metrics (Prometheus text format). Nil: /metrics is 404.
	Registry *prometheus.Registry

	// Now is the clock. Nil means time.Now. The handlers keep no time of
	// their own today (lease expiry is the state machine's); it is here for
	// the doors that will need one (RocketMQ's Date header).
	Now func() time.Time

	// ClockControl is TEST ONLY (raftmq serve --unsafe-test-clock, the fault
	// suite's clock nemesis): when not nil, ClockOffsetPath reads and sets
	// its offset. Nil, the default, leaves that path unknown (404).
	ClockControl ClockControl
}

// ClockControl shifts the clock a node stamps into the commands it proposes
// (partition.RaftConfig.Clock). Implementations are safe for concurrent use.
type ClockControl interface {
	Offset() time.Duration
	SetOffset(time.Duration)
}

// ClockOffsetPath is the TEST ONLY endpoint of Config.ClockControl: GET
// answers {"offset_ms":N}; POST ?ms=N sets the offset to N milliseconds
// (|N| <= MaxClockOffset) and answers the same.
const ClockOffsetPath = "/internal/test/clock-offset"

// MaxClockOffset bounds the offset ClockOffsetPath accepts.
const MaxClockOffset = time.Hour

// Defaults of DefaultConfig.
const (
	DefaultMaxWaitingConsumers = 10000
	DefaultMaxRequestBodySize  = 1 << 20 // 1 MiB, API.md
	DefaultRocketMQLease       = 5 * time.Minute
	// A node serves up to DefaultMaxWaitingConsumers long polls; the total
	// leaves room for them and for producers. One IP gets a quarter: a
	// load generator or a NAT'd office fits, one host cannot take the node.
	DefaultMaxConns            = 16384
	DefaultMaxConnsPerIP       = 4096
	DefaultMaxHeaderBytes      = 8192
	DefaultMaxRequestLineBytes = 4096
)

// DefaultConfig returns the configuration of `raftmq serve` with no flags.
func DefaultConfig() Config {
	return Config{
		Logger:              slog.Default(),
		MaxWaitingConsumers: DefaultMaxWaitingConsumers,
		MaxRequestBodySize:  DefaultMaxRequestBodySize,
		ReadTimeout:         30 * time.Second,
		WriteTimeout:        30 * time.Second,
		IdleTimeout:         120 * time.Second,
		RequestTimeout:      30 * time.Second,
		RocketMQLease:       DefaultRocketMQLease,
		MaxConns:            DefaultMaxConns,
		MaxConnsPerIP:       DefaultMaxConnsPerIP,
		MaxHeaderBytes:      DefaultMaxHeaderBytes,
		MaxRequestLineBytes: DefaultMaxRequestLineBytes,
		Now:                 time.Now,
	}
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.MaxWaitingConsumers < 1 {
		errs = append(errs, fmt.Errorf("MaxWaitingConsumers %d: must be at least 1", c.MaxWaitingConsumers))
	}
	// The body limit must leave room for the largest legal produce request
	// (524288 bytes of messages plus the envelope); below that valid
	// requests would get 413.
	if c.MaxRequestBodySize < maxMessagesBytes+64*1024 {
		errs = append(errs, fmt.Errorf("MaxRequestBodySize %d: must be at least %d", c.MaxRequestBodySize, maxMessagesBytes+64*1024))
	}
	for _, n := range []struct {
		name   string
		v, min int
	}{
		{"MaxConns", c.MaxConns, 1},
		{"MaxConnsPerIP", c.MaxConnsPerIP, 1},
		// Below this the official clients' ordinary headers do not fit.
		{"MaxHeaderBytes", c.MaxHeaderBytes, 2048},
		{"MaxRequestLineBytes", c.MaxRequestLineBytes, 256},
	} {
		if n.v < n.min {
			errs = append(errs, fmt.Errorf("%s %d: must be at least %d", n.name, n.v, n.min))
		}
	}
	if c.MaxRequestLineBytes >= c.MaxHeaderBytes {
		errs = append(errs, fmt.Errorf("MaxRequestLineBytes %d: must be less than MaxHeaderBytes %d", c.MaxRequestLineBytes, c.MaxHeaderBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ReadTimeout", c.ReadTimeout},
		{"WriteTimeout", c.WriteTimeout},
		{"IdleTimeout", c.IdleTimeout},
		{"RequestTimeout", c.RequestTimeout},
		{"RocketMQLease", c.RocketMQLease},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", d.name, d.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("httpapi: config: %w", err)
	}
	return nil
}
