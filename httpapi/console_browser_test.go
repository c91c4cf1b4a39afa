package httpapi

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// chromium finds headless Chromium (Debian's chromium package, installed by
// .ci/run; RAFTMQ_CHROMIUM overrides). Its absence fails the test: a browser
// check that cannot run must not pass.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RAFTMQ_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found (apt-get install -y chromium, or set RAFTMQ_CHROMIUM)")
	return ""
}

// TestConsole_AsksForAdminKey serves the console in front of a node that
// refuses the JSON API without credentials (401 APIG.0301, as a node with
// admin keys does) and checks, in a real browser, that the page opens its
// admin-key dialog instead of showing data.
func TestConsole_AsksForAdminKey(t *testing.T) {
	s, err := New(quietConfig(), &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	console := s.Handler()
	h := func(rc *fasthttp.RequestCtx) {
		if strings.HasPrefix(string(rc.Path()), ConsolePath) {
			console(rc)
			return
		}
		rc.SetStatusCode(401)
		rc.SetContentType("application/json")
		rc.SetBodyString(`{"error_code":"APIG.0301","error_msg":"credentials required"}`)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, chromium(t), "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=3000", "--dump-dom", "http://"+ln.Addr().String()+ConsolePath).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
	if !strings.Contains(dom, `<dialog id="key-dialog" open="">`) {
		t.Errorf("the admin-key dialog is not open:\n%s", dom)
	}
	if !strings.Contains(dom, "admin key needed") || strings.Contains(dom, `data-ready="1"`) {
		t.Errorf("the page should say it needs a key and show no data:\n%s", dom)
	}
}
