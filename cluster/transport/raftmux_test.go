package transport

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// startMux serves a Mux with the given keys on a loopback listener and
// registers the group "g" on it.
func startMux(t *testing.T, timeout time.Duration, keys ...[]byte) (*Mux, *StreamLayer) {
	t.Helper()
	return startMuxWith(t, MuxConfig{ClusterKeys: keys, HandshakeTimeout: timeout})
}

// startMuxWith serves a Mux of config cfg on a loopback listener and
// registers the group "g" on it.
func startMuxWith(t *testing.T, cfg MuxConfig) (*Mux, *StreamLayer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMux(ln, cfg)
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

// acceptOne returns the next connection the layer accepts, or fails.
func acceptOne(t *testing.T, l *StreamLayer) net.Conn {
	t.Helper()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			got <- c
		}
	}()
	select {
	case c := <-got:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

// TestMux_KeyedConnectionCarriesDataBothWays sends more than a few frames
// each way over a keyed connection and checks that what arrives is what was
// sent.
func TestMux_KeyedConnectionCarriesDataBothWays(t *testing.T) {
	key := testKey(t)
	_, la := startMux(t, time.Second, key)
	mb, lb := startMux(t, time.Second, key)
	c, err := la.Dial(raft.ServerAddress(mb.advertise.String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := acceptOne(t, lb)
	for _, dir := range []struct {
		name     string
		from, to net.Conn
		size     int
	}{{"dialer to acceptor", c, s, 300 << 10}, {"acceptor to dialer", s, c, 70 << 10}, {"small", c, s, 3}} {
		want := make([]byte, dir.size)
		rand.Read(want)
		go func() { dir.from.Write(want) }()
		got := make([]byte, len(want))
		_ = dir.to.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(dir.to, got); err != nil {
			t.Fatalf("%s: %v", dir.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: data differs", dir.name)
		}
	}
}

// TestMux_FramesAreSealed checks on the raw stream that a keyed
// connection's payload is not in clear, and that a flipped bit breaks it.
func TestMux_FramesAreSealed(t *testing.T) {
	kr := mustKeyring(t, testKey(t))
	a, b := net.Pipe()
	type result struct {
		conn  net.Conn
		group string
		err   error
	}
	accepted := make(chan result, 1)
	tap := &tapConn{Conn: b}
	go func() {
		var magic [1]byte
		io.ReadFull(tap, magic[:])
		c, g, err := acceptHandshake(tap, kr)
		accepted <- result{c, g, err}
	}()
	dc, err := dialHandshake(a, kr, "grp")
	if err != nil {
		t.Fatal(err)
	}
	r := <-accepted
	if r.err != nil || r.group != "grp" {
		t.Fatalf("accept: %q %v", r.group, r.err)
	}
	secret := []byte("a raft entry nobody else may read")
	go dc.Write(secret)
	got := make([]byte, len(secret))
	if _, err := io.ReadFull(r.conn, got); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("read %q %v", got, err)
	}
	if bytes.Contains(tap.seen.Bytes(), secret) || bytes.Contains(tap.seen.Bytes(), []byte("grp")) {
		t.Fatal("the payload or the group name crossed the wire in clear")
	}
	// A frame altered in transit does not open.
	tap.flip = true
	go dc.Write(secret)
	if _, err := io.ReadFull(r.conn, got); !errors.Is(err, errBadFrame) {
		t.Fatalf("altered frame read as %q, %v; want errBadFrame", got, err)
	}
}

// tapConn records what it reads and, with flip set, alters the last byte
// of every read.
type tapConn struct {
	net.Conn
	seen bytes.Buffer
	flip bool
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.seen.Write(p[:n])
	if c.flip && n > 0 {
		p[n-1] ^= 1
	}
	return n, err
}

// strangerConn dials the mux and writes what a stranger sends.
func strangerConn(t *testing.T, m *Mux, send []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", m.advertise.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if len(send) > 0 {
		if _, err := c.Write(send); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// closedWithin reads c until the peer closes it; it fails if that takes
// longer than d, and returns how long it took.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", d)
	}
	return time.Since(start)
}

// TestMux_StrangersAreRefused: a keyed node closes, without handing them to
// Raft, connections that send the open-mode header and Raft bytes, a hello
// naming an unknown key, or a hello with a known key id and a forged proof.
func TestMux_StrangersAreRefused(t *testing.T) {
	key := testKey(t)
	m, l := startMux(t, 5*time.Second, key)
	id := deriveKeyID(key) // on the wire in every hello: a stranger may know it
	forgedHello := append(append([]byte{muxMagicKeyed, handshakeVer}, id[:]...), make([]byte, handshakeNonce)...)
	otherID := deriveKeyID(testKey(t))
	for _, tt := range []struct {
		name string
		send []byte
	}{
		{"open header and raft bytes", append([]byte{muxMagic, 1, 'g', 0, 1, 2, 3}, bytes.Repeat([]byte{0x80}, 64)...)},
		{"unknown key", append(append([]byte{muxMagicKeyed, handshakeVer}, otherID[:]...), make([]byte, handshakeNonce)...)},
		{"forged proof", append(forgedHello, make([]byte, macLen+64)...)},
		{"other version", append([]byte{muxMagicKeyed, 9}, make([]byte, 200)...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := strangerConn(t, m, tt.send)
			closedWithin(t, c, 3*time.Second)
		})
	}
	if n := len(l.conns); n != 0 {
		t.Fatalf("%d stranger connections reached the Raft group", n)
	}
}

// TestMux_HandshakeDeadlineClosesIdleConnections: a connection that sends
// nothing, only the magic byte, a whole hello, or the open header of a
// group and nothing else, is closed at the handshake deadline.
func TestMux_HandshakeDeadlineClosesIdleConnections(t *testing.T) {
	const timeout = 300 * time.Millisecond
	key := testKey(t)
	keyed, _ := startMux(t, timeout, key)
	id := deriveKeyID(key)
	hello := append(append([]byte{muxMagicKeyed, handshakeVer}, id[:]...), make([]byte, handshakeNonce)...)
	for _, tt := range []struct {
		name string
		send []byte
	}{
		{"nothing", nil},
		{"magic only", []byte{muxMagicKeyed}},
		{"hello, then silence", hello},
		{"half a hello", hello[:10]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := strangerConn(t, keyed, tt.send)
			if took := closedWithin(t, c, timeout+3*time.Second); took < timeout/2 {
				t.Fatalf("closed after %v, before the deadline", took)
			}
		})
	}
	open, ol := startMux(t, timeout)
	for _, tt := range []struct {
		name string
		send []byte
	}{
		{"open header cut short", []byte{muxMagic, 5, 'g'}},
		{"open header, then silence", []byte{muxMagic, 1, 'g'}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := strangerConn(t, open, tt.send)
			if took := closedWithin(t, c, timeout+3*time.Second); took < timeout/2 {
				t.Fatalf("closed after %v, before the deadline", took)
			}
		})
	}
	if n := len(ol.conns); n != 0 {
		t.Fatalf("%d idle connections reached the Raft group", n)
	}
	t.Run("open header and a first byte", func(t *testing.T) {
		c := strangerConn(t, open, []byte{muxMagic, 1, 'g', 42})
		s := acceptOne(t, ol)
		var b [1]byte
		if _, err := io.ReadFull(s, b[:]); err != nil || b[0] != 42 {
			t.Fatalf("first byte %d, %v", b[0], err)
		}
		_ = c
	})
}

