package cluster

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
	c := newCatalogue(slog.New(slog.DiscardHandler))
	for i, cmd := range validCommands() {
		b, err := json.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if res := c.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b}).(metaResult); errors.Is(res.Err, ErrInvalidCommand) {
			t.Fatalf("seed command %s: %v", cmd.Op, res.Err)
		}
	}
	return c
}

const seedQueueID = "0b1e2c3d-4f50-4a61-8b72-9c8d7e6f5a4b"

// validCommands is one well-formed command of each op, in an order that
// applies without being refused as invalid (the last deletes a queue that
// does not exist).
func validCommands() []*metaCommand {
	q := &Queue{ID: seedQueueID, Project: "p", Name: "q", Mode: ModeNormal, Partitions: 2, Created: 1}
	return []*metaCommand{
		{Op: opSetKey, Key: make([]byte, handlerKeyLen)},
		{Op: opCreateQueue, Queue: q, Replicas: [][]string{{"n1", "n2"}, {"n2", "n1"}}, Addrs: map[string]string{"n1": "a:1"}, Limit: 5},
		{Op: opCreateGroups, Project: "p", QueueID: seedQueueID, Groups: []Group{{ID: "g-1", Name: "g"}, {ID: "g-2", Name: "h"}}, Limit: 3},
		{Op: opDeleteGroup, Project: "p", QueueID: seedQueueID, GroupID: "g-2"},
		{Op: opSetReplicas, QueueID: seedQueueID, Index: 1, Expect: []string{"n2", "n1"}, Set: []string{"n2", "n1", "n3"}, Addrs: map[string]string{"n3": "a:3"}},
		{Op: opSetNode, Node: "n3", State: stateDecommissioning, Inc: "i3"},
		{Op: opDeleteQueue, Project: "p", QueueID: "gone"},
	}
}

// FuzzCatalogueCommand feeds arbitrary bytes to the catalogue as committed
// entries: Apply never panics, an entry that decodeMetaCommand refuses
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
		_, decodeErr := decodeMetaCommand(b)
		res := c.Apply(&raft.Log{Index: 100, Type: raft.LogCommand, Data: b}).(metaResult)
		if c.appliedIndex() != 100 {
			t.Fatalf("applied index %d after entry 100", c.appliedIndex())
		}
		if decodeErr != nil {
			after, _ := json.Marshal(c.st)
			if string(after) != string(before) || res.Err == nil {
				t.Fatalf("refused entry %q (%v) changed the catalogue or reported no error", b, decodeErr)
			}
			return
		}
		c.Apply(&raft.Log{Index: 101, Type: raft.LogCommand, Data: b})
		_ = c.placements()
		_ = c.queues("p")
	})
}
