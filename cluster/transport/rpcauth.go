package transport

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Every node-to-node HTTP request is sealed, and so is its answer. The
// request's InternalAuthHeader is base64url (no padding) of
//
//	version 1 (1) | key id (8) | time, unix ms (8) | nonce (16)
//
// and its body is AES-256-GCM under a key of its own,
// HMAC-SHA256(K, "raftmq rpc v1 request key" | nonce) (K is uniformly
// random, so the PRF alone is a sound key derivation), with the header and
// the operation as
// additional data; the answer is sealed under the same key with the other
// GCM nonce and the status code added to the additional data. K is the
// sender's cluster key, or in open mode the catalogue's handler key. A
// request is accepted once, within RPCWindow of the receiver's clock: the
// replay cache remembers every nonce until its time leaves the window, and
// a node refuses requests stamped before it started, so a request recorded
// before a restart cannot be replayed after it.
const (
	rpcAuthVer     = 1
	rpcNonceLen    = 16
	rpcHeaderLen   = 1 + keyIDLen + 8 + rpcNonceLen
	RPCWindow      = 30 * time.Second
	MaxReplayCache = 1 << 20 // nonces: about 50 MB at most; beyond, requests are refused (503)
)

// InternalAuthHeader carries a node-to-node request's seal header.
const InternalAuthHeader = "X-Raftmq-Auth"

// ErrRPCAuth is a node-to-node request refused before anything was looked
// at: unsigned, forged, sealed with an unknown key, stale, or replayed.
var ErrRPCAuth = errors.New("cluster: internal request not authenticated")

// ErrReplayCacheFull refuses requests while the replay cache is full, so
// that memory stays bounded; the sender retries later.
var ErrReplayCacheFull = errors.New("cluster: internal request refused: replay cache full")

// RequestSeal is one request's sealing state, on either side.
type RequestSeal struct {
	header []byte // the raw InternalAuthHeader value, decoded
	op     string
	aead   cipher.AEAD // under the request's own key
	ts     int64       // unix ms
	nonce  [rpcNonceLen]byte
}

// The last byte of the GCM nonce under a request's key (the others are
// zero): each key seals exactly one request and one answer.
const (
	gcmNonceRequest = 1
	gcmNonceAnswer  = 2
)

// SealRequest seals body for op under k at time now; it returns the header
// value, the sealed body and the state needed to open the answer.
func SealRequest(k Key, op string, body []byte, now time.Time) (string, []byte, *RequestSeal, error) {
	s := &RequestSeal{op: op, ts: now.UnixMilli()}
	rand.Read(s.nonce[:])
	s.header = make([]byte, 0, rpcHeaderLen)
	s.header = append(s.header, rpcAuthVer)
	s.header = append(s.header, k.id[:]...)
	s.header = binary.BigEndian.AppendUint64(s.header, uint64(s.ts))
	s.header = append(s.header, s.nonce[:]...)
	if err := s.deriveKey(k); err != nil {
		return "", nil, nil, err
	}
	sealed := s.seal(gcmNonceRequest, body, s.requestAD())
	return base64.RawURLEncoding.EncodeToString(s.header), sealed, s, nil
}

// OpenRequest checks a request's header and opens its body with whichever
// of kr's keys the header names. It checks the time window but not replay
// (ReplayCache does, after this succeeded).
func OpenRequest(kr *Keyring, op, auth string, body []byte, now time.Time) (*RequestSeal, []byte, error) {
	h, err := base64.RawURLEncoding.DecodeString(auth)
	if err != nil || len(h) != rpcHeaderLen || h[0] != rpcAuthVer {
		return nil, nil, fmt.Errorf("%w: malformed %s", ErrRPCAuth, InternalAuthHeader)
	}
	var id keyID
	copy(id[:], h[1:])
	k, ok := kr.byID(id)
	if !ok {
		return nil, nil, fmt.Errorf("%w: unknown key", ErrRPCAuth)
	}
	s := &RequestSeal{header: h, op: op, ts: int64(binary.BigEndian.Uint64(h[1+keyIDLen:]))}
	copy(s.nonce[:], h[1+keyIDLen+8:])
	if d := time.Duration(now.UnixMilli()-s.ts) * time.Millisecond; d > RPCWindow || d < -RPCWindow {
		return nil, nil, fmt.Errorf("%w: stamped %v away from this node's clock", ErrRPCAuth, d)
	}
	if err := s.deriveKey(k); err != nil {
		return nil, nil, err
	}
	plain, err := s.open(gcmNonceRequest, body, s.requestAD())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bad seal", ErrRPCAuth)
	}
	return s, plain, nil
}

