package cluster

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestIdentity_AddressCarriesIncarnation: withInc and splitInc round-trip,
// and an empty incarnation leaves the address as it was.
func TestIdentity_AddressCarriesIncarnation(t *testing.T) {
	for _, tt := range []struct{ addr, inc string }{{"127.0.0.1:9001", "abc"}, {"[::1]:9001", "abc"}, {"127.0.0.1:9001", ""}} {
		a := withInc(tt.addr, tt.inc)
		if tt.inc == "" && string(a) != tt.addr {
			t.Fatalf("withInc(%q, \"\") = %q", tt.addr, a)
		}
		if addr, inc := splitInc(a); addr != tt.addr || inc != tt.inc {
			t.Fatalf("splitInc(%q) = %q, %q", a, addr, inc)
		}
	}
}

// startIncMux serves a Mux of incarnation inc (open mode without keys) and
// registers the group "g" on it.
func startIncMux(t *testing.T, inc string, keys ...[]byte) (*Mux, *StreamLayer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMux(ln, MuxConfig{ClusterKeys: keys, HandshakeTimeout: 2 * time.Second, Incarnation: inc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	l, err := m.Layer("g")
	if err != nil {
		t.Fatal(err)
	}
	return m, l
}

// TestMux_RefusesConnectionsForAnotherIncarnation: in open mode and with a
// cluster key, a connection that names another incarnation of the node is
// closed before anything reaches Raft; one naming this incarnation, or none
// (a peer from before incarnations were checked), is handed to the group.
func TestMux_RefusesConnectionsForAnotherIncarnation(t *testing.T) {
	for _, mode := range []struct {
		name string
		keys [][]byte
	}{{"open", nil}, {"keyed", [][]byte{testKey(t)}}} {
		t.Run(mode.name, func(t *testing.T) {
			m, l := startIncMux(t, "inc-a", mode.keys...)
			_, dialer := startIncMux(t, "inc-d", mode.keys...)
			addr := m.advertise.String()
			for _, tt := range []struct {
				inc    string
				accept bool
			}{{"inc-old", false}, {"inc-a", true}, {"", true}} {
				c, err := dialer.Dial(withInc(addr, tt.inc), 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				// What hashicorp/raft would send first: an RPC type byte
				// and its encoded request.
				if _, err := c.Write([]byte{0, 0x80, 0x80, 0x80}); err != nil {
					t.Fatal(err)
				}
				if !tt.accept {
					closedWithin(t, c, 3*time.Second)
					if n := len(l.conns); n != 0 {
						t.Fatalf("a connection for incarnation %q reached the Raft group", tt.inc)
					}
					continue
				}
				got := acceptOne(t, l)
				b := make([]byte, 4)
				if _, err := io.ReadFull(got, b); err != nil || b[0] != 0 || b[3] != 0x80 {
					t.Fatalf("incarnation %q: read %v, %v", tt.inc, b, err)
				}
			}
		})
	}
}

// TestMux_GroupNamesCannotHoldTheIncarnationSeparator: a group name with a
// NUL byte would be read as a name and an incarnation.
func TestMux_GroupNamesCannotHoldTheIncarnationSeparator(t *testing.T) {
	m, _ := startIncMux(t, "")
	if _, err := m.Layer("a" + groupIncSep + "b"); err == nil {
		t.Fatal("a group name with NUL was registered")
	}
}

// TestCatalogue_MemberIncarnationsRecordedAndSurviveSnapshots: set_node
// with State "" and an incarnation records it; a later one replaces it; a
// set_node without one (as older entries are) leaves it; removal keeps the
// admitted incarnation until a new one is admitted; snapshots carry them,
// and a snapshot from before they were recorded restores with none.
func TestCatalogue_MemberIncarnationsRecordedAndSurviveSnapshots(t *testing.T) {
	c := seedCatalogue(t)
	if got := c.memberInc("n3"); got != "" {
		t.Fatalf("n3 incarnation before any record: %q", got)
	}
	applyMeta(t, c, 100, &metaCommand{Op: opSetNode, Node: "n3", Inc: "i3"})
	applyMeta(t, c, 101, &metaCommand{Op: opSetNode, Node: "n2", Inc: "i2"})
	if got := c.memberInc("n3"); got != "i3" {
		t.Fatalf("n3 incarnation %q, want i3", got)
	}
	// An older set_node entry, as it was encoded before incarnations were
	// recorded: no "inc" field.
	old, err := decodeMetaCommand([]byte(`{"op":"set_node","node":"n3"}`))
	if err != nil || old.Inc != "" {
		t.Fatalf("old set_node entry: %+v, %v", old, err)
	}
	applyMeta(t, c, 102, old)
	applyMeta(t, c, 103, &metaCommand{Op: opSetNode, Node: "n3", State: stateRemoved, Inc: "i3"})
	if got, r := c.memberInc("n3"), c.nodeState("n3"); got != "i3" || r.State != stateRemoved || r.Inc != "i3" {
		t.Fatalf("n3 being replaced: incarnation %q, record %+v", got, r)
	}
	applyMeta(t, c, 104, &metaCommand{Op: opSetNode, Node: "n3", Inc: "i3b"})
	if got, r := c.memberInc("n3"), c.nodeState("n3"); got != "i3b" || r.State != "" {
		t.Fatalf("n3 admitted: incarnation %q, record %+v", got, r)
	}
	snap, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := newCatalogue(c.log)
	if err := restored.Restore(io.NopCloser(strings.NewReader(string(snap.(*bytesSnapshot).b)))); err != nil {
		t.Fatal(err)
	}
	if got := restored.memberIncs(); len(got) != 2 || got["n3"] != "i3b" || got["n2"] != "i2" {
		t.Fatalf("restored incarnations %v", got)
	}
	oldSnap := `{"key":null,"queues":{},"index":7,"nodes":{"n4":{"state":"removed","inc":"i4"}}}`
	restored = newCatalogue(c.log)
	if err := restored.Restore(io.NopCloser(strings.NewReader(oldSnap))); err != nil {
		t.Fatal(err)
	}
	if got := restored.memberIncs(); len(got) != 0 || restored.memberInc("n4") != "" {
		t.Fatalf("old snapshot: incarnations %v", got)
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
		c := seedCatalogue(t)
		if tt.recorded != "" {
			applyMeta(t, c, 100, &metaCommand{Op: opSetNode, Node: "n1", Inc: tt.recorded})
		}
		n := &Node{cfg: Config{NodeID: "n1"}, cat: c, inc: "mine", fresh: tt.fresh}
		if got := n.admitted(); got != tt.want {
			t.Errorf("fresh %v, recorded %q: admitted %v, want %v", tt.fresh, tt.recorded, got, tt.want)
		}
	}
}
