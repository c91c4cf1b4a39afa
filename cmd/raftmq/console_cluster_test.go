package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// consoleQueues is the data the three-node console test puts in project
// default: name, mode, redrive, messages, groups, and per group how many
// messages a consumer keeps in flight.
var consoleQueues = []struct {
	name, mode string
	redrive    int
	messages   int
	groups     []string
	inflight   map[string]int
}{
	{"orders", "NORMAL", 1, 1000, []string{"billing", "shipping"}, map[string]int{"shipping": 10}},
	{"payments", "FIFO", 0, 120, []string{"ledger"}, map[string]int{"ledger": 5}},
	{"audit-log", "NORMAL", 0, 60, []string{"archive"}, nil},
}

// consolePartitions is how many partitions consoleQueues have (3 per
// NORMAL queue, 1 per FIFO queue).
const consolePartitions = 7

// TestConsole_ThreeNodeCluster opens every view of the console of each node
// of a real three-node cluster in headless Chromium and checks what it
// shows against the cluster: the nodes with their states, every partition
// with its leader, the queues with their depth, the groups (in flight
// summed over the three consoles, since each counts the partitions it
// leads), the dead letters, and a queue's detail. Then it kills n3 and
// checks that the console shows n3 in the state the cluster gives and every
// partition led by a live node. With RAFTMQ_CONSOLE_SCREENSHOTS=DIR it also
// writes DIR/console-cluster.png and DIR/console-queue.png (README's
// pictures, in docs/img).
func TestConsole_ThreeNodeCluster(t *testing.T) {
	c := clustertest.StartCluster(t, binPath, 3)
	fillConsoleData(t, c.Nodes[0].URL())
	waitLeaders(t, c.Nodes[0].URL(), consolePartitions, "")

	// In-flight counts come from the partitions each node leads, so their
	// sum over the three consoles is exact only if no leadership moved
	// while the pages loaded (the balance loop may still hand partitions
	// to their preferred leaders): retried, boundedly, when one did.
	for attempt := 1; ; attempt++ {
		before := leaders(clusterOf(t, c.Nodes[0].URL()))
		inflight := checkEveryView(t, c)
		if !maps.Equal(before, leaders(clusterOf(t, c.Nodes[0].URL()))) {
			if attempt == 3 {
				t.Fatal("leadership moved while the consoles loaded, three times")
			}
			continue
		}
		for _, q := range consoleQueues {
			for _, g := range q.groups {
				if inflight[g] != q.inflight[g] {
					t.Errorf("group %s: the three consoles show %d in flight together, want %d", g, inflight[g], q.inflight[g])
				}
			}
		}
		break
	}
	if dir := os.Getenv("RAFTMQ_CONSOLE_SCREENSHOTS"); dir != "" {
		screenshot(t, c.Nodes[0].URL()+"/console/", filepath.Join(dir, "console-cluster.png"), 1300, 900)
		screenshot(t, c.Nodes[0].URL()+"/console/?project=default&queue=orders", filepath.Join(dir, "console-queue.png"), 1300, 1000)
	}

	c.Node("n3").Kill(t)
	n1 := c.Nodes[0].URL()
	waitNodeState(t, n1, "n3", func(s string) bool { return s != "alive" })
	waitLeaders(t, n1, consolePartitions, "n3")
	before := clusterOf(t, n1)
	dom := renderConsole(t, n1+"/console/")
	after := clusterOf(t, n1)
	checkNodeCards(t, dom, before, &after)
	checkPartitionChips(t, dom, after, "n3")
}

// checkEveryView loads each node's console, overview and a queue's detail,
// checks what they show, and returns the in-flight count of each group
// summed over the three.
func checkEveryView(t *testing.T, c *clustertest.Cluster) map[string]int {
	t.Helper()
	inflight := map[string]int{}
	for _, p := range c.Nodes {
		cv := clusterOf(t, p.URL())
		dom := renderConsole(t, p.URL()+"/console/")
		checkNodeCards(t, dom, cv, nil)
		checkPartitionChips(t, dom, cv, "")
		for g, n := range checkQueueTable(t, dom) {
			inflight[g] += n
		}
		checkDeadLetterTable(t, dom)
		checkQueueDetail(t, renderConsole(t, p.URL()+"/console/?project=default&queue=orders"))
	}
	return inflight
}

