package transport

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
)

// ClusterKeyLen is the length of a cluster key in bytes.
const ClusterKeyLen = 32

// maxClusterKeys is how many keys a node holds at once: the one it sends
// with and, while keys roll, one more it accepts.
const maxClusterKeys = 2

// ErrBadClusterKey is returned for a cluster key file that does not hold
// the standard base64 (with padding) of exactly ClusterKeyLen bytes.
var ErrBadClusterKey = errors.New("cluster: a cluster key must be the standard base64 of 32 bytes")

// keyIDLen is the length of a key id: enough to tell two keys apart
// during a rotation, and derived one-way, so it says nothing of the key.
const keyIDLen = 8

type keyID [keyIDLen]byte

// Key is one cluster key and its id.
type Key struct {
	Secret []byte
	id     keyID
}

// Keyring holds this node's cluster keys: the first is used to send, any of
// them is accepted. A nil *keyring means open mode (no cluster key).
type Keyring struct {
	keys []Key
}

// NewKeyring builds the keyring of the given keys (first = sending key).
func NewKeyring(secrets [][]byte) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	if len(secrets) > maxClusterKeys {
		return nil, fmt.Errorf("cluster: %d cluster keys, at most %d", len(secrets), maxClusterKeys)
	}
	kr := &Keyring{}
	for _, s := range secrets {
		if len(s) != ClusterKeyLen {
			return nil, ErrBadClusterKey
		}
		kr.keys = append(kr.keys, Key{Secret: bytes.Clone(s), id: deriveKeyID(s)})
	}
	return kr, nil
}

func deriveKeyID(secret []byte) keyID {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("raftmq key id v1"))
	var id keyID
	copy(id[:], m.Sum(nil))
	return id
}

// Primary is the key this node sends with.
func (kr *Keyring) Primary() Key { return kr.keys[0] }

// byID returns the accepted key with the given id.
func (kr *Keyring) byID(id keyID) (Key, bool) {
	for _, k := range kr.keys {
		if hmac.Equal(k.id[:], id[:]) {
			return k, true
		}
	}
	return Key{}, false
}

// Secrets returns every key, the sending key first (memberlist's keyring).
func (kr *Keyring) Secrets() [][]byte {
	out := make([][]byte, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = k.Secret
	}
	return out
}

// ParseClusterKey decodes a cluster key file's content: standard base64
// with padding of ClusterKeyLen bytes; surrounding white space is ignored.
func ParseClusterKey(text []byte) ([]byte, error) {
	text = bytes.TrimSpace(text)
	if bytes.ContainsAny(text, "\r\n") { // the decoder would skip them
		return nil, ErrBadClusterKey
	}
	key := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(key, text)
	if err != nil || n != ClusterKeyLen {
		return nil, ErrBadClusterKey
	}
	return key[:n], nil
}

// LoadClusterKey reads and decodes a cluster key file.
func LoadClusterKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: cluster key: %w", err)
	}
	key, err := ParseClusterKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return key, nil
}

// NewClusterKey draws a new cluster key and returns it as a key file holds
// it (without the trailing newline).
func NewClusterKey() string {
	key := make([]byte, ClusterKeyLen)
	rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}
