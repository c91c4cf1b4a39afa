package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Config describes the process logger.
type Config struct {
	Level  string // debug, info, warn or error; "" means info
	Format string // text or json; "" means text
	// RepeatWindow is how long a repeated warning or error (same level,
	// message and group) is suppressed after it was written; 0 means
	// DefaultRepeatWindow, a negative value turns the limiter off.
	RepeatWindow time.Duration
	// Now is the limiter's clock; nil means time.Now.
	Now func() time.Time
}

// DefaultRepeatWindow keeps a Raft group whose peer is down to one line per
// kind of complaint every ten seconds instead of several a second.
const DefaultRepeatWindow = 10 * time.Second

// InvalidError reports a log level or format that does not exist.
type InvalidError struct {
	Setting string // "level" or "format"
	Value   string
}

func (e *InvalidError) Error() string {
	want := "debug, info, warn or error"
	if e.Setting == "format" {
		want = "text or json"
	}
	return fmt.Sprintf("logging: unknown log %s %q (want %s)", e.Setting, e.Value, want)
}

// ParseLevel maps a --log-level value to its slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, &InvalidError{Setting: "level", Value: s}
}

// Validate reports an unknown level or format.
func (c Config) Validate() error {
	if _, err := ParseLevel(c.Level); err != nil {
		return err
	}
	switch strings.ToLower(c.Format) {
	case "", "text", "json":
		return nil
	}
	return &InvalidError{Setting: "format", Value: c.Format}
}

// New returns the logger of cfg writing to w.
func New(w io.Writer, cfg Config) (*slog.Logger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lvl, _ := ParseLevel(cfg.Level)
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if strings.ToLower(cfg.Format) == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	window := cfg.RepeatWindow
	if window == 0 {
		window = DefaultRepeatWindow
	}
	if window > 0 {
		h = NewRateLimiter(h, window, cfg.Now)
	}
	return slog.New(h), nil
}
