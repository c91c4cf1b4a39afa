package transport

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"net"
	"sync"
)

// After the handshake a keyed Raft connection carries frames:
//
//	[4-byte big-endian length n][n bytes: AES-256-GCM ciphertext and tag]
//
// sealed with the direction's session key, the 4 length bytes as additional
// data, and a 96-bit nonce that is the frame's sequence number in that
// direction. Session keys are fresh per connection, so a counter nonce never
// repeats under one key, and a frame replayed, dropped, reordered or moved
// to another connection fails to open.
const (
	maxFramePlain = 64 << 10
	frameHdrLen   = 4
	gcmTagLen     = 16
	gcmNonceLen   = 12
	maxFrameLen   = frameHdrLen + maxFramePlain + gcmTagLen
)

// errBadFrame is a frame that is too long, too short or fails to open: the
// connection is broken or tampered with, and is closed.
var errBadFrame = errors.New("cluster: raft connection: bad frame")

// secureConn wraps an authenticated Raft connection. Read and Write may run
// at the same time (hashicorp/raft reads responses while it writes); each
// side has its own lock, key, counter and buffer, allocated once, so a frame
// costs no allocation. Any error is sticky: a stream that lost a frame
// cannot resynchronise.
type secureConn struct {
	net.Conn

	rmu    sync.Mutex
	r      *bufio.Reader
	open   cipher.AEAD
	rseq   uint64
	rnonce [gcmNonceLen]byte
	rplain []byte // the undelivered rest of the current frame (inside r's buffer)
	rframe int    // length of the current frame, discarded from r once delivered
	rerr   error

	wmu    sync.Mutex
	seal   cipher.AEAD
	wseq   uint64
	wnonce [gcmNonceLen]byte
	whdr   [frameHdrLen]byte
	wbuf   []byte
	werr   error
}

// newSecureConn wraps c, which has completed the handshake. r reads c and
// may already hold bytes the peer sent after its handshake.
func newSecureConn(c net.Conn, r *bufio.Reader, readKey, writeKey []byte) (*secureConn, error) {
	open, err := newGCM(readKey)
	if err != nil {
		return nil, err
	}
	seal, err := newGCM(writeKey)
	if err != nil {
		return nil, err
	}
	return &secureConn{Conn: c, r: r, open: open, seal: seal, wbuf: make([]byte, 0, maxFrameLen)}, nil
}

// newFrameReader returns the buffered reader a secureConn needs: one frame
// fits in its buffer, so a frame is opened where it was read.
func newFrameReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, maxFrameLen) }

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Read returns plaintext from the current frame, reading the next one when
// it is used up.
func (c *secureConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.rplain) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if err := c.nextFrame(); err != nil {
			c.rerr = err
			return 0, err
		}
	}
	n := copy(p, c.rplain)
	c.rplain = c.rplain[n:]
	return n, nil
}

// nextFrame discards the delivered frame and opens the next one in place.
func (c *secureConn) nextFrame() error {
	if c.rframe > 0 {
		c.r.Discard(c.rframe)
		c.rframe = 0
	}
	hdr, err := c.r.Peek(frameHdrLen)
	if err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(hdr))
	if n < gcmTagLen || n > maxFramePlain+gcmTagLen {
		return errBadFrame
	}
	frame, err := c.r.Peek(frameHdrLen + n)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint64(c.rnonce[4:], c.rseq)
	ct := frame[frameHdrLen:]
	plain, err := c.open.Open(ct[:0], c.rnonce[:], ct, frame[:frameHdrLen])
	if err != nil {
		return errBadFrame
	}
	c.rseq++
	c.rplain, c.rframe = plain, frameHdrLen+n
	return nil
}

// Write seals p into frames of at most maxFramePlain bytes, one write each.
// hashicorp/raft buffers its own writes, so p is usually one whole RPC.
func (c *secureConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if len(p) == 0 {
		return 0, nil
	}
	written := 0
	for {
		chunk := p[:min(len(p), maxFramePlain)]
		binary.BigEndian.PutUint32(c.whdr[:], uint32(len(chunk)+gcmTagLen))
		binary.BigEndian.PutUint64(c.wnonce[4:], c.wseq)
		c.wseq++
		out := append(c.wbuf[:0], c.whdr[:]...)
		out = c.seal.Seal(out, c.wnonce[:], chunk, c.whdr[:])
		if _, err := c.Conn.Write(out); err != nil {
			c.werr = err
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
		if len(p) == 0 {
			return written, nil
		}
	}
}
