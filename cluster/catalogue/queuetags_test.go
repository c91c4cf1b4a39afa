package catalogue

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func applyMeta(t *testing.T, c *Catalogue, idx uint64, cmd *Command) Result {
	t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return c.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b}).(Result)
}

func snapshotOf(t *testing.T, c *Catalogue) []byte {
	t.Helper()
	s, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return s.(*bytesSnapshot).b
}

func TestCatalogue_QueueTags(t *testing.T) {
	c := seedCatalogue(t)
	before := snapshotOf(t, c)
	if bytes.Contains(before, []byte(`"tags"`)) {
		t.Fatalf("a catalogue without tags writes them: %s", before)
	}
	tags := func(cmd *Command) *Command {
		cmd.Op, cmd.Project, cmd.QueueID = OpQueueTags, "p", seedQueueID
		if cmd.Limit == 0 {
			cmd.Limit = MaxTagsPerQueue
		}
		return cmd
	}
	if res := applyMeta(t, c, 10, tags(&Command{Action: TagActionCreate, Tags: []QueueTag{{"b", "2"}, {"a", "1"}}})); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := applyMeta(t, c, 11, tags(&Command{Action: TagActionCreate, Tags: []QueueTag{{"a", "9"}}})); res.Err != nil {
		t.Fatal(res.Err)
	}
	want := `[{"key":"a","value":"9"},{"key":"b","value":"2"}]`
	if got, _ := json.Marshal(c.st.Queues[seedQueueID].Tags); string(got) != want {
		t.Fatalf("tags %s, want %s", got, want)
	}
	// Over the quota, another project, invalid: refused, nothing changes.
	if res := applyMeta(t, c, 12, tags(&Command{Action: TagActionCreate, Tags: []QueueTag{{"c", ""}}, Limit: 2})); !errors.Is(res.Err, ErrTagQuota) {
		t.Fatalf("quota: %v", res.Err)
	}
	other := tags(&Command{Action: TagActionDelete, Tags: []QueueTag{{Key: "a"}}})
	other.Project = "q"
	if res := applyMeta(t, c, 13, other); !errors.Is(res.Err, ErrQueueNotFound) {
		t.Fatalf("other project: %v", res.Err)
	}
	for _, bad := range []*Command{
		tags(&Command{Action: "update", Tags: []QueueTag{{"a", "1"}}}),
		tags(&Command{Action: TagActionCreate}),
		tags(&Command{Action: TagActionCreate, Tags: []QueueTag{{"a", "1"}, {"a", "2"}}}),
		tags(&Command{Action: TagActionCreate, Tags: []QueueTag{{"a/b", "1"}}}),
		tags(&Command{Action: TagActionCreate, Tags: []QueueTag{{strings.Repeat("k", MaxTagKeyLen+1), "1"}}}),
	} {
		if res := applyMeta(t, c, 14, bad); !errors.Is(res.Err, ErrInvalidCommand) {
			t.Fatalf("%+v: %v", bad, res.Err)
		}
	}
	if got, _ := json.Marshal(c.st.Queues[seedQueueID].Tags); string(got) != want {
		t.Fatalf("tags after refusals %s", got)
	}
	// The snapshot carries the tags; an older snapshot (no tags) restores.
	after := snapshotOf(t, c)
	r := New(slog.New(slog.DiscardHandler))
	if err := r.Restore(io.NopCloser(bytes.NewReader(after))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotOf(t, r), after) {
		t.Fatal("restored catalogue differs")
	}
	if err := r.Restore(io.NopCloser(bytes.NewReader(before))); err != nil {
		t.Fatal(err)
	}
	if r.st.Queues[seedQueueID].Tags != nil || !bytes.Equal(snapshotOf(t, r), before) {
		t.Fatal("a snapshot from before tags does not restore as it was")
	}
	// Deleting every tag leaves the record as it was before tags.
	applyMeta(t, c, 15, tags(&Command{Action: TagActionDelete, Tags: []QueueTag{{Key: "a"}, {Key: "b"}}}))
	if c.st.Queues[seedQueueID].Tags != nil {
		t.Fatalf("tags left: %+v", c.st.Queues[seedQueueID].Tags)
	}
}
