package transport

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// muxMagic starts every Raft connection of an open-mode node (no cluster
// key); the next byte is the length of the group field that follows (the
// group name, then, when the dialer names the incarnation the connection is
// meant for, a NUL byte and that incarnation: incarnation.go), then
// hashicorp/raft's own protocol, whose first byte must come within the
// handshake's deadline too. A keyed node's connections start with
// muxMagicKeyed and the handshake of raftauth.go instead.
const muxMagic = 0xA7

// DefaultHandshakeTimeout bounds an accepted connection's whole handshake
// (header, and authentication with a cluster key), so that a silent or slow
// peer cannot pin a goroutine and a file descriptor.
const DefaultHandshakeTimeout = 5 * time.Second

var errMuxClosed = errors.New("cluster: raft mux closed")

// Mux shares one TCP listener among every Raft group of this node. A
// connection begins with a short header naming its group; the mux hands it to
// that group's StreamLayer. Connections for unknown groups are closed.
type Mux struct {
	ln        net.Listener
	advertise net.Addr
	keys      *Keyring // nil: open mode
	inc       string   // this node's incarnation ("": accept any)
	timeout   time.Duration
	log       *slog.Logger

	refusals LogLimiter

	mu     sync.Mutex
	layers map[string]*StreamLayer
	closed bool
	wg     sync.WaitGroup
}

// MuxConfig configures a Mux.
type MuxConfig struct {
	// Advertise is the address peers dial (the listener's own when nil).
	Advertise net.Addr
	// ClusterKeys, when set, make every connection, in and out, run the
	// keyed handshake (see Config.ClusterKeys). None: open mode.
	ClusterKeys [][]byte
	// HandshakeTimeout bounds an accepted connection's whole handshake
	// (DefaultHandshakeTimeout when zero).
	HandshakeTimeout time.Duration
	// Incarnation, when set, is this node's: a connection meant for
	// another is closed before anything reaches Raft (incarnation.go).
	Incarnation string
	Logger      *slog.Logger
}

// NewMux serves ln.
func NewMux(ln net.Listener, cfg MuxConfig) (*Mux, error) {
	kr, err := NewKeyring(cfg.ClusterKeys)
	if err != nil {
		return nil, err
	}
	m := &Mux{ln: ln, advertise: cfg.Advertise, keys: kr, inc: cfg.Incarnation, timeout: cfg.HandshakeTimeout, log: cfg.Logger,
		layers: make(map[string]*StreamLayer)}
	if m.advertise == nil {
		m.advertise = ln.Addr()
	}
	if m.timeout <= 0 {
		m.timeout = DefaultHandshakeTimeout
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			m.mu.Lock()
			closed := m.closed
			m.mu.Unlock()
			if closed {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.log.Error("raft mux accept", "err", err)
			time.Sleep(50 * time.Millisecond) // back off on e.g. EMFILE; not synchronisation
			continue
		}
		go m.route(c)
	}
}

// route runs the handshake under one deadline and hands the connection to
// its group's layer.
func (m *Mux) route(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(m.timeout))
	conn, field, err := m.handshake(c)
	name, inc := splitGroupField(field)
	if err == nil && inc != "" && m.inc != "" && inc != m.inc {
		err = fmt.Errorf("%w: meant for incarnation %s, this node is %s", ErrWrongIncarnation, inc, m.inc)
	}
	if err != nil {
		c.Close()
		m.refuse(c, err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	m.mu.Lock()
	l := m.layers[name]
	m.mu.Unlock()
	if l == nil || !l.deliver(conn, m.timeout) {
		c.Close()
	}
}

// handshake reads the magic byte and runs the handshake it announces; a
// keyed node accepts only the keyed one, an open node only the header.
func (m *Mux) handshake(c net.Conn) (net.Conn, string, error) {
	var magic [1]byte
	if _, err := io.ReadFull(c, magic[:]); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	switch {
	case m.keys != nil && magic[0] == muxMagicKeyed:
		return acceptHandshake(c, m.keys)
	case m.keys == nil && magic[0] == muxMagic:
		name, err := readGroupHeader(c)
		if err != nil {
			return nil, "", err
		}
		first, err := awaitFirstByte(c)
		return first, name, err
	case m.keys != nil:
		return nil, "", fmt.Errorf("%w: the peer sent no cluster key (open mode, or not raftmq)", ErrHandshake)
	default:
		return nil, "", fmt.Errorf("%w: the peer wants a cluster key and this node has none", ErrHandshake)
	}
}

// readGroupHeader reads an open-mode header after its magic byte.
func readGroupHeader(c net.Conn) (string, error) {
	var n [1]byte
	if _, err := io.ReadFull(c, n[:]); err != nil || n[0] == 0 {
		return "", fmt.Errorf("%w: bad header", ErrHandshake)
	}
	name := make([]byte, n[0])
	if _, err := io.ReadFull(c, name); err != nil {
		return "", fmt.Errorf("%w: bad header: %w", ErrHandshake, err)
	}
	return string(name), nil
}

// awaitFirstByte waits for the first byte after an open-mode header, within
// the handshake's deadline: hashicorp/raft writes its first RPC as soon as
// it has dialled (a pipeline within CommitTimeout), so a connection that
// names a group and then says nothing is not Raft, and is not given a
// goroutine and a descriptor for good.
func awaitFirstByte(c net.Conn) (net.Conn, error) {
	fc := &firstByteConn{Conn: c, pending: true}
	if _, err := io.ReadFull(c, fc.first[:]); err != nil {
		return nil, fmt.Errorf("%w: a group header and then nothing: %w", ErrHandshake, err)
	}
	return fc, nil
}

// firstByteConn gives back the byte awaitFirstByte read before the rest.
// Raft reads a connection from one goroutine, so it needs no lock.
type firstByteConn struct {
	net.Conn
	first   [1]byte
	pending bool
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		c.pending = false
		p[0] = c.first[0]
		return 1, nil
	}
	return c.Conn.Read(p)
}

