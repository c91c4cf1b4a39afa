package cluster

import (
	"fmt"
	"net"
)

// peerConn is a connection to a peer's HTTP listener that refuses to write a
// request once the peer has closed it. A killed node's kernel closes its
// sockets at once, but an idle keep-alive connection to it stays in the
// pool: a request written there is never read, and fasthttp reports it as
// "the server closed connection before returning the first response byte",
// which also describes a node that crashed while applying it. So that
// forwarding can tell the two apart, a write first checks, without blocking,
// whether the peer has closed the connection, and then fails with
// errNotSent: the request certainly was not applied and can go to the next
// leader (T1: forwards to the killed leader answered 503 at once).
type peerConn struct {
	net.Conn
}

func (c peerConn) Write(b []byte) (int, error) {
	if peerClosed(c.Conn) {
		return 0, fmt.Errorf("%w: the peer closed the connection", errNotSent)
	}
	return c.Conn.Write(b)
}
