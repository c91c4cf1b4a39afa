//go:build !unix

package bodystore

// allocRing gives c a ring of n bytes, an ordinary slice.
func (c *Cache) allocRing(n int) { c.ring = make([]byte, n) }
