package main

import (
	"errors"
	"testing"

	"raftmq/cluster/clustertest"
)

func TestParseFlags_TLSAndLimits(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, args := range [][]string{
		{"--tls-cert", "c.pem"},
		{"--tls-key", "k.pem"},
		{"--tls-ca", "ca.pem"},
	} {
		if err := NewMain().ParseFlags(args, noEnv); !errors.Is(err, errTLSFlags) {
			t.Errorf("%v: %v, want errTLSFlags", args, err)
		}
	}
	for _, args := range [][]string{{"--max-conns", "0"}, {"--max-conns-per-ip", "0"}} {
		if err := NewMain().ParseFlags(args, noEnv); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	m := NewMain()
	env := map[string]string{"RAFTMQ_TLS_CERT": "c.pem", "RAFTMQ_TLS_KEY": "k.pem", "RAFTMQ_MAX_CONNS_PER_IP": "7"}
	if err := m.ParseFlags([]string{"--max-conns", "9"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if !m.TLS.enabled() || m.TLS.cert != "c.pem" || m.HTTP.MaxConns != 9 || m.HTTP.MaxConnsPerIP != 7 {
		t.Fatalf("parsed %+v, max conns %d per IP %d", m.TLS, m.HTTP.MaxConns, m.HTTP.MaxConnsPerIP)
	}
}

// The server side serves the certificate; the client side trusts the CA
// file, or without one the node's own certificate (a cluster sharing one).
func TestTLSFiles_Load(t *testing.T) {
	pki := clustertest.NewTestPKI(t)
	for _, ca := range []string{pki.CAFile, ""} {
		server, client, err := tlsFiles{cert: pki.CertFile, key: pki.KeyFile, ca: ca}.load()
		if err != nil {
			t.Fatalf("ca %q: %v", ca, err)
		}
		if len(server.Certificates) != 1 || client.RootCAs == nil {
			t.Fatalf("ca %q: server %d certs, client roots %v", ca, len(server.Certificates), client.RootCAs)
		}
	}
	if _, _, err := (tlsFiles{cert: pki.CertFile, key: pki.KeyFile, ca: pki.KeyFile}).load(); err == nil {
		t.Fatal("a CA file without a certificate accepted")
	}
	if _, _, err := (tlsFiles{cert: pki.CertFile, key: pki.CAFile}).load(); err == nil {
		t.Fatal("a key file without a key accepted")
	}
}
