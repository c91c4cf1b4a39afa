package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// binPath is the raftmq binary built once for the multi-process tests.
var binPath string

func TestMain(m *testing.M) { os.Exit(clustertest.MainWithBinary(m, &binPath)) }

var client = &http.Client{Timeout: 30 * time.Second}

func call(t *testing.T, method, url string, body any, wantStatus int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, b, err)
		}
	}
}

type consumed struct {
	Message struct {
		Body json.RawMessage `json:"body"`
	} `json:"message"`
	Handler string `json:"handler"`
}

func bodies(ms []consumed) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Message.Body)
	}
	slices.Sort(out)
	return out
}

// TestServe_KillNineKeepsEverything produces, acks some messages and leases
// others, kills the process with SIGKILL right after the last 201, restarts it
// on the same data directory, and finds every queue, group, message, lease and
// group position as it was.
func TestServe_KillNineKeepsEverything(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1", "--partitions", "2")
	p.Start(t)
	base := p.URL() + "/v1.0/proj1"

	var q struct{ ID string }
	call(t, "POST", base+"/queues", map[string]any{"name": "orders"}, 201, &q)
	var gs struct {
		Groups []struct{ ID string } `json:"groups"`
	}
	call(t, "POST", base+"/queues/"+q.ID+"/groups", map[string]any{"groups": []map[string]string{{"name": "g1"}}}, 201, &gs)
	gURL := base + "/queues/" + q.ID + "/groups/" + gs.Groups[0].ID

	for i := 0; i < 6; i++ {
		call(t, "POST", base+"/queues/"+q.ID+"/messages", map[string]any{"messages": []map[string]any{{"body": fmt.Sprintf("m%d", i)}}}, 201, nil)
	}
	// Ack two, lease two more for a long time, leave two untouched.
	var first []consumed
	call(t, "GET", gURL+"/messages?max_msgs=2&ack_wait=300", nil, 200, &first)
	if len(first) != 2 {
		t.Fatalf("consumed %d, want 2", len(first))
	}
	ack := map[string]any{"message": []map[string]string{{"handler": first[0].Handler}, {"handler": first[1].Handler}}}
	var ar struct{ Success, Fail int }
	call(t, "POST", gURL+"/ack", ack, 200, &ar)
	if ar.Success != 2 {
		t.Fatalf("ack %+v", ar)
	}
	var leased []consumed
	call(t, "GET", gURL+"/messages?max_msgs=2&ack_wait=300", nil, 200, &leased)
	if len(leased) != 2 {
		t.Fatalf("leased %d, want 2", len(leased))
	}
	// One more message, then kill -9 as soon as its 201 arrived.
	call(t, "POST", base+"/queues/"+q.ID+"/messages", map[string]any{"messages": []map[string]any{{"body": "last"}}}, 201, nil)
	p.Kill(t)
	p.Start(t)

	var rest []consumed
	deadline := time.Now().Add(10 * time.Second)
	for len(rest) < 3 && time.Now().Before(deadline) {
		var got []consumed
		call(t, "GET", gURL+"/messages?max_msgs=10&time_wait=1", nil, 200, &got)
		rest = append(rest, got...)
	}
	want := []string{}
	for i := 0; i < 6; i++ {
		want = append(want, fmt.Sprintf("%q", fmt.Sprintf("m%d", i)))
	}
	want = append(want, `"last"`)
	seen := append(append(append([]string{}, bodies(first)...), bodies(leased)...), bodies(rest)...)
	slices.Sort(seen)
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Fatalf("after restart: acked %v, leased %v, rest %v; want each of %v exactly once", bodies(first), bodies(leased), bodies(rest), want)
	}
	// The leases survived: their handlers still ack.
	ack = map[string]any{"message": []map[string]string{{"handler": leased[0].Handler}, {"handler": leased[1].Handler}}}
	call(t, "POST", gURL+"/ack", ack, 200, &ar)
	if ar.Success != 2 || ar.Fail != 0 {
		t.Fatalf("ack of pre-crash leases after restart: %+v", ar)
	}
}

// TestServe_SIGTERMExitsZero checks the graceful stop: exit code 0 within 30 s.
func TestServe_SIGTERMExitsZero(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	call(t, "POST", p.URL()+"/v1.0/p/queues", map[string]any{"name": "q"}, 201, nil)
	if code := p.Stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestServe_EnvironmentSetsFlags checks RAFTMQ_<FLAG> variables and that a
// command-line flag wins over its variable.
func TestServe_EnvironmentSetsFlags(t *testing.T) {
	env := map[string]string{"RAFTMQ_PARTITIONS": "7", "RAFTMQ_NODE_ID": "from-env", "RAFTMQ_MAX_GROUPS_PER_QUEUE": "5"}
	m := NewMain()
	if err := m.ParseFlags([]string{"--node-id", "from-flag"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if m.Cluster.Partitions != 7 || m.Cluster.MaxGroupsPerQueue != 5 || m.Cluster.NodeID != "from-flag" {
		t.Fatalf("config %+v", m.Cluster)
	}
	if err := NewMain().ParseFlags(nil, func(k string) string {
		if k == "RAFTMQ_PARTITIONS" {
			return "zero"
		}
		return ""
	}); err == nil {
		t.Fatal("bad RAFTMQ_PARTITIONS accepted")
	}
}
