package main

import (
	"net/http"
	"time"

	"raftmq/sdkauth"
)

// signRequest signs req, whose body is body, with the key pair at time now
// (Huawei Cloud's SDK-HMAC-SHA256, package sdkauth, as the DMS door checks
// it when the node has --credentials): it sets X-Sdk-Date and
// Authorization, signing Host and X-Sdk-Date.
func signRequest(req *http.Request, body []byte, ak, sk string, now time.Time) error {
	var query [][2]string
	for k, vs := range req.URL.Query() {
		for _, v := range vs {
			query = append(query, [2]string{k, v})
		}
	}
	date, auth, err := sdkauth.Sign(req.Method, req.URL.EscapedPath(), query, req.URL.Host, body, ak, sk, now)
	if err != nil {
		return err
	}
	req.Header.Set("X-Sdk-Date", date)
	req.Header.Set("Authorization", auth)
	return nil
}
