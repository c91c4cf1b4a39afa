package catalogue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

// catalogueLog applies catalogue commands as committed entries, numbering
// them as Raft would.
type catalogueLog struct {
	t     *testing.T
	c     *Catalogue
	index uint64
}

func newCatalogueLog(t *testing.T) *catalogueLog {
	return &catalogueLog{t: t, c: New(slog.New(slog.DiscardHandler))}
}

// apply commits cmd and returns the catalogue's result.
func (l *catalogueLog) apply(cmd *Command) Result {
	l.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		l.t.Fatal(err)
	}
	l.index++
	return l.c.Apply(&raft.Log{Index: l.index, Type: raft.LogCommand, Data: b}).(Result)
}

// testUUID is the n-th queue id of a test (UUID form, as validate wants).
func testUUID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func createQueueCmd(n int, project, name string, limit int) *Command {
	return &Command{Op: OpCreateQueue, Limit: limit,
		Queue:    &Queue{ID: testUUID(n), Project: project, Name: name, Mode: ModeNormal, Partitions: 1, Created: int64(n)},
		Replicas: [][]string{{"n1", "n2", "n3"}}, Addrs: map[string]string{"n1": "a:1", "n2": "a:2", "n3": "a:3"}}
}

func createGroupsCmd(queue int, project string, limit int, names ...string) *Command {
	gs := make([]Group, len(names))
	for i, name := range names {
		gs[i] = Group{ID: "g-" + name, Name: name}
	}
	return &Command{Op: OpCreateGroups, Project: project, QueueID: testUUID(queue), Groups: gs, Limit: limit}
}

func queueNames(c *Catalogue, project string) []string {
	var out []string
	for _, q := range c.Queues(project) {
		out = append(out, q.Name)
	}
	return out
}

func TestCatalogue_QueueQuotaIsPerProjectAndHeldInApply(t *testing.T) {
	l := newCatalogueLog(t)
	for i, name := range []string{"a", "b"} {
		if res := l.apply(createQueueCmd(i+1, "p", name, 2)); res.Err != nil {
			t.Fatalf("create %s: %v", name, res.Err)
		}
	}
	// Two creates raced past the proposer's check: the log decides.
	if res := l.apply(createQueueCmd(3, "p", "c", 2)); !errors.Is(res.Err, ErrQueueQuota) {
		t.Fatalf("third queue of p: %v, want ErrQueueQuota", res.Err)
	}
	if res := l.apply(createQueueCmd(4, "other", "c", 2)); res.Err != nil {
		t.Fatalf("another project's queue: %v", res.Err)
	}
	if res := l.apply(&Command{Op: OpDeleteQueue, Project: "p", QueueID: testUUID(1)}); res.Err != nil {
		t.Fatalf("delete: %v", res.Err)
	}
	if res := l.apply(createQueueCmd(5, "p", "c", 2)); res.Err != nil {
		t.Fatalf("create after a delete freed the quota: %v", res.Err)
	}
	if got, want := queueNames(l.c, "p"), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("queues of p %v, want %v (creation order)", got, want)
	}
}

