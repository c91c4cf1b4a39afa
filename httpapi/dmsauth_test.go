package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// authNow is the injected clock of the authentication tests: the server and
// the signing clients agree on it, or are told to disagree by so much.
var authNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// startAuthEnv serves with credentials: AK_P1 on project p1 only, AK_P2 on
// p2, and the admin key AK_ADMIN (*). Requests are signed with AK_P1 unless
// another signer is chosen (as).
func startAuthEnv(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	keys := "# test keys\nAK_P1 SK_P1 p1\nAK_P2 SK_P2 p2,p3\n" + adminAK + " " + adminSK + " *\n"
	if err := os.WriteFile(path, []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, func(c *Config) {
		c.Credentials = creds
		c.Now = func() time.Time { return authNow }
	})
	e.signer = p1Signer()
	return e
}

func p1Signer() *sdkTestSigner {
	return &sdkTestSigner{ak: "AK_P1", sk: "SK_P1", now: func() time.Time { return authNow }}
}

// as returns e sending with signer g (nil: unsigned).
func (e *env) as(g *sdkTestSigner) *env {
	c := *e
	c.signer = g
	return &c
}

// send sends req as it is and returns the answer.
func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func wantCode(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	var eb errorBody
	if r.status != status || json.Unmarshal(r.body, &eb) != nil || eb.ErrorCode != code || eb.ErrorMsg == "" {
		t.Fatalf("%s: %d %s, want %d %s", what, r.status, r.body, status, code)
	}
}

// The official SDK's signer is accepted for every kind of DMS request:
// bodies, query strings, path parameters.
func TestDMSAuth_OfficialSignerWorks(t *testing.T) {
	e := startAuthEnv(t)
	q := e.createQueue("p1", `{"name":"signed","description":"a b/c"}`)
	g := e.createGroup("p1", q, "g1")
	e.produce("p1", q, `{"k":"v"}`, `"two"`)
	ms := e.consumeN("p1", q, g, "messages", 2, "max_msgs=10&time_wait=1&ack_wait=30")
	if len(ms) != 2 {
		t.Fatalf("consumed %d", len(ms))
	}
	e.ok("GET", "/v1.0/p1/queues?include_deadletter=true", "", 200, nil)
	e.ok("GET", "/v1.0/p1/quotas/dms", "", 200, nil)
	// Extra headers the client chooses to sign are covered too.
	x := p1Signer()
	x.extra = map[string]string{"X-Project-Id": "p1", "X-Trace": " spaced  "}
	e.as(x).ok("GET", "/v1.0/p1/queues/"+q, "", 200, nil)
}

