package cluster

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
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
	if !bytes.Equal(kr.primary().secret, b) {
		t.Fatal("the first key does not send")
	}
	for _, k := range [][]byte{a, b} {
		if got, ok := kr.byID(deriveKeyID(k)); !ok || !bytes.Equal(got.secret, k) {
			t.Fatal("a key of the ring is not found by its id")
		}
	}
	if _, ok := kr.byID(deriveKeyID(testKey(t))); ok {
		t.Fatal("a foreign key id found")
	}
	if _, err := newKeyring([][]byte{a, b, a}); err == nil {
		t.Fatal("three keys accepted")
	}
	if _, err := newKeyring([][]byte{a[:16]}); !errors.Is(err, ErrBadClusterKey) {
		t.Fatalf("a 16-byte key: %v", err)
	}
	if kr, err := newKeyring(nil); kr != nil || err != nil {
		t.Fatal("no keys must be open mode")
	}
}

// TestGossipRefusals turns memberlist's lines about unsealed messages into
// one warning per interval and drops its other chatter.
func TestGossipRefusals(t *testing.T) {
	var logged bytes.Buffer
	g := &gossipRefusals{log: slog.New(slog.NewTextHandler(&logged, nil))}
	for _, line := range []string{
		"[DEBUG] memberlist: Stream connection from=127.0.0.1:5\n",
		"[ERR] memberlist: failed to receive: encryption is configured but remote state is not encrypted from=127.0.0.1:5\n",
		"[ERR] memberlist: Decrypt packet failed: No installed keys could decrypt the message from=127.0.0.1:6\n",
	} {
		if n, err := g.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if n := strings.Count(logged.String(), "gossip: refused"); n != 1 {
		t.Fatalf("%d warnings, want 1 (the second within the interval is not logged):\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "not encrypted") {
		t.Fatalf("the warning does not carry memberlist's line: %s", logged.String())
	}
}