// TestMux_KeysRoll checks every pair of the rotation's stages: a dialer
// reaches an acceptor exactly when the acceptor holds the dialer's first
// key; open and keyed nodes never reach each other.
func TestMux_KeysRoll(t *testing.T) {
	a, b := testKey(t), testKey(t)
	stages := []struct {
		name string
		keys [][]byte
	}{{"A", [][]byte{a}}, {"A+B", [][]byte{a, b}}, {"B+A", [][]byte{b, a}}, {"B", [][]byte{b}}, {"open", nil}}
	holds := func(keys [][]byte, k []byte) bool {
		for _, x := range keys {
			if bytes.Equal(x, k) {
				return true
			}
		}
		return false
	}
	for _, from := range stages {
		_, fl := startMux(t, time.Second, from.keys...)
		for _, to := range stages {
			tm, tl := startMux(t, time.Second, to.keys...)
			want := (from.keys == nil && to.keys == nil) || (from.keys != nil && holds(to.keys, from.keys[0]))
			c, err := fl.Dial(raft.ServerAddress(tm.advertise.String()), time.Second)
			if err == nil && from.keys == nil {
				// An open dialer learns of a refusal only when it reads, and
				// must send a first byte, as Raft does at once.
				if _, err = c.Write([]byte{0}); err == nil {
					_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
					_, err = c.Read(make([]byte, 1))
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						err = nil // still open: accepted
					}
				}
			}
			if (err == nil) != want {
				t.Errorf("%s -> %s: dial error %v, want success %v", from.name, to.name, err, want)
			}
			if err == nil && want {
				acceptOne(t, tl)
			}
			if c != nil {
				c.Close()
			}
		}
	}
}
