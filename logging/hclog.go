package logging

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is below slog's debug: hashicorp/raft's trace lines.
const levelTrace = slog.LevelDebug - 4

// Hclog is an hclog.Logger that writes to a slog.Logger, for hashicorp/raft
// (raft.Config.Logger, the network transport and the snapshot store).
// Messages that are routine while a peer is down or the node stops are
// demoted (see demote).
type Hclog struct {
	log   *slog.Logger
	name  string
	args  []any
	level *atomic.Int32 // an hclog.Level, shared with loggers derived by With and Named, as hclog does
}

var _ hclog.Logger = (*Hclog)(nil)

// NewHclog returns an adapter writing to l with component=name. Records below
// min are dropped before they are formatted (raft's debug output is large).
func NewHclog(l *slog.Logger, name string, min hclog.Level) *Hclog {
	lv := new(atomic.Int32)
	lv.Store(int32(min))
	return &Hclog{log: l, name: name, level: lv}
}

// Log implements hclog.Logger.
func (h *Hclog) Log(level hclog.Level, msg string, args ...any) {
	if level < h.GetLevel() || level == hclog.Off {
		return
	}
	lvl := demote(slogLevel(level), msg, args)
	ctx := context.Background()
	if !h.log.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]any, 0, 2+len(h.args)+len(args))
	attrs = append(attrs, "component", h.name)
	attrs = append(attrs, pairs(h.args)...)
	attrs = append(attrs, pairs(args)...)
	h.log.Log(ctx, lvl, msg, attrs...)
}

// pairs turns hclog's key/value list into slog arguments: errors become
// their text (slog would print a struct), keys are made single words, and an
// odd trailing value gets the key hclog gives it.
func pairs(args []any) []any {
	out := make([]any, 0, len(args))
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, "EXTRA_VALUE_AT_END", fmt.Sprint(args[i]))
			break
		}
		key := strings.ReplaceAll(fmt.Sprint(args[i]), " ", "_")
		v := args[i+1]
		switch x := v.(type) {
		case error:
			v = x.Error()
		case fmt.Stringer:
			v = x.String()
		case hclog.Format:
			v = fmt.Sprintf(x[0].(string), x[1:]...)
		}
		out = append(out, key, v)
	}
	return out
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// Trace implements hclog.Logger.
func (h *Hclog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }

// Debug implements hclog.Logger.
func (h *Hclog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }

// Info implements hclog.Logger.
func (h *Hclog) Info(msg string, args ...any) { h.Log(hclog.Info, msg, args...) }

// Warn implements hclog.Logger.
func (h *Hclog) Warn(msg string, args ...any) { h.Log(hclog.Warn, msg, args...) }

// Error implements hclog.Logger.
func (h *Hclog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

// IsTrace implements hclog.Logger.
func (h *Hclog) IsTrace() bool { return h.enabled(hclog.Trace) }

// IsDebug implements hclog.Logger.
func (h *Hclog) IsDebug() bool { return h.enabled(hclog.Debug) }

// IsInfo implements hclog.Logger.
func (h *Hclog) IsInfo() bool { return h.enabled(hclog.Info) }

// IsWarn implements hclog.Logger.
func (h *Hclog) IsWarn() bool { return h.enabled(hclog.Warn) }

// IsError implements hclog.Logger.
func (h *Hclog) IsError() bool { return h.enabled(hclog.Error) }

func (h *Hclog) enabled(l hclog.Level) bool {
	return l >= h.GetLevel() && h.log.Enabled(context.Background(), slogLevel(l))
}

// ImpliedArgs implements hclog.Logger.
func (h *Hclog) ImpliedArgs() []any { return h.args }

// With implements hclog.Logger.
func (h *Hclog) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any{}, h.args...), args...)
	return &c
}

// Name implements hclog.Logger.
func (h *Hclog) Name() string { return h.name }

// Named implements hclog.Logger.
func (h *Hclog) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

// ResetNamed implements hclog.Logger.
func (h *Hclog) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel implements hclog.Logger.
func (h *Hclog) SetLevel(l hclog.Level) { h.level.Store(int32(l)) }

// GetLevel implements hclog.Logger.
func (h *Hclog) GetLevel() hclog.Level { return hclog.Level(h.level.Load()) }

// StandardLogger implements hclog.Logger.
func (h *Hclog) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}

// StandardWriter implements hclog.Logger.
func (h *Hclog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineWriter{log: h.log.With("component", h.name)}
}
