package transport

import (
	"io"
	"testing"
	"time"
)

// TestIncarnation_AddressCarriesIt: WithInc and SplitInc round-trip,
// and an empty incarnation leaves the address as it was.
func TestIncarnation_AddressCarriesIt(t *testing.T) {
	for _, tt := range []struct{ addr, inc string }{{"127.0.0.1:9001", "abc"}, {"[::1]:9001", "abc"}, {"127.0.0.1:9001", ""}} {
		a := WithInc(tt.addr, tt.inc)
		if tt.inc == "" && string(a) != tt.addr {
			t.Fatalf("WithInc(%q, \"\") = %q", tt.addr, a)
		}
		if addr, inc := SplitInc(a); addr != tt.addr || inc != tt.inc {
			t.Fatalf("SplitInc(%q) = %q, %q", a, addr, inc)
		}
	}
}

// startIncMux serves a Mux of incarnation inc (open mode without keys) and
// registers the group "g" on it.
func startIncMux(t *testing.T, inc string, keys ...[]byte) (*Mux, *StreamLayer) {
	t.Helper()
	return startMuxWith(t, MuxConfig{ClusterKeys: keys, HandshakeTimeout: 2 * time.Second, Incarnation: inc})
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
				c, err := dialer.Dial(WithInc(addr, tt.inc), 2*time.Second)
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
