package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// logRecord is one line of a node's --log-format json output.
type logRecord struct {
	Level      string `json:"level"`
	Msg        string `json:"msg"`
	Group      string `json:"group"`
	Component  string `json:"component"`
	Suppressed int    `json:"suppressed"`
}

// parseLog parses every line of a node's output as JSON: one format for
// raftmq's own lines and for raft's and memberlist's.
func parseLog(t *testing.T, node, out string) []logRecord {
	t.Helper()
	var recs []logRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s wrote a line that is not JSON: %q", node, line)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestLogs_PeerDownAndGracefulStop runs three nodes with JSON logs, stops
// one gracefully, and watches the others for a while: no line is an error,
// the stopped node says it stopped at info level, and a group's complaint
// about the missing peer is rate-limited.
func TestLogs_PeerDownAndGracefulStop(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	c := clustertest.StartCluster(t, binPath, 3, "--log-format", "json")
	mustRun(t, "", "queue", "create", "logq", "--server="+c.Nodes[0].URL())

	n3 := c.Node("n3")
	if code := n3.Stop(t, 30*time.Second); code != 0 {
		t.Fatalf("n3 exited %d after SIGTERM", code)
	}
	recs3 := parseLog(t, "n3", n3.Output())
	stopped := false
	for _, r := range recs3 {
		if r.Level == "ERROR" {
			t.Errorf("n3 logged an error around its graceful stop: %+v", r)
		}
		stopped = stopped || (r.Msg == "raftmq node stopped" && r.Level == "INFO")
	}
	if !stopped {
		t.Errorf("n3 did not log its graceful stop at info level:\n%s", n3.Output())
	}

	// Watch the survivors for a fixed window after n3 went away: the window
	// is what is measured (lines per group per time), not a wait for an
	// event.
	const window = 6 * time.Second
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		time.Sleep(200 * time.Millisecond) // observing a time window
	}
	raftWarnings := 0
	for _, p := range c.Nodes[:2] {
		perKind := map[string]int{}
		for _, r := range parseLog(t, p.NodeID, p.Output()) {
			if r.Level == "ERROR" {
				t.Errorf("%s logged an error while a peer was down: %+v", p.NodeID, r)
			}
			if r.Level == "WARN" && r.Group != "" {
				perKind[r.Msg+" "+r.Group]++
			}
			if r.Level == "WARN" && r.Component == "raft" {
				raftWarnings++
			}
		}
		// The limiter admits one line per kind per 10 s: over the whole run
		// (well under 30 s) that is at most 3.
		for k, n := range perKind {
			if n > 3 {
				t.Errorf("%s: %d lines of %q: not rate-limited", p.NodeID, n, k)
			}
		}
	}
	// raft did complain about the missing peer, through the same logger:
	// the checks above looked at something.
	if raftWarnings == 0 {
		t.Errorf("no raft warning on n1 or n2 while n3 was down:\n%s", c.Nodes[0].Output())
	}
}
