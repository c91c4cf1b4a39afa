//go:build unix

package cluster

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed peeks at c without blocking: true when the peer has shut the
// connection down (end of stream) or reset it. Pending data, or none yet,
// is an open connection.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || errors.Is(err, syscall.ECONNRESET)
		return true // never wait: EAGAIN means open and idle
	})
	return err == nil && closed
}