func (s *RequestSeal) deriveKey(k Key) error {
	m := hmac.New(sha256.New, k.Secret)
	m.Write([]byte("raftmq rpc v1 request key"))
	m.Write(s.nonce[:])
	var key [sha256.Size]byte
	aead, err := newGCM(m.Sum(key[:0]))
	s.aead = aead
	return err
}

func (s *RequestSeal) requestAD() []byte {
	ad := append([]byte("raftmq rpc v1 request\x00"), s.header...)
	return append(ad, s.op...)
}

func (s *RequestSeal) answerAD(status int) []byte {
	ad := append([]byte("raftmq rpc v1 answer\x00"), s.header...)
	ad = append(ad, s.op...)
	return binary.BigEndian.AppendUint16(ad, uint16(status))
}

// SealAnswer seals the answer to this request.
func (s *RequestSeal) SealAnswer(status int, body []byte) []byte {
	return s.seal(gcmNonceAnswer, body, s.answerAD(status))
}

// OpenAnswer opens the answer to this request.
func (s *RequestSeal) OpenAnswer(status int, body []byte) ([]byte, error) {
	plain, err := s.open(gcmNonceAnswer, body, s.answerAD(status))
	if err != nil {
		return nil, fmt.Errorf("%w: answer %d not sealed for this request", ErrRPCAuth, status)
	}
	return plain, nil
}

func (s *RequestSeal) seal(which byte, plain, ad []byte) []byte {
	nonce := [gcmNonceLen]byte{gcmNonceLen - 1: which}
	return s.aead.Seal(make([]byte, 0, len(plain)+gcmTagLen), nonce[:], plain, ad)
}

func (s *RequestSeal) open(which byte, sealed, ad []byte) ([]byte, error) {
	nonce := [gcmNonceLen]byte{gcmNonceLen - 1: which}
	return s.aead.Open(nil, nonce[:], sealed, ad)
}

// ReplayCache remembers the nonces of the requests accepted within the
// window. It forgets them by the second of their time stamp, once that
// second has left the window.
type ReplayCache struct {
	start int64 // unix ms: requests stamped earlier are refused
	max   int

	mu      sync.Mutex
	seen    map[[rpcNonceLen]byte]struct{}
	bySec   map[int64][][rpcNonceLen]byte
	entries int
}

func NewReplayCache(start time.Time, max int) *ReplayCache {
	return &ReplayCache{start: start.UnixMilli(), max: max,
		seen: map[[rpcNonceLen]byte]struct{}{}, bySec: map[int64][][rpcNonceLen]byte{}}
}

// Start is the time before which every request is refused.
func (c *ReplayCache) Start() time.Time { return time.UnixMilli(c.start) }

// Admit records the request's nonce; it fails for a nonce already seen, a
// request stamped before the cache was made, or a full cache.
func (c *ReplayCache) Admit(s *RequestSeal, now time.Time) error {
	if s.ts < c.start {
		return fmt.Errorf("%w: stamped before this node started", ErrRPCAuth)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, dup := c.seen[s.nonce]; dup {
		return fmt.Errorf("%w: replayed", ErrRPCAuth)
	}
	if c.entries >= c.max {
		return ErrReplayCacheFull
	}
	c.seen[s.nonce] = struct{}{}
	sec := s.ts / 1000
	c.bySec[sec] = append(c.bySec[sec], s.nonce)
	c.entries++
	return nil
}

// expire forgets the seconds whose requests OpenRequest refuses by now.
func (c *ReplayCache) expire(now time.Time) {
	oldest := (now.UnixMilli()-RPCWindow.Milliseconds())/1000 - 1
	for sec, nonces := range c.bySec {
		if sec >= oldest {
			continue
		}
		for _, n := range nonces {
			delete(c.seen, n)
		}
		c.entries -= len(nonces)
		delete(c.bySec, sec)
	}
}
