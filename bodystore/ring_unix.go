//go:build unix

package bodystore

import (
	"runtime"
	"syscall"
)

// allocRing gives c a ring of n bytes of anonymous memory: outside the Go
// heap, so that the collector's pacing (a heap may grow to a multiple of
// what is live) does not apply to it; its pages become resident as the ring
// first fills. The mapping is released once c is unreachable. Where mapping
// fails, the ring is an ordinary slice.
func (c *Cache) allocRing(n int) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		c.ring = make([]byte, n)
		return
	}
	c.ring = b
	runtime.AddCleanup(c, func(b []byte) { syscall.Munmap(b) }, b)
}
