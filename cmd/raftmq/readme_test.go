package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// readmeBlock returns the first ```sh block of README.md after the line
// that starts with marker: the README's own text, not a copy of it.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+marker)
	if !ok {
		t.Fatalf("README.md has no line starting with %q", marker)
	}
	_, rest, ok = strings.Cut(rest, "\n```sh\n")
	block, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatalf("README.md: no ```sh block after %q", marker)
	}
	return block
}

// runShell runs script with bash in dir, bounded in time, with PATH
// holding only the system's tools and env added, and returns its output.
func runShell(t *testing.T, dir, script string, env ...string) string {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the README's commands (apt-get install -y %s; .ci/run installs it)", tool, tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("README block failed: %v\n%s", err, out.String())
	}
	return out.String()
}

// TestREADME_WalkThroughRunsTwice runs the README's curl walk-through twice
// in a row against a fresh node, as a reader pasting it twice would, and
// checks each run saw what the README says it shows.
func TestREADME_WalkThroughRunsTwice(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	script := readmeBlock(t, "<!-- walk-through")
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^queue [0-9a-f-]{36}$`),
		regexp.MustCompile(`(?m)^group g-[0-9a-f-]{36}$`),
		regexp.MustCompile(`(?m)^\{"body":\{"order":1\},"attributes":\{"k":"v"\}\}$`),
		regexp.MustCompile(`(?m)^\{"success":1,"fail":1,"first_failure":\{"index":1,"reason":"status_fail"`),
		regexp.MustCompile(`(?m)^\{.*"consumed_messages":1,.*"available_deadletters":1\}$`),
		regexp.MustCompile(`(?m)^\{"body":"hello","attributes":\{\}\}$`),
		regexp.MustCompile(`(?m)^\{"success":1,"fail":0\}$`),
		regexp.MustCompile(`(?m)^204$`),
	}
	for run := 1; run <= 2; run++ {
		out := runShell(t, t.TempDir(), script, "RAFTMQ_SERVER="+p.URL())
		for _, re := range want {
			if !re.MatchString(out) {
				t.Errorf("run %d: output lacks %s:\n%s", run, re, out)
			}
		}
	}
	var queues struct {
		Total int `json:"total"`
	}
	call(t, "GET", p.URL()+"/v1.0/myproject/queues", nil, 200, &queues)
	if queues.Total != 0 {
		t.Errorf("after two runs the project holds %d queues, want 0 (the walk-through deletes its queue)", queues.Total)
	}
}

// TestREADME_CLIQuickStartRunsTwice runs the README's command-line quick
// start twice in a row against a fresh node, with bin/raftmq in the working
// directory as after make build.
func TestREADME_CLIQuickStartRunsTwice(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binPath, filepath.Join(dir, "bin", "raftmq")); err != nil {
		t.Fatal(err)
	}
	script := readmeBlock(t, "<!-- cli quick start")
	for run := 1; run <= 2; run++ {
		out := runShell(t, dir, script, "RAFTMQ_SERVER="+p.URL())
		for _, want := range []string{"created queue orders (", "sent 2 message(s) to orders",
			"sent 100 message(s) to orders", "billing", "deleted queue orders"} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: output lacks %q:\n%s", run, want, out)
			}
		}
	}
}
