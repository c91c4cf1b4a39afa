package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsFiles are the --tls-* flags of raftmq serve.
type tlsFiles struct {
	cert, key, ca string
}

// errTLSFlags reports --tls-cert and --tls-key not given together, or
// --tls-ca without them.
var errTLSFlags = errors.New("--tls-cert and --tls-key go together (and --tls-ca needs them)")

func (f tlsFiles) enabled() bool { return f.cert != "" || f.key != "" }

func (f tlsFiles) check() error {
	if (f.cert == "") != (f.key == "") || (f.ca != "" && !f.enabled()) {
		return errTLSFlags
	}
	return nil
}

// load returns the server side of the HTTP port and the client side of
// node-to-node forwarding. Peers are verified against --tls-ca, or without
// it the system pool plus this node's own certificate (a cluster whose
// nodes share one certificate needs no CA file).
func (f tlsFiles) load() (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	var pool *x509.CertPool
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, nil, fmt.Errorf("tls: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("tls: %s holds no PEM certificate", f.ca)
		}
	} else {
		if pool, err = x509.SystemCertPool(); err != nil {
			pool = x509.NewCertPool()
		}
		for _, der := range cert.Certificate {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, nil, fmt.Errorf("tls: %s: %w", f.cert, err)
			}
			pool.AddCert(c)
		}
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}
