package httpapi

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestConsole_ServesEmbeddedFiles(t *testing.T) {
	s, err := New(quietConfig(), &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, ctype, body string
		status            int
	}{
		{"/console/", "text/html", "<title>raftmq console</title>", 200},
		{"/console/index.html", "text/html", "app.js", 200},
		{"/console/app.js", "javascript", "/v1/cluster", 200},
		{"/console/style.css", "text/css", "font", 200},
		{"/console/../go.mod", "", "", 404},
		{"/console/nope.js", "", "", 404},
		{"/console", "", "", 301},
	} {
		resp := serveInMemory(s.Handler(), "GET", tc.path, "")
		if resp.StatusCode() != tc.status {
			t.Errorf("GET %s: status %d, want %d", tc.path, resp.StatusCode(), tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		if ct := string(resp.Header.ContentType()); !strings.Contains(ct, tc.ctype) {
			t.Errorf("GET %s: Content-Type %q", tc.path, ct)
		}
		if !strings.Contains(string(resp.Body()), tc.body) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.body)
		}
		if csp := string(resp.Header.Peek("Content-Security-Policy")); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
	}
}

func TestMetrics_OffWithoutRegistry(t *testing.T) {
	s, err := New(quietConfig(), &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	if resp := serveInMemory(s.Handler(), "GET", "/metrics", ""); resp.StatusCode() != 404 {
		t.Fatalf("GET /metrics without a registry: %d, want 404", resp.StatusCode())
	}
	cfg := quietConfig()
	cfg.Registry = prometheus.NewRegistry()
	s, err = New(cfg, &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	serveInMemory(s.Handler(), "GET", "/console/", "")
	resp := serveInMemory(s.Handler(), "GET", "/metrics", "")
	if resp.StatusCode() != 200 || !strings.Contains(string(resp.Body()), `raftmq_http_request_duration_seconds_count{code="200",door="node",op="console"} 1`) {
		t.Fatalf("GET /metrics: %d\n%s", resp.StatusCode(), resp.Body())
	}
}
