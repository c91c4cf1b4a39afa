package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Huawei Cloud's AK/SK request signature (SDK-HMAC-SHA256), as the DMS door
// checks it when the node has --credentials.
const (
	signAlgorithm  = "SDK-HMAC-SHA256"
	signDateHeader = "X-Sdk-Date"
	signDateFormat = "20060102T150405Z"
)

// signRequest signs req, whose body is body, with the key pair at time now:
// it sets X-Sdk-Date and Authorization. Host, X-Sdk-Date and, when present,
// Content-Type are signed.
func signRequest(req *http.Request, body []byte, ak, sk string, now time.Time) {
	req.Header.Set(signDateHeader, now.UTC().Format(signDateFormat))
	headers := map[string]string{"host": req.URL.Host, "x-sdk-date": req.Header.Get(signDateHeader)}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		headers["content-type"] = ct
	}
	signed, canonHeaders := canonicalHeaders(headers)
	sum := sha256.Sum256(body)
	canonical := strings.Join([]string{
		req.Method,
		canonicalURI(req.URL.Path),
		canonicalQuery(req.URL.Query()),
		canonHeaders,
		signed,
		hex.EncodeToString(sum[:]),
	}, "\n")
	crSum := sha256.Sum256([]byte(canonical))
	toSign := signAlgorithm + "\n" + req.Header.Get(signDateHeader) + "\n" + hex.EncodeToString(crSum[:])
	mac := hmac.New(sha256.New, []byte(sk))
	mac.Write([]byte(toSign))
	req.Header.Set("Authorization", signAlgorithm+" Access="+ak+", SignedHeaders="+signed+", Signature="+hex.EncodeToString(mac.Sum(nil)))
}

// canonicalURI escapes each path segment and ends the path with a slash.
func canonicalURI(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = signEscape(s)
	}
	u := strings.Join(segs, "/")
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// canonicalQuery is every parameter, escaped, sorted by name and then by
// value (the order Huawei's signer uses: by name first, so "a" comes before
// "a-b" whatever '=' sorts as).
func canonicalQuery(q url.Values) string {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	slices.Sort(names)
	var parts []string
	for _, k := range names {
		vs := slices.Clone(q[k])
		slices.Sort(vs)
		for _, v := range vs {
			parts = append(parts, signEscape(k)+"="+signEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

// canonicalHeaders returns the signed header names (lower case, sorted,
// joined by ';') and their "name:value\n" lines.
func canonicalHeaders(h map[string]string) (signed, canon string) {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + ":" + strings.TrimSpace(h[k]) + "\n")
	}
	return strings.Join(names, ";"), b.String()
}

// signEscape percent-encodes everything but the unreserved characters of
// RFC 3986, with upper-case hex.
func signEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
