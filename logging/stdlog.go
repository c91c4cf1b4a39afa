package logging

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
)

// NewStdLogger returns a standard-library logger whose lines become slog
// records of component, for memberlist (memberlist.Config.Logger). Its lines
// start with a level tag ("[ERR] memberlist: ...") that sets the level.
// memberlist's errors are about peers it cannot reach, which membership
// reports on its own: they are written as warnings.
func NewStdLogger(l *slog.Logger, component string) *log.Logger {
	return log.New(NewWriter(l, component), "", 0)
}

// NewWriter is the writer under NewStdLogger, for a caller that routes some
// lines elsewhere first.
func NewWriter(l *slog.Logger, component string) io.Writer {
	return &lineWriter{log: l.With("component", component), peerErrors: true}
}

// lineWriter turns each written line into one slog record.
type lineWriter struct {
	log *slog.Logger
	// peerErrors writes [ERR] lines as warnings.
	peerErrors bool
}

// levelTags are the tags memberlist and hclog's standard writer put first.
var levelTags = []struct {
	tag string
	lvl slog.Level
}{
	{"[TRACE]", levelTrace},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

func (w *lineWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.line(strings.TrimSpace(string(line)))
	}
	return len(p), nil
}

func (w *lineWriter) line(s string) {
	if s == "" {
		return
	}
	lvl := slog.LevelInfo
	for _, t := range levelTags {
		if rest, ok := strings.CutPrefix(s, t.tag); ok {
			lvl, s = t.lvl, strings.TrimSpace(rest)
			break
		}
	}
	if lvl == slog.LevelError && w.peerErrors {
		lvl = slog.LevelWarn
	}
	s = strings.TrimPrefix(s, "memberlist: ")
	w.log.Log(context.Background(), lvl, s)
}
