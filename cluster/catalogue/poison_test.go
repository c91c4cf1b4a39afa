package catalogue

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// poisonedMetaEntries are catalogue entries no node should ever have
// proposed. cluster's tests commit entries like these through a running
// group; here they are applied to the state machine alone.
var poisonedMetaEntries = [][]byte{
	[]byte(`not json`),
	[]byte(`{"op":"drop_everything"}`),
	[]byte(`{"op":"create_queue"}`),
	[]byte(`{"op":"create_queue","queue":{"ID":"../../x","Project":"p","Name":"q","Mode":"NORMAL","Partitions":1},"replicas":[["n1"]],"limit":9}`),
	[]byte(`{"op":"create_groups","project":"p","queue_id":"x"}`),
}

// TestCatalogue_InvalidEntriesAreLoggedNoOps applies each poisoned entry to
// a catalogue: no panic, the state is unchanged, the index advances and the
// error is logged with the entry's index.
func TestCatalogue_InvalidEntriesAreLoggedNoOps(t *testing.T) {
	c := seedCatalogue(t)
	var logged bytes.Buffer
	c.log = slog.New(slog.NewTextHandler(&logged, nil))
	before, _ := json.Marshal(c.st)
	for i, b := range poisonedMetaEntries {
		idx := uint64(50 + i)
		res := c.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b}).(Result)
		if !errors.Is(res.Err, ErrInvalidCommand) {
			t.Fatalf("entry %q: result error %v, want ErrInvalidCommand", b, res.Err)
		}
		if c.AppliedIndex() != idx {
			t.Fatalf("entry %q: applied index %d, want %d", b, c.AppliedIndex(), idx)
		}
	}
	if after, _ := json.Marshal(c.st); string(after) != string(before) {
		t.Fatalf("poisoned entries changed the catalogue:\n%s\n%s", before, after)
	}
	if n := strings.Count(logged.String(), "level=ERROR"); n != len(poisonedMetaEntries) {
		t.Fatalf("%d errors logged, want %d:\n%s", n, len(poisonedMetaEntries), logged.String())
	}
}