// leaders maps each partition to its leader.
func leaders(cv clusterView) map[string]string {
	m := map[string]string{}
	for _, p := range cv.Partitions {
		m[p.ID] = p.Leader
	}
	return m
}

// fillConsoleData creates consoleQueues through the command-line client of
// one node, leaves each group's in-flight messages leased for 5 minutes,
// and makes one message of orders/billing a dead letter.
func fillConsoleData(t *testing.T, url string) {
	t.Helper()
	srv := "--server=" + url
	for _, q := range consoleQueues {
		args := []string{"queue", "create", q.name, "--mode", q.mode, srv}
		if q.redrive > 0 {
			args = append(args, "--redrive", strconv.Itoa(q.redrive))
		}
		mustRun(t, "", args...)
		for _, g := range q.groups {
			mustRun(t, "", "group", "create", q.name, g, srv)
		}
		var lines strings.Builder
		for i := range q.messages {
			fmt.Fprintf(&lines, "{\"n\":%d}\n", i)
		}
		mustRun(t, lines.String(), "send", q.name, srv)
		for g, n := range q.inflight {
			// One receive may return fewer than asked (the messages are
			// spread over partitions): ask until n are leased, boundedly.
			for got, try := 0, 0; got < n; try++ {
				if try == 20 {
					t.Fatalf("%s/%s: %d of %d messages leased after 20 receives", q.name, g, got, n)
				}
				out := mustRun(t, "", "receive", q.name, g, "--max", strconv.Itoa(n-got), "--no-ack", "--ack-wait", "300", "-o", "json", srv)
				got += strings.Count(out, `"handler"`)
			}
		}
	}
	failOneToDeadLetter(t, url)
}

func clusterOf(t *testing.T, url string) clusterView {
	t.Helper()
	var cv clusterView
	call(t, "GET", url+"/v1/cluster", nil, 200, &cv)
	return cv
}

// nodeState is a node's state as the console shows it: the state field
// when the node gives one, else alive or dead.
func nodeState(cv clusterView, id string) string {
	for _, n := range cv.Nodes {
		if n.ID == id {
			switch {
			case n.State != "":
				return n.State
			case n.Alive:
				return "alive"
			}
			return "dead"
		}
	}
	return ""
}

// waitNodeState waits until url's cluster view gives node id a state ok
// accepts.
func waitNodeState(t *testing.T, url, id string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok(nodeState(clusterOf(t, url), id)) {
		if time.Now().After(deadline) {
			t.Fatalf("node %s still %q after 30 s", id, nodeState(clusterOf(t, url), id))
		}
		time.Sleep(200 * time.Millisecond) // polling a condition against a deadline
	}
}

// waitLeaders waits until url's cluster view has n partitions, each with a
// leader other than notLeader.
func waitLeaders(t *testing.T, url string, n int, notLeader string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cv := clusterOf(t, url)
		led := 0
		for _, p := range cv.Partitions {
			if p.Leader != "" && p.Leader != notLeader {
				led++
			}
		}
		if led == n && len(cv.Partitions) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d partitions led (not by %q) after 30 s: %+v", led, n, notLeader, cv.Partitions)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition against a deadline
	}
}

// renderConsole renders url and fails unless the console rendered data.
func renderConsole(t *testing.T, url string) string {
	t.Helper()
	dom := renderInBrowser(t, url)
	if !strings.Contains(dom, `data-ready="1"`) {
		t.Fatalf("the console at %s never rendered data:\n%s", url, dom)
	}
	return dom
}

