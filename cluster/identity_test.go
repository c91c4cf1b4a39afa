package cluster

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
)

// TestIdentity_CreatedOnceReusedAndNeverRedrawnOverACorruptFile: a new data
// directory gets an identity file with an incarnation; a restart reads the
// same one; an older file without an incarnation gets one and keeps the
// node id; a corrupt file stops the node with ErrBadIdentity instead of a
// new identity.
func TestIdentity_CreatedOnceReusedAndNeverRedrawnOverACorruptFile(t *testing.T) {
	dir := t.TempDir()
	if !freshDataDir(dir) {
		t.Fatal("an empty directory is not fresh")
	}
	inc, err := checkIdentity(dir, "n1")
	if err != nil || inc == "" {
		t.Fatalf("new identity: %q, %v", inc, err)
	}
	if freshDataDir(dir) {
		t.Fatal("a directory with an identity file is fresh")
	}
	if again, err := checkIdentity(dir, "n1"); err != nil || again != inc {
		t.Fatalf("restart: %q, %v; want %q", again, err, inc)
	}
	if _, err := os.Stat(filepath.Join(dir, identityFile+".tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}

	old := t.TempDir()
	if err := os.WriteFile(filepath.Join(old, identityFile), []byte(`{"node_id":"n2"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	upgraded, err := checkIdentity(old, "n2")
	if err != nil || upgraded == "" {
		t.Fatalf("older identity file: %q, %v", upgraded, err)
	}
	if again, _ := checkIdentity(old, "n2"); again != upgraded {
		t.Fatalf("older identity file: incarnation %q then %q", upgraded, again)
	}

	for _, body := range []string{"", "{", `{"inc":"x"}`, "\x00\x00\x00"} {
		bad := t.TempDir()
		p := filepath.Join(bad, identityFile)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := checkIdentity(bad, "n1"); !errors.Is(err, ErrBadIdentity) || !strings.Contains(err.Error(), p) {
			t.Fatalf("corrupt file %q: %q, %v; want ErrBadIdentity naming the file", body, got, err)
		}
		if b, _ := os.ReadFile(p); string(b) != body {
			t.Fatalf("corrupt file %q rewritten as %q", body, b)
		}
	}
}

// TestNode_AdmittedOnlyUnderTheRecordedIncarnation: a node from an older
// data directory matches an empty record; a new or wiped one waits for its
// own incarnation to be recorded; another recorded incarnation never
// matches.
func TestNode_AdmittedOnlyUnderTheRecordedIncarnation(t *testing.T) {
	for _, tt := range []struct {
		fresh    bool
		recorded string
		want     bool
	}{
		{false, "", true}, {true, "", false}, {true, "mine", true}, {false, "mine", true},
		{true, "old", false}, {false, "old", false},
	} {
		c := catalogue.New(slog.New(slog.DiscardHandler))
		if tt.recorded != "" {
			b, err := json.Marshal(&catalogue.Command{Op: catalogue.OpSetNode, Node: "n1", Inc: tt.recorded})
			if err != nil {
				t.Fatal(err)
			}
			c.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: b})
		}
		n := &Node{cfg: Config{NodeID: "n1"}, cat: c, inc: "mine", fresh: tt.fresh}
		if got := n.admitted(); got != tt.want {
			t.Errorf("fresh %v, recorded %q: admitted %v, want %v", tt.fresh, tt.recorded, got, tt.want)
		}
	}
}
