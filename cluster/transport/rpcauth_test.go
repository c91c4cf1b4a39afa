package transport

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

func testKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, ClusterKeyLen)
	rand.Read(k)
	return k
}

func mustKeyring(t testing.TB, keys ...[]byte) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestRPC_ReplayCacheForgetsAndStaysBounded checks that the cache forgets
// nonces once their time left the window, and refuses rather than grows.
func TestRPC_ReplayCacheForgetsAndStaysBounded(t *testing.T) {
	t0 := time.Now()
	c := NewReplayCache(t0.Add(-time.Minute), 2)
	k := mustKeyring(t, testKey(t)).Primary()
	seal := func(at time.Time) *RequestSeal {
		_, _, s, err := SealRequest(k, "meta", nil, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, d := seal(t0), seal(t0), seal(t0)
	if c.Admit(a, t0) != nil || c.Admit(b, t0) != nil {
		t.Fatal("fresh nonces refused")
	}
	if err := c.Admit(a, t0); !errors.Is(err, ErrRPCAuth) {
		t.Fatalf("replay: %v", err)
	}
	if err := c.Admit(d, t0); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("third nonce in a cache of two: %v", err)
	}
	later := t0.Add(RPCWindow + 2*time.Second)
	if err := c.Admit(d, later); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if c.entries != 1 || len(c.seen) != 1 {
		t.Fatalf("%d entries (%d seen) after expiry, want 1", c.entries, len(c.seen))
	}
}
