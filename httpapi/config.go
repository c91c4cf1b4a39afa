package httpapi

import (
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

	// RequestTimeout bounds one broker call, on top of a consume's time_wait.
	// When it passes the answer is 503 10250005 (outcome unknown).
	RequestTimeout time.Duration

	// Credentials, when not nil, authenticates RocketMQ requests (API.md
	// section 3); nil turns authentication off. The DMS door does not use it
	// yet.
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
