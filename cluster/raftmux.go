package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// muxMagic starts every Raft connection this node accepts; the next byte is
// the length of the group name that follows.
const muxMagic = 0xA7

// muxHeaderTimeout bounds how long an accepted connection may take to name
// its group, so that a silent peer cannot pin a goroutine.
const muxHeaderTimeout = 5 * time.Second

var errMuxClosed = errors.New("cluster: raft mux closed")

// Mux shares one TCP listener among every Raft group of this node. A
// connection begins with a short header naming its group; the mux hands it to
// that group's StreamLayer. Connections for unknown groups are closed.
type Mux struct {
	ln        net.Listener
	advertise net.Addr
	log       *slog.Logger

	mu     sync.Mutex
	layers map[string]*StreamLayer
	closed bool
	wg     sync.WaitGroup
}

// NewMux serves ln; advertise is the address peers dial (ln's own when nil).
func NewMux(ln net.Listener, advertise net.Addr, log *slog.Logger) *Mux {
	if advertise == nil {
		advertise = ln.Addr()
	}
	m := &Mux{ln: ln, advertise: advertise, log: log, layers: make(map[string]*StreamLayer)}
	m.wg.Add(1)
	go m.acceptLoop()
	return m
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

func (m *Mux) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(muxHeaderTimeout))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != muxMagic || hdr[1] == 0 {
		c.Close()
		return
	}
	name := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, name); err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	m.mu.Lock()
	l := m.layers[string(name)]
	m.mu.Unlock()
	if l == nil || !l.deliver(c) {
		c.Close()
	}
}

// Layer registers the group name and returns its stream layer. Closing the
// layer unregisters it.
func (m *Mux) Layer(name string) (*StreamLayer, error) {
	if len(name) == 0 || len(name) > 255 {
		return nil, fmt.Errorf("cluster: raft group name %q: length must be 1..255", name)
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

func (l *StreamLayer) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	case <-time.After(muxHeaderTimeout):
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

// Dial connects to the same group on another node.
func (l *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	hdr := make([]byte, 0, 2+len(l.name))
	hdr = append(hdr, muxMagic, byte(len(l.name)))
	hdr = append(hdr, l.name...)
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(hdr); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}