// Unsigned, badly signed, unknown-key and skewed requests are 401 APIG.0301
// before anything else is checked: an unsigned request cannot tell a
// malformed project id, an unknown path or a missing queue from a good one.
func TestDMSAuth_RefusedBeforeAnyOtherCheck(t *testing.T) {
	e := startAuthEnv(t)
	q := e.createQueue("p1", `{"name":"q"}`)
	anon := e.as(nil)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1.0/p1/queues", `{"name":"anon"}`},
		{"GET", "/v1.0/p1/queues", ""},
		{"POST", "/v1.0/p1/queues/" + q + "/messages", `{"messages":[{"body":1}]}`},
		{"GET", "/v1.0/p1/queues/" + q + "/groups/g-x/messages", ""},
		{"GET", "/v1.0/bad!project/queues", ""},
		{"GET", "/v1.0/p1/queues/no-such-queue", ""},
		{"GET", "/v1.0/p1/no/such/path", ""},
		{"PUT", "/v1.0/p1/queues", ""},
		{"GET", "/v1.0/p1", ""},
	} {
		wantCode(t, "unsigned "+c.method+" "+c.path, anon.request(c.method, c.path, c.body), 401, codeAuthFailed)
	}
	for name, g := range map[string]*sdkTestSigner{
		"wrong secret": {ak: "AK_P1", sk: "nope", now: p1Signer().now},
		"unknown key":  {ak: "AK_NONE", sk: "SK_P1", now: p1Signer().now},
		"16 min early": {ak: "AK_P1", sk: "SK_P1", now: func() time.Time { return authNow.Add(-16 * time.Minute) }},
		"16 min late":  {ak: "AK_P1", sk: "SK_P1", now: func() time.Time { return authNow.Add(16 * time.Minute) }},
	} {
		wantCode(t, name, e.as(g).request("GET", "/v1.0/p1/queues", ""), 401, codeAuthFailed)
	}
	// 14 minutes off is within the window.
	ok := &sdkTestSigner{ak: "AK_P1", sk: "SK_P1", now: func() time.Time { return authNow.Add(14 * time.Minute) }}
	e.as(ok).ok("GET", "/v1.0/p1/queues", "", 200, nil)

	// A body changed after signing, a query parameter added, a signed
	// header changed: the signature no longer matches.
	g := p1Signer()
	req := g.sign(t, "POST", e.base, "/v1.0/p1/queues", `{"name":"aaaa"}`)
	req.Body = io.NopCloser(strings.NewReader(`{"name":"bbbb"}`))
	wantCode(t, "body swapped", e.send(req), 401, codeAuthFailed)
	req = g.sign(t, "GET", e.base, "/v1.0/p1/queues", "")
	req.URL.RawQuery = "include_deadletter=true"
	wantCode(t, "query added", e.send(req), 401, codeAuthFailed)
	req = g.sign(t, "GET", e.base, "/v1.0/p1/queues", "")
	req.Header.Set(headerSDKDate, authNow.Add(time.Minute).Format(sdkDateFormat))
	wantCode(t, "date changed", e.send(req), 401, codeAuthFailed)
	// UNSIGNED-PAYLOAD leaves the body out of the signature: refused with a body.
	req = g.sign(t, "POST", e.base, "/v1.0/p1/queues", `{"name":"cccc"}`)
	req.Header.Set(headerSDKContentSHA, sdkUnsignedPayload)
	wantCode(t, "unsigned payload", e.send(req), 401, codeAuthFailed)

	// Nothing of it was created.
	var list struct{ Total int }
	e.ok("GET", "/v1.0/p1/queues", "", 200, &list)
	if list.Total != 1 {
		t.Fatalf("%d queues after refused requests, want 1", list.Total)
	}
}

// A valid key used on a project it is not listed for is 403 APIG.0302,
// before the usual validation; the admin key may use every project.
func TestDMSAuth_ProjectPermission(t *testing.T) {
	e := startAuthEnv(t)
	wantCode(t, "p1 key on p2", e.request("GET", "/v1.0/p2/queues", ""), 403, codeAuthDenied)
	wantCode(t, "p1 key on bad id", e.request("GET", "/v1.0/bad!id/queues", ""), 403, codeAuthDenied)
	p2 := &sdkTestSigner{ak: "AK_P2", sk: "SK_P2", now: p1Signer().now}
	e.as(p2).ok("POST", "/v1.0/p3/queues", `{"name":"x"}`, 201, nil)
	wantCode(t, "p2 key, bad queue name", e.as(p2).request("POST", "/v1.0/p2/queues", `{"name":"a b"}`), 400, codeQueueNameChars)
	admin := &sdkTestSigner{ak: adminAK, sk: adminSK, now: p1Signer().now}
	e.as(admin).ok("GET", "/v1.0/p2/queues", "", 200, nil)
	wantCode(t, "admin key, bad project id", e.as(admin).request("GET", "/v1.0/bad!id/queues", ""), 400, codeProjectInvalid)
}

