package httpapi

import (
	"context"
	"encoding/json"
	"html"
	"net"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/sdkauth"
)

// TestConsole_SignsLikeTheServer runs the console's sign.js in headless
// Chromium on a fixed request and checks its headers against package
// sdkauth, the node's own verifier.
func TestConsole_SignsLikeTheServer(t *testing.T) {
	s, err := New(quietConfig(), &untouchedBroker{t: t})
	if err != nil {
		t.Fatal(err)
	}
	console := s.Handler()
	const page = `<!doctype html><body><script src="/console/sign.js"></script><script>
document.body.textContent = JSON.stringify(raftmqSign.headers("GET",
  "/v1.0/p_1/queues/q-1/groups?include_deadletter=true&a-b=2&a=1&x=a%2Fb%20c", "127.0.0.1:9000",
  "AK", "SK", new Date(Date.UTC(2026, 2, 4, 5, 6, 7))));
</script></body>`
	h := func(rc *fasthttp.RequestCtx) {
		if string(rc.Path()) == "/signtest.html" {
			rc.SetContentType("text/html")
			rc.SetBodyString(page)
			return
		}
		console(rc)
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
		"--virtual-time-budget=2000", "--dump-dom", "http://"+ln.Addr().String()+"/signtest.html").Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	m := regexp.MustCompile(`<body>(\{.*\})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no signature in the page:\n%s", out)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &got); err != nil {
		t.Fatalf("%s: %v", m[1], err)
	}
	date, auth, err := sdkauth.Sign("GET", "/v1.0/p_1/queues/q-1/groups",
		[][2]string{{"include_deadletter", "true"}, {"a-b", "2"}, {"a", "1"}, {"x", "a/b c"}},
		"127.0.0.1:9000", nil, "AK", "SK", time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if got["X-Sdk-Date"] != date || got["Authorization"] != auth {
		t.Fatalf("console signs\n  %q %q\nthe server expects\n  %q %q", got["X-Sdk-Date"], got["Authorization"], date, auth)
	}
}