func TestCatalogue_QueueNamesUniqueWithinAProject(t *testing.T) {
	l := newCatalogueLog(t)
	if res := l.apply(createQueueCmd(1, "p", "orders", 10)); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := l.apply(createQueueCmd(2, "p", "orders", 10)); !errors.Is(res.Err, ErrQueueExists) {
		t.Fatalf("same name, same project: %v, want ErrQueueExists", res.Err)
	}
	if res := l.apply(createQueueCmd(3, "q", "orders", 10)); res.Err != nil {
		t.Fatalf("same name, other project: %v", res.Err)
	}
	// An id is never reused, whatever the name.
	if res := l.apply(createQueueCmd(1, "p", "other", 10)); res.Err == nil {
		t.Fatal("a second queue with an existing id was created")
	}
	// Deleting through another project finds nothing.
	if res := l.apply(&Command{Op: OpDeleteQueue, Project: "q", QueueID: testUUID(1)}); !errors.Is(res.Err, ErrQueueNotFound) {
		t.Fatalf("delete through another project: %v, want ErrQueueNotFound", res.Err)
	}
	if res := l.apply(&Command{Op: OpDeleteQueue, Project: "p", QueueID: testUUID(1)}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := l.apply(createQueueCmd(4, "p", "orders", 10)); res.Err != nil {
		t.Fatalf("the name of a deleted queue: %v", res.Err)
	}
}

func TestCatalogue_GroupsAllOrNoneWithinQuotaAndUnique(t *testing.T) {
	l := newCatalogueLog(t)
	if res := l.apply(createQueueCmd(1, "p", "q", 10)); res.Err != nil {
		t.Fatal(res.Err)
	}
	groups := func() []string {
		q, _ := l.c.Queue("p", testUUID(1))
		var out []string
		for _, g := range q.Groups {
			out = append(out, g.Name)
		}
		return out
	}
	if res := l.apply(createGroupsCmd(1, "p", 3, "a", "b")); res.Err != nil || len(res.Groups) != 2 {
		t.Fatalf("create a, b: %+v", res)
	}
	cases := []struct {
		name string
		cmd  *Command
		want error
	}{
		{"over the quota", createGroupsCmd(1, "p", 3, "c", "d"), ErrGroupQuota},
		{"a name taken", createGroupsCmd(1, "p", 3, "a"), ErrGroupExists},
		{"a name twice in one batch", createGroupsCmd(1, "p", 4, "c", "c"), ErrGroupExists},
		{"another project's queue", createGroupsCmd(1, "x", 3, "c"), ErrQueueNotFound},
	}
	for _, tc := range cases {
		if res := l.apply(tc.cmd); !errors.Is(res.Err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, res.Err, tc.want)
		}
		if got := groups(); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("%s: groups %v, want [a b]: a refused batch adds none", tc.name, got)
		}
	}
	if res := l.apply(&Command{Op: OpDeleteGroup, Project: "p", QueueID: testUUID(1), GroupID: "g-a"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := l.apply(&Command{Op: OpDeleteGroup, Project: "p", QueueID: testUUID(1), GroupID: "g-a"}); !errors.Is(res.Err, ErrGroupNotFound) {
		t.Fatalf("delete twice: %v, want ErrGroupNotFound", res.Err)
	}
	if res := l.apply(createGroupsCmd(1, "p", 3, "a", "c")); res.Err != nil {
		t.Fatalf("a deleted group's name, up to the quota again: %v", res.Err)
	}
	if got, want := groups(), []string{"b", "a", "c"}; !slices.Equal(got, want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
}

func TestCatalogue_HandlerKeySetOnce(t *testing.T) {
	l := newCatalogueLog(t)
	first, second := bytes.Repeat([]byte{1}, handlerKeyLen), bytes.Repeat([]byte{2}, handlerKeyLen)
	l.apply(&Command{Op: OpSetKey, Key: first})
	l.apply(&Command{Op: OpSetKey, Key: second}) // a second leader's key, committed later
	if !bytes.Equal(l.c.Key(), first) {
		t.Fatal("the handler key changed after it was set")
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

func snapshotBytes(t *testing.T, c *Catalogue) []byte {
	t.Helper()
	snap, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

// buildCatalogue commits a history with every op, refusals included.
func buildCatalogue(t *testing.T) *catalogueLog {
	l := newCatalogueLog(t)
	l.apply(&Command{Op: OpSetKey, Key: bytes.Repeat([]byte{7}, handlerKeyLen)})
	for i := range 6 {
		l.apply(createQueueCmd(i+1, fmt.Sprint("p", i%2), fmt.Sprint("q", i), 2)) // the last two are over the quota
		l.apply(createGroupsCmd(i+1, fmt.Sprint("p", i%2), 3, "a", "b"))
	}
	l.apply(&Command{Op: OpDeleteGroup, Project: "p0", QueueID: testUUID(1), GroupID: "g-a"})
	l.apply(&Command{Op: OpDeleteQueue, Project: "p1", QueueID: testUUID(2)})
	return l
}

func TestCatalogue_SnapshotRoundTrip(t *testing.T) {
	l := buildCatalogue(t)
	b := snapshotBytes(t, l.c)
	restored := New(slog.New(slog.DiscardHandler))
	changed := restored.Changed()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Restore did not signal a change")
	}
	if got := snapshotBytes(t, restored); !bytes.Equal(got, b) {
		t.Fatalf("snapshot of the restored catalogue differs:\n%s\n%s", got, b)
	}
	if restored.AppliedIndex() != l.index {
		t.Fatalf("restored applied index %d, want %d", restored.AppliedIndex(), l.index)
	}
	if !bytes.Equal(restored.Key(), l.c.Key()) {
		t.Fatal("handler key lost")
	}
	for _, p := range []string{"p0", "p1"} {
		if got, want := restored.Queues(p), l.c.Queues(p); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("queues of %s: %+v, want %+v", p, got, want)
		}
	}
	if got, want := restored.Placements(), l.c.Placements(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("placements %+v, want %+v", got, want)
	}
	// The restored catalogue goes on as the original does: the quota
	// counts the restored queues.
	for _, c := range []*Catalogue{l.c, restored} {
		b, _ := json.Marshal(createQueueCmd(9, "p0", "late", 2))
		if res := c.Apply(&raft.Log{Index: l.index + 1, Type: raft.LogCommand, Data: b}).(Result); !errors.Is(res.Err, ErrQueueQuota) {
			t.Fatalf("create over the quota after restore: %v", res.Err)
		}
	}
}

func TestCatalogue_SameLogSameSnapshot(t *testing.T) {
	a, b := buildCatalogue(t), buildCatalogue(t)
	if !bytes.Equal(snapshotBytes(t, a.c), snapshotBytes(t, b.c)) {
		t.Fatal("two catalogues that applied the same log have different snapshots")
	}
}

func TestCatalogue_RestoreRefusesGarbage(t *testing.T) {
	c := buildCatalogue(t).c
	before := snapshotBytes(t, c)
	if err := c.Restore(io.NopCloser(bytes.NewReader([]byte("{not json")))); err == nil {
		t.Fatal("Restore accepted a broken snapshot")
	}
	if !bytes.Equal(snapshotBytes(t, c), before) {
		t.Fatal("a refused snapshot changed the catalogue")
	}
}
