package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"raftmq/cluster"
	"raftmq/cluster/clustertest"
)

// env is one real single-node broker served by a Server on a loopback
// listener, and a net/http client for it.
type env struct {
	t      *testing.T
	srv    *Server
	base   string // http://127.0.0.1:port
	client *http.Client
	// signer, when not nil, signs every request request sends (the DMS
	// door's SDK-HMAC-SHA256, with the official SDK's signer).
	signer *sdkTestSigner
}

// startEnv starts a broker (newTestBroker) and a Server in front of it.
// adjust, when not nil, changes the Server's config.
func startEnv(t *testing.T, adjust func(*Config), opts ...clustertest.Option) *env {
	t.Helper()
	b := newTestBroker(t, opts...)
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if adjust != nil {
		adjust(&cfg)
	}
	s, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	e := &env{
		t:    t,
		srv:  s,
		base: "http://" + ln.Addr().String(),
		// Long enough for a 60 s long poll.
		client: &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
	}
	// Registered after newTestBroker's cleanup, so it runs first: the
	// server stops before the broker closes.
	t.Cleanup(func() {
		e.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	e.waitReady()
	return e
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (e *env) waitReady() {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _, _ := e.do("GET", "/ready", "")
		if status == 200 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("not ready after 30 s (status %d)", status)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition against a deadline
	}
}

// response is one HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) request(method, path, body string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	path = e.dmsPath(path)
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.signer != nil && !strings.HasPrefix(path, "/topics/") {
		req = e.signer.sign(e.t, method, e.base, path, body)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if resp.Header.Get(headerRequestID) == "" {
		e.t.Errorf("%s %s: %d without X-Request-Id", method, path, resp.StatusCode)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (e *env) do(method, path, body string) (int, http.Header, []byte) {
	e.t.Helper()
	r := e.request(method, path, body)
	return r.status, r.header, r.body
}

// ok sends a request that must answer status, and decodes the body into
// out when out is not nil.
func (e *env) ok(method, path, body string, status int, out any) []byte {
	e.t.Helper()
	r := e.request(method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r.body
}

// fails sends a request that must fail with status and DMS code.
func (e *env) fails(method, path, body string, status int, code string) response {
	e.t.Helper()
	r := e.request(method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body)
	}
	var eb errorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.ErrorCode != code || eb.ErrorMsg == "" {
		e.t.Fatalf("%s %s: body %s, want code %s", method, path, r.body, code)
	}
	if (status == 429 || status == 503) && r.header.Get("Retry-After") != "1" {
		e.t.Fatalf("%s %s: %d without Retry-After: 1", method, path, status)
	}
	return r
}

// createQueue creates a queue in project from a JSON body and returns its id.
func (e *env) createQueue(project, body string) string {
	e.t.Helper()
	var out struct{ ID, Name string }
	e.ok("POST", "/v1.0/"+project+"/queues", body, 201, &out)
	if _, ok := parseUUID(out.ID); !ok {
		e.t.Fatalf("queue id %q is not a UUID", out.ID)
	}
	return out.ID
}

func (e *env) createGroup(project, queue, name string) string {
	e.t.Helper()
	var out struct {
		Groups []struct{ ID, Name string }
	}
	e.ok("POST", "/v1.0/"+project+"/queues/"+queue+"/groups", `{"groups":[{"name":"`+name+`"}]}`, 201, &out)
	if len(out.Groups) != 1 || out.Groups[0].Name != name {
		e.t.Fatalf("groups %+v", out.Groups)
	}
	if _, ok := parseGroupID(out.Groups[0].ID); !ok {
		e.t.Fatalf("group id %q", out.Groups[0].ID)
	}
	return out.Groups[0].ID
}

// produce sends the given message bodies (JSON texts) in one request.
func (e *env) produce(project, queue string, bodies ...string) {
	e.t.Helper()
	ms := make([]string, len(bodies))
	for i, b := range bodies {
		ms[i] = `{"body":` + b + `}`
	}
	var out struct{ Messages []map[string]any }
	e.ok("POST", "/v1.0/"+project+"/queues/"+queue+"/messages", `{"messages":[`+strings.Join(ms, ",")+`]}`, 201, &out)
	if len(out.Messages) != len(bodies) {
		e.t.Fatalf("produce answered %d results for %d messages", len(out.Messages), len(bodies))
	}
}

// consumed is one message of a consume answer.
type consumed struct {
	Message struct {
		Body       json.RawMessage `json:"body"`
		Attributes json.RawMessage `json:"attributes"`
	} `json:"message"`
	Handler string `json:"handler"`
}

func groupPath(project, queue, group string) string {
	return "/v1.0/" + project + "/queues/" + queue + "/groups/" + group
}

// consume calls GET .../messages (or .../deadletters) with query.
func (e *env) consume(project, queue, group, door, query string) []consumed {
	e.t.Helper()
	var out []consumed
	body := e.ok("GET", groupPath(project, queue, group)+"/"+door+"?"+query, "", 200, &out)
	if out == nil {
		e.t.Fatalf("consume answered %s, want an array", body)
	}
	for _, m := range out {
		if len(m.Handler) == 0 || len(m.Handler) > maxHandlerLen {
			e.t.Fatalf("handler %q", m.Handler)
		}
	}
	return out
}

// consumeN consumes until n messages came (each call waits up to 2 s), and
// fails the test if more come or the deadline passes.
func (e *env) consumeN(project, queue, group, door string, n int, query string) []consumed {
	e.t.Helper()
	var got []consumed
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("consumed %d of %d messages in 30 s", len(got), n)
		}
		got = append(got, e.consume(project, queue, group, door, "time_wait=2&"+query)...)
	}
	if len(got) != n {
		e.t.Fatalf("consumed %d messages, want %d", len(got), n)
	}
	return got
}

type ackEntry struct {
	handler, status string
}

// ack posts an ack (door "ack" or "deadletters/ack") and returns the answer.
func (e *env) ack(project, queue, group, door string, entries ...ackEntry) ackResponse {
	e.t.Helper()
	es := make([]string, len(entries))
	for i, a := range entries {
		if a.status == "" { // the default: success
			es[i] = fmt.Sprintf(`{"handler":%q}`, a.handler)
		} else {
			es[i] = fmt.Sprintf(`{"handler":%q,"status":%q}`, a.handler, a.status)
		}
	}
	var out ackResponse
	e.ok("POST", groupPath(project, queue, group)+"/"+door, `{"message":[`+strings.Join(es, ",")+`]}`, 200, &out)
	if out.Success+out.Fail != len(entries) {
		e.t.Fatalf("ack answered %+v for %d entries", out, len(entries))
	}
	if (out.Fail > 0) != (out.FirstFailure != nil) {
		e.t.Fatalf("ack answered %+v", out)
	}
	return out
}

func bodiesOf(ms []consumed) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Message.Body)
	}
	return out
}