var (
	cardRE = regexp.MustCompile(`<div class="card ([^"]*)" data-node="([^"]+)"><div class="id">([^<]*)</div><div class="state-([^"]*)">([^<]*)</div>`)
	cellRE = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	tagRE  = regexp.MustCompile(`<[^>]+>`)
)

// checkNodeCards checks one card per node of cv, each showing the node's
// state (class, style class and text) as cv gives it, or as alt does when
// alt is not nil (the state may change while the page loads), and the
// metadata leader's star.
func checkNodeCards(t *testing.T, dom string, cv clusterView, alt *clusterView) {
	t.Helper()
	cards := cardRE.FindAllStringSubmatch(dom, -1)
	if len(cards) != len(cv.Nodes) {
		t.Fatalf("%d node cards, want %d:\n%s", len(cards), len(cv.Nodes), dom)
	}
	for _, m := range cards {
		class, id, head, styled, text := m[1], m[2], m[3], m[4], m[5]
		want := []string{nodeState(cv, id)}
		if alt != nil {
			want = append(want, nodeState(*alt, id))
		}
		if !slices.Contains(want, text) || class != text || styled != text {
			t.Errorf("node %s shows state %q (card class %q, style state-%s), want one of %q", id, text, class, styled, want)
		}
		if star := strings.Contains(head, "★"); star != (id == cv.MetaLeader) {
			t.Errorf("node %s: star %v, metadata leader %s", id, star, cv.MetaLeader)
		}
	}
}

// checkPartitionChips checks a chip per partition of cv, each naming its
// leader (and not notLeader), grouped in a row per queue.
func checkPartitionChips(t *testing.T, dom string, cv clusterView, notLeader string) {
	t.Helper()
	for _, q := range consoleQueues {
		if !strings.Contains(dom, `data-partitions-of="default/`+q.name+`"`) {
			t.Errorf("no partitions row for default/%s", q.name)
		}
	}
	for _, p := range cv.Partitions {
		_, chip, ok := strings.Cut(dom, `data-partition="`+p.ID+`">`)
		chip, _, _ = strings.Cut(chip, "</span></span>")
		m := regexp.MustCompile(`<b>([^<]+)</b>`).FindStringSubmatch(chip)
		if !ok || m == nil || m[1] == notLeader {
			t.Errorf("partition %s (leader %s in the cluster view) shows %q", p.ID, p.Leader, chip)
		} else if m[1] != p.Leader {
			t.Logf("partition %s shows leader %s, the cluster view %s (leadership moved meanwhile)", p.ID, m[1], p.Leader)
		}
	}
}

// rowCells returns the text of each cell of the first table row whose
// attributes contain attrs.
func rowCells(t *testing.T, dom, attrs string) []string {
	t.Helper()
	_, row, ok := strings.Cut(dom, attrs)
	row, _, _ = strings.Cut(row, "</tr>")
	if !ok {
		t.Fatalf("no row with %s", attrs)
	}
	var out []string
	for _, m := range cellRE.FindAllStringSubmatch(row, -1) {
		out = append(out, strings.TrimSpace(tagRE.ReplaceAllString(m[1], "")))
	}
	return out
}

// leadingInt reads the count of a cell, past a "≤ " or "≥ " bound.
func leadingInt(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimLeft(s, "≤≥ ")))
	if err != nil {
		t.Fatalf("cell %q is not a count", s)
	}
	return n
}

