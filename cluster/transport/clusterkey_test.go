package transport

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// TestParseClusterKey accepts the standard base64 of 32 bytes with white
// space around it, and refuses everything else.
func TestParseClusterKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb}, ClusterKeyLen)
	std := base64.StdEncoding.EncodeToString(key)
	for _, ok := range []string{std, std + "\n", "  " + std + "\r\n\t"} {
		got, err := ParseClusterKey([]byte(ok))
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("%q: %x, %v", ok, got, err)
		}
	}
	for _, bad := range []string{
		"",
		strings.TrimRight(std, "="),            // no padding
		base64.URLEncoding.EncodeToString(key), // another alphabet
		base64.StdEncoding.EncodeToString(key[:16]),       // too short
		base64.StdEncoding.EncodeToString(append(key, 1)), // too long
		std[:10] + "\n" + std[10:],                        // broken in two
		std + std,                                         // two keys
	} {
		if _, err := ParseClusterKey([]byte(bad)); !errors.Is(err, ErrBadClusterKey) {
			t.Fatalf("%q: %v, want ErrBadClusterKey", bad, err)
		}
	}
	if _, err := ParseClusterKey([]byte(NewClusterKey())); err != nil {
		t.Fatalf("NewClusterKey: %v", err)
	}
}

// TestKeyring sends with the first key, accepts each, and refuses a third
// key or one of the wrong length.
func TestKeyring(t *testing.T) {
	a, b := testKey(t), testKey(t)
	kr := mustKeyring(t, b, a)
	if !bytes.Equal(kr.Primary().Secret, b) {
		t.Fatal("the first key does not send")
	}
	for _, k := range [][]byte{a, b} {
		if got, ok := kr.byID(deriveKeyID(k)); !ok || !bytes.Equal(got.Secret, k) {
			t.Fatal("a key of the ring is not found by its id")
		}
	}
	if _, ok := kr.byID(deriveKeyID(testKey(t))); ok {
		t.Fatal("a foreign key id found")
	}
	if _, err := NewKeyring([][]byte{a, b, a}); err == nil {
		t.Fatal("three keys accepted")
	}
	if _, err := NewKeyring([][]byte{a[:16]}); !errors.Is(err, ErrBadClusterKey) {
		t.Fatalf("a 16-byte key: %v", err)
	}
	if kr, err := NewKeyring(nil); kr != nil || err != nil {
		t.Fatal("no keys must be open mode")
	}
}