// waitWaiting waits until n consume requests are in progress on the server.
func (e *env) waitWaiting(n int64) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.waiting.Load() != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d consumers waiting, want %d", e.srv.waiting.Load(), n)
		}
		time.Sleep(time.Millisecond) // polling a condition against a deadline
	}
}

// ---- node endpoints, server behaviour ----

func TestServer_NodeEndpoints(t *testing.T) {
	e := startEnv(t, nil)
	e.ok("GET", "/health", "", 200, nil)
	e.ok("GET", "/ready", "", 200, nil)
	var st cluster.Status
	e.ok("GET", "/v1/cluster", "", 200, &st)
	if st.NodeID == "" || len(st.Nodes) == 0 {
		t.Fatalf("status %+v", st)
	}
	if st.MetaLeader != st.NodeID {
		t.Errorf("single node: meta leader %q, node %q", st.MetaLeader, st.NodeID)
	}
	q := e.createQueue("p1", `{"name":"q"}`)
	// The queue's partitions are listed at once; each has a leader once its
	// first election is over ("" until then).
	deadline := time.Now().Add(10 * time.Second)
	for {
		st = cluster.Status{}
		e.ok("GET", "/v1/cluster", "", 200, &st)
		found, led := 0, 0
		for _, p := range st.Partitions {
			if p.QueueID == q {
				found++
				if len(p.Replicas) == 0 || p.ID == "" {
					t.Fatalf("partition %+v", p)
				}
				if p.Leader != "" {
					led++
				}
			}
		}
		if found == 0 {
			t.Fatalf("queue %s has no partitions in %+v", q, st.Partitions)
		}
		if led == found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions without a leader after 10 s: %+v", st.Partitions)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition against a deadline
	}
	e.fails("GET", "/unknown", "", 404, codeUnknownPath)
	r := e.fails("PUT", "/v1.0/p1/queues/"+q, "", 405, codeUnknownPath)
	if allow := r.header.Get("Allow"); allow != "DELETE, GET" {
		t.Errorf("Allow %q", allow)
	}
}

