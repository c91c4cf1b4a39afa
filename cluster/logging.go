package cluster

import (
	"github.com/hashicorp/go-hclog"

	"raftmq/logging"
)

// transportLogger is the logger of group's Raft network transport: the
// node's slog logger, tagged with the group, errors only (the transport's
// per-connection errors repeat what raft itself reports). A test that
// discards raft's own lines (RaftConfig.RaftLog) discards these too.
func (n *Node) transportLogger(group string) hclog.Logger {
	if n.cfg.Raft.RaftLog != nil {
		return hclog.New(&hclog.LoggerOptions{Name: "raft-net " + group, Level: hclog.Error, Output: n.cfg.Raft.RaftLog})
	}
	return logging.NewHclog(n.log.With(logging.GroupKey, group), "raft-net", hclog.Error)
}
