package transport

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
)

// The keyed Raft handshake: mutual, fresh per connection, and private after
// it. K is a cluster key both sides hold (the dialer's sending key, named by
// its id); cn and sn are 32 random bytes drawn by the dialer and the
// acceptor for this connection.
//
//	dialer   → acceptor: 0xA9, version 1, key id (8), cn (32)
//	acceptor → dialer:   key id (8), sn (32), HMAC-SHA256(K, "raftmq raft v1 acceptor" | id | cn | sn)
//	dialer   → acceptor: HMAC-SHA256(K, "raftmq raft v1 dialer" | id | cn | sn), then frames
//
// Each side proves the key over a nonce the other just drew, so a recorded
// handshake cannot be replayed, and the two MACs carry different labels, so
// one side's proof cannot be reflected as the other's. Session keys, one per
// direction, are HKDF-SHA256(K, salt cn|sn): secret to anyone without K and
// new for every connection. The first frame names the Raft group (and the
// incarnation the connection is meant for, as the open-mode header does:
// raftmux.go), so the group is private too. The acceptor's deadline covers all of it.
const (
	muxMagicKeyed  = 0xA9
	handshakeVer   = 1
	handshakeNonce = 32
	macLen         = sha256.Size
	clientHelloLen = 2 + keyIDLen + handshakeNonce
	serverHelloLen = keyIDLen + handshakeNonce + macLen
)

// ErrHandshake is a Raft connection refused during the keyed handshake: the
// peer holds none of this node's cluster keys, spoke another protocol, or
// was too slow.
var ErrHandshake = errors.New("cluster: raft handshake refused")

// transcript is what both MACs and the session keys are bound to.
type transcript struct {
	id     keyID
	cn, sn [handshakeNonce]byte
}

func (t *transcript) mac(k Key, role string) []byte {
	m := hmac.New(sha256.New, k.Secret)
	m.Write([]byte("raftmq raft v1 " + role))
	m.Write(t.id[:])
	m.Write(t.cn[:])
	m.Write(t.sn[:])
	return m.Sum(nil)
}

// sessionKeys derives the dialer-to-acceptor and acceptor-to-dialer keys.
func (t *transcript) sessionKeys(k Key) (d2a, a2d []byte, err error) {
	salt := make([]byte, 0, 2*handshakeNonce)
	salt = append(append(salt, t.cn[:]...), t.sn[:]...)
	keys, err := hkdf.Key(sha256.New, k.Secret, salt, "raftmq raft v1 session keys", 64)
	if err != nil {
		return nil, nil, err
	}
	return keys[:32], keys[32:], nil
}

// dialHandshake runs the dialer's side on c and names group in the first
// frame. The caller sets c's deadline.
func dialHandshake(c net.Conn, kr *Keyring, group string) (net.Conn, error) {
	k := kr.Primary()
	t := transcript{id: k.id}
	rand.Read(t.cn[:])
	hello := make([]byte, 0, clientHelloLen)
	hello = append(hello, muxMagicKeyed, handshakeVer)
	hello = append(append(hello, t.id[:]...), t.cn[:]...)
	if _, err := c.Write(hello); err != nil {
		return nil, err
	}
	r := newFrameReader(c)
	var reply [serverHelloLen]byte
	if _, err := io.ReadFull(r, reply[:]); err != nil {
		return nil, fmt.Errorf("%w: no answer from the peer (does it hold the cluster key?): %w", ErrHandshake, err)
	}
	copy(t.sn[:], reply[keyIDLen:])
	if !hmac.Equal(reply[:keyIDLen], t.id[:]) || !hmac.Equal(reply[keyIDLen+handshakeNonce:], t.mac(k, "acceptor")) {
		return nil, fmt.Errorf("%w: the peer did not prove the cluster key", ErrHandshake)
	}
	if _, err := c.Write(t.mac(k, "dialer")); err != nil {
		return nil, err
	}
	d2a, a2d, err := t.sessionKeys(k)
	if err != nil {
		return nil, err
	}
	sc, err := newSecureConn(c, r, a2d, d2a)
	if err != nil {
		return nil, err
	}
	if _, err := sc.Write([]byte(group)); err != nil {
		return nil, err
	}
	return sc, nil
}

// acceptHandshake runs the acceptor's side on c, whose magic byte the mux
// has already read, and returns the secure connection and the group the
// dialer named. The caller sets c's deadline.
func acceptHandshake(c net.Conn, kr *Keyring) (net.Conn, string, error) {
	r := newFrameReader(c)
	var hello [clientHelloLen - 1]byte
	if _, err := io.ReadFull(r, hello[:]); err != nil {
		return nil, "", fmt.Errorf("%w: short hello: %w", ErrHandshake, err)
	}
	if hello[0] != handshakeVer {
		return nil, "", fmt.Errorf("%w: version %d", ErrHandshake, hello[0])
	}
	var t transcript
	copy(t.id[:], hello[1:])
	copy(t.cn[:], hello[1+keyIDLen:])
	k, ok := kr.byID(t.id)
	if !ok {
		return nil, "", fmt.Errorf("%w: the peer's key is not one of this node's cluster keys", ErrHandshake)
	}
	rand.Read(t.sn[:])
	reply := make([]byte, 0, serverHelloLen)
	reply = append(append(append(reply, t.id[:]...), t.sn[:]...), t.mac(k, "acceptor")...)
	if _, err := c.Write(reply); err != nil {
		return nil, "", err
	}
	var proof [macLen]byte
	if _, err := io.ReadFull(r, proof[:]); err != nil {
		return nil, "", fmt.Errorf("%w: no proof: %w", ErrHandshake, err)
	}
	if !hmac.Equal(proof[:], t.mac(k, "dialer")) {
		return nil, "", fmt.Errorf("%w: the peer did not prove the cluster key", ErrHandshake)
	}
	d2a, a2d, err := t.sessionKeys(k)
	if err != nil {
		return nil, "", err
	}
	sc, err := newSecureConn(c, r, d2a, a2d)
	if err != nil {
		return nil, "", err
	}
	name := make([]byte, 256)
	n, err := sc.Read(name)
	if err != nil || n == 0 || n > 255 || len(sc.rplain) != 0 {
		return nil, "", fmt.Errorf("%w: bad group frame", ErrHandshake)
	}
	return sc, string(name[:n]), nil
}
