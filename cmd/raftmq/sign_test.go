package main

import (
	"net/http"
	"testing"
	"time"

	"raftmq/sdkauth"
)

// The CLI signs what it sends as package sdkauth (the server's verifier,
// itself checked against Huawei's SDK) computes it: path, query and host
// as they go on the wire.
func TestSign_AgreesWithServerSigner(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	req, _ := http.NewRequest("GET", "http://127.0.0.1:9000/v1.0/p_1/queues/q-1/groups?include_deadletter=true&a-b=2&a=1", nil)
	if err := signRequest(req, nil, "AK", "SK", at); err != nil {
		t.Fatal(err)
	}
	date, auth, err := sdkauth.Sign("GET", "/v1.0/p_1/queues/q-1/groups",
		[][2]string{{"include_deadletter", "true"}, {"a-b", "2"}, {"a", "1"}}, "127.0.0.1:9000", nil, "AK", "SK", at)
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("X-Sdk-Date") != date || req.Header.Get("Authorization") != auth {
		t.Fatalf("client %q %q\nserver %q %q", req.Header.Get("X-Sdk-Date"), req.Header.Get("Authorization"), date, auth)
	}
}
