package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestClient_RetriesUnavailableAndCountsEachTry(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(503)
			w.Write([]byte(`{"error_code":"10250005","error_msg":"no leader"}`))
		case 2:
			w.WriteHeader(429)
			w.Write([]byte(`{"error_code":"10240407","error_msg":"too many"}`))
		default:
			w.WriteHeader(201)
			w.Write([]byte(`{"id":"q1"}`))
		}
	}))
	defer srv.Close()
	c := newClient([]string{srv.URL}, 4, 5*time.Second, clientAuth{})
	defer c.close()
	errs := newErrorCounts(nil)
	retries := 0
	var body string
	err := c.do(context.Background(), errs, request{op: "create-queue", method: "POST", path: "/v1.0/p/queues",
		body: []byte(`{}`), want: 201, retried: func() { retries++ },
		read: func(b []byte) error { body = string(b); return nil }})
	if err != nil || body != `{"id":"q1"}` || retries != 2 {
		t.Fatalf("err %v body %q retries %d", err, body, retries)
	}
	got := errs.list()
	if len(got) != 2 || errs.total.Load() != 2 {
		t.Fatalf("errors %+v", got)
	}
	for _, e := range got {
		ok := (e.Status == 503 && e.Code == "10250005") || (e.Status == 429 && e.Code == "10240407")
		if !ok || e.Op != "create-queue" || e.Count != 1 {
			t.Errorf("error %+v", e)
		}
	}
}

func TestClient_ClientErrorIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(404)
		w.Write([]byte(`{"error_code":"10240401","error_msg":"queue not found"}`))
	}))
	defer srv.Close()
	c := newClient([]string{srv.URL}, 4, 5*time.Second, clientAuth{})
	defer c.close()
	errs := newErrorCounts(nil)
	err := c.do(context.Background(), errs, request{op: OpConsume, method: "GET", path: "/x", want: 200})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 404 || se.Code != "10240401" || se.Retryable() || calls.Load() != 1 {
		t.Fatalf("err %v, calls %d", err, calls.Load())
	}
}

func TestClient_HomeTargetAndFailoverPastADeadOne(t *testing.T) {
	var hits [2]atomic.Int32
	mk := func(i int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.WriteHeader(200)
		}))
	}
	a, b := mk(0), mk(1)
	defer a.Close()
	defer b.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there any more
	c := newClient([]string{a.URL, b.URL, deadURL}, 4, 5*time.Second, clientAuth{})
	defer c.close()
	errs := newErrorCounts(nil)
	send := func(home int) {
		t.Helper()
		if err := c.do(context.Background(), errs, request{op: OpAck, home: home, method: "POST", path: "/", body: []byte(`{}`), want: 200}); err != nil {
			t.Fatal(err)
		}
	}
	// Homes 0 and 1 stick to their targets.
	for range 10 {
		send(0)
		send(1)
	}
	if hits[0].Load() != 10 || hits[1].Load() != 10 || len(errs.list()) != 0 {
		t.Fatalf("hits %d and %d, errors %+v: want 10 each on the home targets", hits[0].Load(), hits[1].Load(), errs.list())
	}
	// Home 2 is dead: each request fails there once and moves on to target 0
	// (wrapping around), and each failed try is counted.
	for range 5 {
		send(2)
	}
	if hits[0].Load() != 15 || hits[1].Load() != 10 {
		t.Fatalf("hits %d and %d: want the dead home's requests on the next target", hits[0].Load(), hits[1].Load())
	}
	got := errs.list()
	if len(got) != 1 || got[0].Status != 0 || got[0].Op != OpAck || got[0].Count != 5 {
		t.Fatalf("errors %+v: want the dead target's 5 tries counted as transport errors", got)
	}
}

func TestClient_UnreadableAnswerIsAProtocolError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`not json`))
	}))
	defer srv.Close()
	c := newClient([]string{srv.URL}, 4, 5*time.Second, clientAuth{})
	defer c.close()
	errs := newErrorCounts(nil)
	var v []delivery
	err := c.do(context.Background(), errs, request{op: OpConsume, method: "GET", path: "/", want: 200,
		read: func(b []byte) error { return json.Unmarshal(b, &v) }})
	var pe *ProtocolError
	if !errors.As(err, &pe) || errs.list()[0].Code != "unreadable" {
		t.Fatalf("err %v, errors %+v", err, errs.list())
	}
}
