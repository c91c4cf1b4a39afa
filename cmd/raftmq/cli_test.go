package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// runBin runs the built raftmq binary with args and stdin, bounded in time,
// and returns its stdout, stderr and exit status.
func runBin(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("raftmq %v: %v", args, err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("raftmq %v: still running after 60 s", args)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := runBin(t, stdin, args...)
	if code != 0 {
		t.Fatalf("raftmq %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestCLI_AgainstANode(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	srv := "--server=" + p.URL()

	// Flags may follow the positional arguments.
	mustRun(t, "", "queue", "create", "orders", srv, "--redrive", "3")
	var queues []queueInfo
	decode(t, mustRun(t, "", "queue", "list", srv, "-o", "json"), &queues)
	if len(queues) != 1 || queues[0].Name != "orders" || queues[0].RedrivePolicy != "enable" || queues[0].MaxConsumeCount != 3 {
		t.Fatalf("queue list: %+v", queues)
	}
	// ... and the shared flags may come before the command.
	decode(t, mustRun(t, "", "--server", p.URL(), "-o", "json", "queue", "list"), &queues)
	if len(queues) != 1 {
		t.Fatalf("queue list with leading flags: %+v", queues)
	}
	mustRun(t, "", "group", "create", "orders", "billing", srv)
	mustRun(t, "", "send", "orders", `{"n":1}`, "hello", srv)
	mustRun(t, "first line\nsecond line\n", "send", srv, "orders")

	var got []received
	decode(t, mustRun(t, "", "receive", "orders", "billing", "--wait", "2", "-o", "json", srv), &got)
	var bodies []string
	for _, m := range got {
		var compact bytes.Buffer
		if err := json.Compact(&compact, m.Body); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, compact.String())
		if m.Handler == "" || string(m.Attributes) != "{}" {
			t.Errorf("message %+v: want a handler and {} attributes", m)
		}
	}
	slices.Sort(bodies)
	want := []string{`"first line"`, `"hello"`, `"second line"`, `{"n":1}`}
	if !slices.Equal(bodies, want) {
		t.Fatalf("received bodies %q, want %q", bodies, want)
	}
	// receive acknowledged them: nothing is left.
	if out := mustRun(t, "", "receive", "orders", "billing", "--wait", "1", srv); out != "" {
		t.Fatalf("second receive printed %q, want nothing", out)
	}

	var shown struct {
		Name   string      `json:"name"`
		Groups []groupInfo `json:"groups"`
	}
	decode(t, mustRun(t, "", "queue", "show", "orders", "-o", "json", srv), &shown)
	if shown.Name != "orders" || len(shown.Groups) != 1 || shown.Groups[0].Consumed != 4 {
		t.Fatalf("queue show: %+v", shown)
	}
	if out := mustRun(t, "", "queue", "show", "orders", srv); !strings.Contains(out, "billing") || !strings.Contains(out, "retention:   time") {
		t.Fatalf("queue show table lacks the group or the retention policy:\n%s", out)
	}
	mustRun(t, "", "queue", "create", "jobs", "--retention", "acked", srv)
	var jobs queueInfo
	decode(t, mustRun(t, "", "queue", "show", "jobs", "-o", "json", srv), &jobs)
	if jobs.RetentionPolicy != "acked" {
		t.Fatalf("queue created with --retention acked: %+v", jobs)
	}
	mustRun(t, "", "queue", "delete", "jobs", srv)
	var cv clusterView
	decode(t, mustRun(t, "", "cluster", "status", "-o", "json", srv), &cv)
	if cv.NodeID != "n1" || len(cv.Partitions) == 0 {
		t.Fatalf("cluster status: %+v", cv)
	}

	// The server refuses: exit 1 with its message.
	if _, errOut, code := runBin(t, "", "group", "create", "orders", "billing", srv); code != 1 || !strings.Contains(errOut, "10240018") {
		t.Fatalf("duplicate group: exit %d, stderr %q; want 1 and code 10240018", code, errOut)
	}
	if _, _, code := runBin(t, "", "node", "remove", "n9", srv); code != 1 {
		t.Fatalf("node remove of an unknown node: exit %d, want 1", code)
	}
	mustRun(t, "", "group", "delete", "orders", "billing", srv)
	mustRun(t, "", "queue", "delete", "orders", srv)
	decode(t, mustRun(t, "", "queue", "list", srv, "-o", "json"), &queues)
	if len(queues) != 0 {
		t.Fatalf("queues left after delete: %+v", queues)
	}
}

// TestCLI_EnvironmentSetsServerAndProject runs a command configured only by
// RAFTMQ_SERVER and RAFTMQ_PROJECT.
func TestCLI_EnvironmentSetsServerAndProject(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	cmd := exec.Command(binPath, "queue", "create", "envq")
	cmd.Env = []string{"RAFTMQ_SERVER=" + p.URL(), "RAFTMQ_PROJECT=proj_env"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("queue create: %v: %s", err, out)
	}
	resp, err := http.Get(p.URL() + "/v1.0/proj_env/queues")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Queues []queueInfo `json:"queues"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Queues) != 1 || list.Queues[0].Name != "envq" {
		t.Fatalf("project proj_env: %+v, %v", list, err)
	}
}

func TestCLI_UsageAndLocalCommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout or stderr
	}{
		{[]string{"serve", "-h"}, 0, "(default 127.0.0.1:9000)"},
		{[]string{"queue", "create", "-h"}, 0, "--mode string"},
		{[]string{"receive", "-h"}, 0, "(default 3)"},
		{[]string{"queue", "-h"}, 0, "queue delete NAME"},
		{[]string{"cluster", "status", "-h"}, 0, "--server"},
		{[]string{"version"}, 0, "raftmq "},
		{[]string{"queue", "create"}, 2, "want 1 argument"},
		{[]string{"queue", "list", "--bogus"}, 2, "bogus"},
		{[]string{"queue", "list", "-o", "yaml"}, 2, "table or json"},
		{[]string{"queue", "frobnicate"}, 2, "unknown"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"queue", "list", "--server", "http://127.0.0.1:1"}, 1, "connection refused"},
		{[]string{"queue", "list", "--access-key", "AK"}, 2, "go together"},
	} {
		out, errOut, code := runBin(t, "", tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("raftmq %s: exit %d, want %d; output lacks %q?\nstdout: %s\nstderr: %s",
				strings.Join(tc.args, " "), code, tc.code, tc.want, out, errOut)
		}
	}
	key := strings.TrimSuffix(mustRun(t, "", "keygen"), "\n")
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 32 {
		t.Fatalf("keygen printed %q: %d bytes, %v", key, len(b), err)
	}
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

// TestCLI_SignsRequestsForANodeWithCredentials runs the client against a
// node that authenticates its DMS door and admin endpoints: with a key pair
// every command works (the node checks each signature), without one the node
// refuses and the client exits 1.
func TestCLI_SignsRequestsForANodeWithCredentials(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("ADMIN1 admin-secret *\nAPP1 app-secret shop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := clustertest.NewProcess(t, binPath, "n1", "--credentials", creds)
	p.Start(t)
	srv := "--server=" + p.URL()
	app := []string{srv, "--project", "shop", "--access-key", "APP1", "--secret-key", "app-secret"}
	admin := []string{srv, "--access-key", "ADMIN1", "--secret-key", "admin-secret"}

	mustRun(t, "", append([]string{"queue", "create", "signed", "--redrive", "2"}, app...)...)
	mustRun(t, "", append([]string{"group", "create", "signed", "g"}, app...)...)
	mustRun(t, "one\ntwo\n", append([]string{"send", "signed"}, app...)...)
	var got []received
	decode(t, mustRun(t, "", append([]string{"receive", "signed", "g", "--wait", "2", "-o", "json"}, app...)...), &got)
	if len(got) != 2 {
		t.Fatalf("received %d messages, want 2", len(got))
	}
	var cv clusterView
	decode(t, mustRun(t, "", append([]string{"cluster", "status", "-o", "json"}, admin...)...), &cv)
	if cv.NodeID != "n1" {
		t.Fatalf("cluster status: %+v", cv)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"queue", "list", srv, "--project", "shop"}, "APIG.0301"},
		{[]string{"queue", "list", srv, "--project", "shop", "--access-key", "APP1", "--secret-key", "wrong"}, "APIG.0301"},
		{[]string{"queue", "list", srv, "--project", "other", "--access-key", "APP1", "--secret-key", "app-secret"}, "APIG.0302"},
		{append([]string{"cluster", "status"}, app...), "APIG.0302"},
	} {
		if _, errOut, code := runBin(t, "", tc.args...); code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("raftmq %s: exit %d, stderr %q; want 1 and %s", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
}
