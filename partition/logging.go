package partition

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"

	"raftmq/logging"
)

// hclogger is the logger hashicorp/raft gets for group name: Logger through
// the slog adapter, tagged with the group so that the rate limiter keeps one
// group's complaints apart from another's. raft's info lines (state changes
// of every group at every election) are only written when Logger is at debug
// level; its warnings and errors always are.
func (c RaftConfig) hclogger(name string) hclog.Logger {
	if c.RaftLog != nil {
		return hclog.New(&hclog.LoggerOptions{Name: "raft " + name, Level: hclog.Warn, Output: c.RaftLog})
	}
	l := c.logger().With(logging.GroupKey, name)
	min := hclog.Warn
	if l.Enabled(context.Background(), slog.LevelDebug) {
		min = hclog.Debug
	}
	return logging.NewHclog(l, "raft", min)
}
