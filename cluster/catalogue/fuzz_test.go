package catalogue

import (
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
)

// seedCatalogue is a catalogue holding one queue with one group.
func seedCatalogue(t testing.TB) *Catalogue {
	t.Helper()
	c := New(slog.New(slog.DiscardHandler))
	for i, cmd := range validCommands() {
		b, err := json.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if res := c.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b}).(Result); errors.Is(res.Err, ErrInvalidCommand) {
			t.Fatalf("seed command %s: %v", cmd.Op, res.Err)
		}
	}
	return c
}

const seedQueueID = "0b1e2c3d-4f50-4a61-8b72-9c8d7e6f5a4b"

// validCommands is one well-formed command of each op, in an order that
// applies without being refused as invalid (the last deletes a queue that
// does not exist).
func validCommands() []*Command {
	q := &Queue{ID: seedQueueID, Project: "p", Name: "q", Mode: ModeNormal, Partitions: 2, Created: 1}
	return []*Command{
		{Op: OpSetKey, Key: make([]byte, handlerKeyLen)},
		{Op: OpCreateQueue, Queue: q, Replicas: [][]string{{"n1", "n2"}, {"n2", "n1"}}, Addrs: map[string]string{"n1": "a:1"}, Limit: 5},
		{Op: OpCreateGroups, Project: "p", QueueID: seedQueueID, Groups: []Group{{ID: "g-1", Name: "g"}, {ID: "g-2", Name: "h"}}, Limit: 3},
		{Op: OpDeleteGroup, Project: "p", QueueID: seedQueueID, GroupID: "g-2"},
		{Op: OpSetReplicas, QueueID: seedQueueID, Index: 1, Expect: []string{"n2", "n1"}, Set: []string{"n2", "n1", "n3"}, Addrs: map[string]string{"n3": "a:3"}},
		{Op: OpSetNode, Node: "n3", State: StateDecommissioning, Inc: "i3"},
		{Op: OpDeleteQueue, Project: "p", QueueID: "gone"},
	}
}

// FuzzCatalogueCommand feeds arbitrary bytes to the catalogue as committed
// entries: Apply never panics, an entry that DecodeCommand refuses
// changes nothing but the applied index, and one it accepts can be applied
// again (replayed) without panicking either.
func FuzzCatalogueCommand(f *testing.F) {
	for _, cmd := range validCommands() {
		b, _ := json.Marshal(cmd)
		f.Add(b)
	}
	f.Add([]byte(`{"op":"create_queue"}`))
	f.Add([]byte(`{"op":"create_groups","queue_id":"x","project":"p","groups":[{}]}`))
	f.Add([]byte(`{"op":"drop_everything"}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"op":"create_queue","queue":{"ID":"../../etc","Partitions":1},"replicas":[[]],"limit":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := seedCatalogue(t)
		before, _ := json.Marshal(c.st)
		_, decodeErr := DecodeCommand(b)
		res := c.Apply(&raft.Log{Index: 100, Type: raft.LogCommand, Data: b}).(Result)
		if c.AppliedIndex() != 100 {
			t.Fatalf("applied index %d after entry 100", c.AppliedIndex())
		}
		if decodeErr != nil {
			after, _ := json.Marshal(c.st)
			if string(after) != string(before) || res.Err == nil {
				t.Fatalf("refused entry %q (%v) changed the catalogue or reported no error", b, decodeErr)
			}
			return
		}
		c.Apply(&raft.Log{Index: 101, Type: raft.LogCommand, Data: b})
		_ = c.Placements()
		_ = c.Queues("p")
	})
}
