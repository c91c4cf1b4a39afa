//go:build !unix

package cluster

import "net"

// peerClosed cannot peek without blocking here: it assumes the connection
// is open.
func peerClosed(net.Conn) bool { return false }