// checkQueueTable checks each queue's mode and depth and each group's row,
// and returns the in-flight count each group's row shows.
func checkQueueTable(t *testing.T, dom string) map[string]int {
	t.Helper()
	inflight := map[string]int{}
	for _, q := range consoleQueues {
		heads := 0
		for _, g := range q.groups {
			// queue, mode, messages, in/s, group, ready, in flight, dead letters, oldest, out/s
			cells := rowCells(t, dom, `data-queue="`+q.name+`" data-group="`+g+`"`)
			if len(cells) != 10 || cells[4] != g {
				t.Fatalf("row of %s/%s: %q", q.name, g, cells)
			}
			if cells[0] != "" { // the queue's first row carries the queue's cells
				heads++
				if cells[0] != q.name || cells[1] != q.mode || cells[2] != strconv.Itoa(q.messages) {
					t.Errorf("queue %s shows %q, want %s with %d messages", q.name, cells[:3], q.mode, q.messages)
				}
			}
			n := leadingInt(t, cells[6])
			inflight[g] = n
			ready, dead := leadingInt(t, cells[5]), 0
			if q.redrive > 0 && g == "billing" {
				dead = 1
			}
			if got := leadingInt(t, cells[7]); got != dead {
				t.Errorf("group %s shows %d dead letters, want %d", g, got, dead)
			}
			// available = messages - acked (none) - dead letters; ready is
			// available minus the in flight this node sees, a bound when
			// the node leads only some partitions.
			if want := q.messages - dead - n; ready != want {
				t.Errorf("group %s shows %d ready (%q), want %d", g, ready, cells[5], want)
			}
		}
		if heads != 1 {
			t.Errorf("queue %s heads %d rows, want 1", q.name, heads)
		}
	}
	return inflight
}

// checkDeadLetterTable checks a row per group of a queue with redrive,
// billing's dead letter waiting with its peek button enabled, and no row
// for queues without redrive.
func checkDeadLetterTable(t *testing.T, dom string) {
	t.Helper()
	for _, q := range consoleQueues {
		for _, g := range q.groups {
			attr := `data-dl="` + q.name + "/" + g + `"`
			if q.redrive == 0 {
				if strings.Contains(dom, attr) {
					t.Errorf("dead-letter row for %s/%s, whose queue has no redrive", q.name, g)
				}
				continue
			}
			cells := rowCells(t, dom, attr)
			want := "0"
			if g == "billing" {
				want = "1"
			}
			if len(cells) != 6 || cells[2] != want || cells[3] != want || cells[4] != strconv.Itoa(q.redrive) {
				t.Errorf("dead letters of %s/%s: %q, want %s waiting and ever, max %d", q.name, g, cells, want, q.redrive)
			}
		}
	}
	_, row, _ := strings.Cut(dom, `data-dl="orders/billing"`)
	row, _, _ = strings.Cut(row, "</tr>")
	if !strings.Contains(row, ">peek</button>") || strings.Contains(row, "disabled") {
		t.Errorf("billing's dead letter cannot be peeked at: %s", row)
	}
}

// checkQueueDetail checks the detail view of orders: shown, with its mode,
// redrive and a row per group with the group's id.
func checkQueueDetail(t *testing.T, dom string) {
	t.Helper()
	if strings.Contains(dom, `<section id="detail" hidden`) || !strings.Contains(dom, `<span id="detail-name">orders</span>`) {
		t.Fatalf("the detail of orders is not shown:\n%s", dom)
	}
	if !regexp.MustCompile(`<p id="detail-meta" class="muted">NORMAL · id [0-9a-f-]{36} · redrive after 1 failed consumptions`).MatchString(dom) {
		t.Errorf("the detail's description is wrong:\n%s", dom)
	}
	_, groups, _ := strings.Cut(dom, `<table id="groups">`)
	groups, _, _ = strings.Cut(groups, "</table>")
	for _, g := range consoleQueues[0].groups {
		// group, available, in flight, consumed, acks/s, dead letters, dead-lettered ever, oldest, id
		cells := rowCells(t, groups, `data-group="`+g+`"`)
		if len(cells) != 9 || cells[0] != g || !strings.HasPrefix(cells[8], "g-") {
			t.Errorf("detail row of %s: %q", g, cells)
		}
	}
}

// screenshot saves url, rendered at width×height, as a PNG in file.
func screenshot(t *testing.T, url, file string, width, height int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, chromiumPath(t), "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars", "--user-data-dir="+t.TempDir(),
		fmt.Sprintf("--window-size=%d,%d", width, height), "--virtual-time-budget=8000", "--screenshot="+abs, url)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	t.Logf("wrote %s", abs)
}