// The node endpoints that show every project need an admin key, signed or as
// a bearer token; /health and /ready stay open.
func TestAdminEndpoints_NeedAdminKey(t *testing.T) {
	e := startAuthEnv(t)
	admin := &sdkTestSigner{ak: adminAK, sk: adminSK, now: p1Signer().now}
	bearer := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", v) }
	}
	for _, path := range []string{"/v1/cluster", "/v1/digests", "/metrics", "/v1//cluster", "/v1/x/../digests"} {
		wantCode(t, "anonymous "+path, e.as(nil).request("GET", path, ""), 401, codeAuthFailed)
		wantCode(t, "project key "+path, e.request("GET", path, ""), 403, codeAuthDenied)
		for name, set := range map[string]func(*http.Request){
			"bearer wrong secret":   bearer("Bearer " + adminAK + ":nope"),
			"bearer unknown key":    bearer("Bearer NOPE:" + adminSK),
			"bearer no colon":       bearer("Bearer " + adminAK),
			"bearer project key":    bearer("Bearer AK_P1:SK_P1"),
			"basic instead":         bearer("Basic QUtfQURNSU46U0tfQURNSU4="),
			"sdk header, no fields": bearer(sdkAlgorithm + " "),
		} {
			req, err := http.NewRequest("GET", e.base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			set(req)
			want, code := 401, codeAuthFailed
			if name == "bearer project key" {
				want, code = 403, codeAuthDenied
			}
			wantCode(t, name+" "+path, e.send(req), want, code)
		}
	}
	for _, path := range []string{"/v1/cluster", "/v1/digests"} {
		e.as(admin).ok("GET", path, "", 200, nil)
		req, err := http.NewRequest("GET", e.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminAK+":"+adminSK)
		if r := e.send(req); r.status != 200 {
			t.Fatalf("bearer admin %s: %d %s", path, r.status, r.body)
		}
	}
	// /metrics is not served by this package: an admin gets past the gate to 404.
	wantCode(t, "admin /metrics", e.as(admin).request("GET", "/metrics", ""), 404, codeUnknownPath)
	for _, path := range []string{"/health", "/ready"} {
		if r := e.as(nil).request("GET", path, ""); r.status != 200 {
			t.Fatalf("anonymous %s: %d %s", path, r.status, r.body)
		}
	}
}

func TestParseSDKAuthorization(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	good := sdkAlgorithm + " Access=AK, SignedHeaders=host;x-sdk-date, Signature=" + sig
	a, err := parseSDKAuthorization(good)
	if err != nil || a.accessKey != "AK" || strings.Join(a.signedHeaders, ";") != "host;x-sdk-date" || a.signature != sig {
		t.Fatalf("good: %+v %v", a, err)
	}
	for _, bad := range []string{
		"",
		"SDK-HMAC-SHA1 Access=AK, SignedHeaders=x-sdk-date, Signature=" + sig,
		sdkAlgorithm + " Access=AK, SignedHeaders=host, Signature=" + sig,
		sdkAlgorithm + " Access=AK, SignedHeaders=X-Sdk-Date, Signature=" + sig,
		sdkAlgorithm + " Access=AK, SignedHeaders=x-sdk-date;;host, Signature=" + sig,
		sdkAlgorithm + " Access=AK, Access=AK2, SignedHeaders=x-sdk-date, Signature=" + sig,
		sdkAlgorithm + " Access=, SignedHeaders=x-sdk-date, Signature=" + sig,
		sdkAlgorithm + " Access=AK, SignedHeaders=x-sdk-date, Signature=abc",
		sdkAlgorithm + " Access=AK, SignedHeaders=x-sdk-date",
		sdkAlgorithm + " Access=AK, SignedHeaders=x-sdk-date, Signature=" + sig + ", Extra=1",
		sdkAlgorithm + " Access=AK, SignedHeaders=" + strings.Repeat("a;", 40) + "x-sdk-date, Signature=" + sig,
	} {
		if _, err := parseSDKAuthorization(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzParseSDKAuthorization: any header parses or is refused with a 401,
// never a panic, and what parses satisfies the parser's promises.
func FuzzParseSDKAuthorization(f *testing.F) {
	f.Add(sdkAlgorithm + " Access=AK, SignedHeaders=host;x-sdk-date, Signature=" + strings.Repeat("0", 64))
	f.Add(sdkAlgorithm + " Access=AK,SignedHeaders=x-sdk-date,Signature=")
	f.Add("Bearer AK:SECRET")
	f.Fuzz(func(t *testing.T, v string) {
		a, err := parseSDKAuthorization(v)
		if err != nil {
			if ae, ok := err.(*apiError); !ok || ae.status != 401 || ae.code != codeAuthFailed {
				t.Fatalf("%q: error %v is not a 401", v, err)
			}
			return
		}
		if a.accessKey == "" || len(a.signature) != 64 || len(a.signedHeaders) > maxSignedHeaders {
			t.Fatalf("%q: parsed into %+v", v, a)
		}
	})
}
