package catalogue

import (
	"io"
	"strings"
	"testing"
)

// TestCatalogue_MemberIncarnationsRecordedAndSurviveSnapshots: set_node
// with State "" and an incarnation records it; a later one replaces it; a
// set_node without one (as older entries are) leaves it; removal keeps the
// admitted incarnation until a new one is admitted; snapshots carry them,
// and a snapshot from before they were recorded restores with none.
func TestCatalogue_MemberIncarnationsRecordedAndSurviveSnapshots(t *testing.T) {
	c := seedCatalogue(t)
	if got := c.MemberInc("n3"); got != "" {
		t.Fatalf("n3 incarnation before any record: %q", got)
	}
	applyMeta(t, c, 100, &Command{Op: OpSetNode, Node: "n3", Inc: "i3"})
	applyMeta(t, c, 101, &Command{Op: OpSetNode, Node: "n2", Inc: "i2"})
	if got := c.MemberInc("n3"); got != "i3" {
		t.Fatalf("n3 incarnation %q, want i3", got)
	}
	// An older set_node entry, as it was encoded before incarnations were
	// recorded: no "inc" field.
	old, err := DecodeCommand([]byte(`{"op":"set_node","node":"n3"}`))
	if err != nil || old.Inc != "" {
		t.Fatalf("old set_node entry: %+v, %v", old, err)
	}
	applyMeta(t, c, 102, old)
	applyMeta(t, c, 103, &Command{Op: OpSetNode, Node: "n3", State: StateRemoved, Inc: "i3"})
	if got, r := c.MemberInc("n3"), c.NodeState("n3"); got != "i3" || r.State != StateRemoved || r.Inc != "i3" {
		t.Fatalf("n3 being replaced: incarnation %q, record %+v", got, r)
	}
	applyMeta(t, c, 104, &Command{Op: OpSetNode, Node: "n3", Inc: "i3b"})
	if got, r := c.MemberInc("n3"), c.NodeState("n3"); got != "i3b" || r.State != "" {
		t.Fatalf("n3 admitted: incarnation %q, record %+v", got, r)
	}
	snap, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := New(c.log)
	if err := restored.Restore(io.NopCloser(strings.NewReader(string(snap.(*bytesSnapshot).b)))); err != nil {
		t.Fatal(err)
	}
	if got := restored.MemberIncs(); len(got) != 2 || got["n3"] != "i3b" || got["n2"] != "i2" {
		t.Fatalf("restored incarnations %v", got)
	}
	oldSnap := `{"key":null,"queues":{},"index":7,"nodes":{"n4":{"state":"removed","inc":"i4"}}}`
	restored = New(c.log)
	if err := restored.Restore(io.NopCloser(strings.NewReader(oldSnap))); err != nil {
		t.Fatal(err)
	}
	if got := restored.MemberIncs(); len(got) != 0 || restored.MemberInc("n4") != "" {
		t.Fatalf("old snapshot: incarnations %v", got)
	}
}