// refuse logs a refused connection, at most once per refusalLogEvery with
// the count of those not logged.
func (m *Mux) refuse(c net.Conn, err error) {
	if ok, n := m.refusals.Allow(); ok {
		m.log.Warn("raft: refused a connection", "remote", c.RemoteAddr().String(), "err", err, "refused", n)
	}
}

// Layer registers the group name and returns its stream layer. Closing the
// layer unregisters it.
func (m *Mux) Layer(name string) (*StreamLayer, error) {
	if len(name) == 0 || len(name) > 255 || strings.Contains(name, groupIncSep) {
		return nil, fmt.Errorf("cluster: raft group name %q: length must be 1..255, without NUL", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errMuxClosed
	}
	if _, ok := m.layers[name]; ok {
		return nil, fmt.Errorf("cluster: raft group %q already registered", name)
	}
	l := &StreamLayer{mux: m, name: name, conns: make(chan net.Conn, 16), done: make(chan struct{})}
	m.layers[name] = l
	return l, nil
}

// Close stops accepting and closes every layer.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	layers := make([]*StreamLayer, 0, len(m.layers))
	for _, l := range m.layers {
		layers = append(layers, l)
	}
	m.mu.Unlock()
	err := m.ln.Close()
	for _, l := range layers {
		l.Close()
	}
	m.wg.Wait()
	return err
}

// StreamLayer is one Raft group's view of the shared listener; it implements
// raft.StreamLayer.
type StreamLayer struct {
	mux   *Mux
	name  string
	conns chan net.Conn

	once sync.Once
	done chan struct{}
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

func (l *StreamLayer) deliver(c net.Conn, wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	case <-t.C:
		return false
	}
}

// Accept waits for the next connection addressed to this group.
func (l *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errMuxClosed
	}
}

// Close unregisters the group; the shared listener stays open.
func (l *StreamLayer) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.mux.mu.Lock()
		if l.mux.layers[l.name] == l {
			delete(l.mux.layers, l.name)
		}
		l.mux.mu.Unlock()
		for {
			select {
			case c := <-l.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return nil
}

// Addr is the address peers dial to reach this node's Raft listener.
func (l *StreamLayer) Addr() net.Addr { return l.mux.advertise }

// Dial connects to the same group on another node: the header, or with a
// cluster key the keyed handshake, within timeout. An address carrying an
// incarnation (WithInc) names it after the group, and the peer closes the
// connection if it is another incarnation.
func (l *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	addr, inc := SplitInc(address)
	field := l.name
	if inc != "" {
		field += groupIncSep + inc
	}
	if len(field) > 255 {
		return nil, fmt.Errorf("cluster: raft group %q with incarnation %q: header too long", l.name, inc)
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	conn := c
	if l.mux.keys != nil {
		conn, err = dialHandshake(c, l.mux.keys, field)
	} else {
		hdr := make([]byte, 0, 2+len(field))
		hdr = append(hdr, muxMagic, byte(len(field)))
		_, err = c.Write(append(hdr, field...))
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return conn, nil
}
