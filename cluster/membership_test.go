package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestGossipRefusals turns memberlist's lines about unsealed messages into
// one warning per interval and drops its other chatter.
func TestGossipRefusals(t *testing.T) {
	var logged bytes.Buffer
	g := &gossipRefusals{log: slog.New(slog.NewTextHandler(&logged, nil))}
	for _, line := range []string{
		"[DEBUG] memberlist: Stream connection from=127.0.0.1:5\n",
		"[ERR] memberlist: failed to receive: encryption is configured but remote state is not encrypted from=127.0.0.1:5\n",
		"[ERR] memberlist: Decrypt packet failed: No installed keys could decrypt the message from=127.0.0.1:6\n",
	} {
		if n, err := g.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if n := strings.Count(logged.String(), "gossip: refused"); n != 1 {
		t.Fatalf("%d warnings, want 1 (the second within the interval is not logged):\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "not encrypted") {
		t.Fatalf("the warning does not carry memberlist's line: %s", logged.String())
	}
}
