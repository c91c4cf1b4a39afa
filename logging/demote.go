package logging

import (
	"fmt"
	"log/slog"
	"strings"
)

// peerDown lists hashicorp/raft messages that it logs at error level on
// every retry while a peer is unreachable: a node being down is a state the
// cluster is built to ride out, reported once by membership, not an error of
// this node. They become warnings (and the rate limiter thins them).
var peerDown = map[string]bool{
	"failed to appendEntries to":              true,
	"failed to heartbeat to":                  true,
	"failed to make requestVote RPC":          true,
	"failed to pipeline appendEntries":        true,
	"failed to start pipeline replication to": true,
	"failed to flush response":                true,
	"failed to send snapshot to":              true,
	"failed to decode incoming command":       true,
	"failed to accept connection":             true,
	// A leader that meets a higher term steps down: the routine end of a
	// leadership after a partition or a peer's restart, not a fault.
	"peer has newer term, stopping replication": true,
}

// shuttingDown marks errors that only say the transport was closed under a
// reader: what a graceful stop does on purpose.
var shuttingDown = []string{"transport shutdown", "use of closed network connection", "EOF", "listener closed", "mux closed"}

// demote returns the level a library message deserves: errors that say a
// peer is unreachable become warnings, and those that say this node is
// closing its own transport become debug lines.
func demote(l slog.Level, msg string, args []any) slog.Level {
	if l < slog.LevelWarn || !peerDown[msg] {
		return l
	}
	if errText := argValue(args, "error"); errText != "" {
		for _, s := range shuttingDown {
			if strings.Contains(errText, s) {
				return slog.LevelDebug
			}
		}
	}
	return slog.LevelWarn
}

// argValue returns the text of key's value in an hclog key/value list.
func argValue(args []any, key string) string {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == key {
			if e, ok := args[i+1].(error); ok {
				return e.Error()
			}
			return fmt.Sprint(args[i+1])
		}
	}
	return ""
}
