package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// chromiumPath finds headless Chromium (Debian's chromium package; .ci/run
// installs it). RAFTMQ_CHROMIUM overrides the search. Without it the
// console test fails: a browser check that cannot run must not pass.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RAFTMQ_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found (apt-get install -y chromium, or set RAFTMQ_CHROMIUM): the console cannot be checked in a browser")
	return ""
}

// renderInBrowser loads url in headless Chromium, lets its scripts run and
// their requests finish (virtual time), and returns the resulting DOM.
func renderInBrowser(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath(t), "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=8000", "--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chromium: %v\n%s", err, stderr)
	}
	return string(out)
}

// TestConsole_RendersLiveData opens /console/ of a real node in a real
// browser and checks that the page shows the node, the queues with their
// groups' figures and the dead letters that the node holds.
func TestConsole_RendersLiveData(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	srv := "--server=" + p.URL()
	mustRun(t, "", "queue", "create", "orders", "--redrive", "1", srv)
	mustRun(t, "", "queue", "create", "events", "--mode", "FIFO", srv)
	mustRun(t, "", "group", "create", "orders", "billing", srv)
	mustRun(t, "", "group", "create", "orders", "shipping", srv)
	mustRun(t, "a\nb\nc\nd\ne\n", "send", "orders", srv)
	// shipping leases 2 and keeps them in flight.
	mustRun(t, "", "receive", "orders", "shipping", "--max", "2", "--no-ack", "--ack-wait", "300", srv)
	failOneToDeadLetter(t, p.URL())
	// Every partition elected, so the page's figures are exact, not bounds.
	waitAllLeaders(t, p.URL(), 4)

	dom := renderInBrowser(t, p.URL()+"/console/")
	if !strings.Contains(dom, `data-ready="1"`) {
		t.Fatalf("the console never rendered data:\n%s", dom)
	}
	for _, want := range []string{`data-node="n1"`, `data-queue="orders"`, `data-queue="events"`, `data-group="billing"`, `data-dl="orders/billing"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("console lacks %s", want)
		}
	}
	// cell returns the text of the queue table's cell of class for group.
	cell := func(group, class string) string {
		_, row, ok := strings.Cut(dom, `data-queue="orders" data-group="`+group+`"`)
		row, _, _ = strings.Cut(row, "</tr>")
		m := regexp.MustCompile(`<td class="num ` + class + `[^"]*">([^<]*)</td>`).FindStringSubmatch(row)
		if !ok || m == nil {
			t.Fatalf("no %s cell for group %s in:\n%s", class, group, dom)
		}
		return m[1]
	}
	if got := cell("shipping", "inflight"); got != "2" {
		t.Errorf("shipping in flight shows %q, want 2", got)
	}
	if got := cell("shipping", "ready"); got != "3" {
		t.Errorf("shipping ready shows %q, want 3", got)
	}
	if got := cell("billing", "deadletters"); got != "1" {
		t.Errorf("billing dead letters shows %q, want 1", got)
	}
	// The dead-letter row offers redrive, enabled while there are some.
	_, dl, _ := strings.Cut(dom, `data-dl="orders/billing"`)
	dl, _, _ = strings.Cut(dl, "</tr>")
	if !regexp.MustCompile(`<button type="button" class="redrive">redrive</button>`).MatchString(dl) {
		t.Errorf("no enabled redrive button in the dead-letter row:\n%s", dl)
	}
}

// failOneToDeadLetter makes billing fail one message once: with redrive
// after 1 failed consumption it becomes a dead letter.
func failOneToDeadLetter(t *testing.T, base string) {
	t.Helper()
	var queues struct {
		Queues []queueInfo `json:"queues"`
	}
	call(t, "GET", base+"/v1.0/default/queues", nil, 200, &queues)
	var q queueInfo
	for _, x := range queues.Queues {
		if x.Name == "orders" {
			q = x
		}
	}
	var groups struct {
		Groups []groupInfo `json:"groups"`
	}
	call(t, "GET", base+"/v1.0/default/queues/"+q.ID+"/groups", nil, 200, &groups)
	var gid string
	for _, g := range groups.Groups {
		if g.Name == "billing" {
			gid = g.ID
		}
	}
	var got []consumed
	call(t, "GET", base+"/v1.0/default/queues/"+q.ID+"/groups/"+gid+"/messages?max_msgs=1&time_wait=5", nil, 200, &got)
	if len(got) != 1 {
		t.Fatalf("billing consumed %d messages, want 1", len(got))
	}
	ack := map[string]any{"message": []map[string]string{{"handler": got[0].Handler, "status": "fail"}}}
	call(t, "POST", base+"/v1.0/default/queues/"+q.ID+"/groups/"+gid+"/ack", ack, 200, nil)
	// The dead-lettering is settled by the partition's next command; a
	// listing with include_deadletter waits for nothing, so poll it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var gs struct {
			Groups []groupInfo `json:"groups"`
		}
		call(t, "GET", base+"/v1.0/default/queues/"+q.ID+"/groups?include_deadletter=true", nil, 200, &gs)
		for _, g := range gs.Groups {
			if g.Name == "billing" && g.AvailableDeadLetters == 1 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter for billing after 10 s: %+v", gs)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition against a deadline
	}
}
