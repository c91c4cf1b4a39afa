package httpapi

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// With Config.TLS the port speaks HTTPS only: a client trusting the CA is
// served (both doors), a client that does not trust it fails the handshake,
// and plain HTTP gets no answer.
func TestTLS_HTTPSOnly(t *testing.T) {
	pki := clustertest.NewTestPKI(t)
	cert, err := tls.LoadX509KeyPair(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := startLimited(t, func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	})
	get := func(c *http.Client, url string) (int, string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientTLS()}}
	defer trusting.CloseIdleConnections()
	if st, body, err := get(trusting, "https://"+addr+"/nope"); err != nil || st != 404 || !strings.Contains(body, codeUnknownPath) {
		t.Fatalf("https DMS: %d %s %v", st, body, err)
	}
	if st, body, err := get(trusting, "https://"+addr+"/topics/T/nope"); err != nil || st != 404 || !strings.Contains(body, "<Code>") {
		t.Fatalf("https RocketMQ: %d %s %v", st, body, err)
	}
	// A long request line over TLS: the same 414.
	if st, _, err := get(trusting, "https://"+addr+"/v1.0/p/queues?x="+strings.Repeat("a", 10*1024)); err != nil || st != 414 {
		t.Fatalf("https 10 KB URL: %d %v", st, err)
	}
	untrusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}}
	if _, _, err := get(untrusting, "https://"+addr+"/nope"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("client without the CA: %v, want a certificate error", err)
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	if st, _, err := get(plain, "http://"+addr+"/nope"); err == nil {
		t.Fatalf("plain HTTP answered %d", st)
	}
}