// A body over 1 MiB gets 413 10540011 from a real client; exactly 1 MiB is
// read and judged by the handler.
func TestServer_BodyOver1MiB(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	path := "/v1.0/p1/queues/" + q + "/messages"
	over := `{"messages":[{"body":"` + strings.Repeat("x", DefaultMaxRequestBodySize) + `"}]}`
	e.fails("POST", path, over, 413, codeTooLarge)
	// Exactly the limit: parsed, and refused for the message size instead.
	exact := `{"messages":[{"body":"` + strings.Repeat("x", DefaultMaxRequestBodySize-len(`{"messages":[{"body":""}]}`)) + `"}]}`
	if len(exact) != DefaultMaxRequestBodySize {
		t.Fatalf("exact body is %d bytes", len(exact))
	}
	e.fails("POST", path, exact, 400, codeTooLarge)
	var qj queueJSON
	e.ok("GET", "/v1.0/p1/queues/"+q, "", 200, &qj)
	if qj.ProducedMessages != 0 {
		t.Fatalf("refused produces stored %d messages", qj.ProducedMessages)
	}
}

func TestServer_WaitingConsumersCap429(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.MaxWaitingConsumers = 2 })
	q := e.createQueue("p1", `{"name":"q","redrive_policy":"enable","max_consume_count":3}`)
	g := e.createGroup("p1", q, "g")
	results := make(chan []consumed, 2)
	for range 2 {
		go func() {
			var out []consumed
			// Not e.ok: t.Fatal must not run outside the test goroutine.
			resp, err := e.client.Get(e.base + groupPath("p1", q, g) + "/messages?time_wait=3&max_msgs=1")
			if err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
			}
			results <- out
		}()
	}
	e.waitWaiting(2)
	e.fails("GET", groupPath("p1", q, g)+"/messages", "", 429, codeTooManyWaiting)
	e.fails("GET", groupPath("p1", q, g)+"/deadletters", "", 429, codeTooManyWaiting)
	// Other requests are not limited.
	e.produce("p1", q, `"a"`, `"b"`)
	got := 0
	for range 2 {
		got += len(<-results)
	}
	if got > 2 {
		t.Fatalf("%d messages for 2 produced", got)
	}
	e.waitWaiting(0)
	// Room again.
	e.consume("p1", q, g, "messages", "time_wait=1")
}

// Shutdown lets a long poll in flight finish with its answer, then returns.
func TestServer_ShutdownLetsLongPollFinish(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	g := e.createGroup("p1", q, "g")
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		resp, err := e.client.Get(e.base + groupPath("p1", q, g) + "/messages?time_wait=2")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, b, err}
	}()
	e.waitWaiting(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.status != 200 || string(r.body) != "[]" {
			t.Fatalf("long poll across shutdown: %d %q %v", r.status, r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not finish")
	}
	if el := time.Since(start); el < 1900*time.Millisecond {
		t.Fatalf("long poll cut short after %v", el)
	}
	// No longer accepting.
	if _, err := (&http.Client{Timeout: 2 * time.Second}).Get(e.base + "/health"); err == nil {
		t.Fatal("served after shutdown")
	}
}

// jsonEqual compares JSON texts by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// TestServer_Digests lists every local replica with its applied index and a
// digest that changes when the state does.
func TestServer_Digests(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	type answer struct {
		NodeID   string                  `json:"node_id"`
		Replicas []cluster.ReplicaDigest `json:"replicas"`
	}
	get := func() map[string]cluster.ReplicaDigest {
		var a answer
		e.ok("GET", "/v1/digests", "", 200, &a)
		if a.NodeID == "" {
			t.Fatalf("no node id in %+v", a)
		}
		out := map[string]cluster.ReplicaDigest{}
		for _, r := range a.Replicas {
			if len(r.Digest) != 64 || !strings.HasPrefix(r.Partition, q+"/") || r.Term == 0 {
				t.Fatalf("replica %+v (a serving replica has a term of at least 1)", r)
			}
			out[r.Partition] = r
		}
		return out
	}
	before := get()
	if len(before) == 0 {
		t.Fatal("no replicas listed")
	}
	e.produce("p1", q, `"x"`)
	after := get()
	changed := 0
	for id, r := range after {
		if b := before[id]; b.Digest != r.Digest {
			changed++
			if r.AppliedIndex <= b.AppliedIndex {
				t.Errorf("%s: digest changed, applied index %d -> %d", id, b.AppliedIndex, r.AppliedIndex)
			}
		}
	}
	if changed != 1 {
		t.Errorf("%d partitions changed digest after one produce, want 1", changed)
	}
	e.fails("POST", "/v1/digests", "", 405, "10240406")
}
