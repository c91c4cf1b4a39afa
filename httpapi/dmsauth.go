package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/sdkauth"
)

// This file is the DMS door's authentication (API.md section 5): Huawei
// Cloud's AK/SK scheme SDK-HMAC-SHA256 (the computation is package sdkauth's,
// exactly as the official Go SDK's signer does it), and the admin keys of
// the node endpoints. Every refusal here is 401 APIG.0301 or
// 403 APIG.0302, decided before anything else of the request is looked at,
// so that an unsigned request learns nothing about the project or its queues.

const (
	sdkAlgorithm        = sdkauth.Algorithm
	headerSDKDate       = sdkauth.HeaderDate
	headerSDKContentSHA = sdkauth.HeaderContentSHA256
	sdkDateFormat       = sdkauth.DateFormat
	// sdkUnsignedPayload is what the SDK puts in X-Sdk-Content-Sha256 for a
	// body that is not JSON. We accept it only with an empty body: every DMS
	// body is JSON, and a body left out of the signature could be swapped
	// by anyone who sees the request.
	sdkUnsignedPayload = "UNSIGNED-PAYLOAD"
	// maxSignedHeaders bounds the work a hostile SignedHeaders list can ask.
	maxSignedHeaders = 32
)

// errUnauthenticated and errForbidden are the APIG gateway's answers.
func errUnauthenticated(msg string) *apiError {
	return &apiError{status: 401, code: codeAuthFailed, msg: msg}
}

var (
	errForbidden      = &apiError{status: 403, code: codeAuthDenied, msg: "the access key may not use this project"}
	errAdminForbidden = &apiError{status: 403, code: codeAuthDenied, msg: "an admin access key (project *) is required"}
)

// sdkAuthorization is a parsed `SDK-HMAC-SHA256 Access=AK,
// SignedHeaders=h1;h2, Signature=hex` header.
type sdkAuthorization struct {
	accessKey     string
	signedHeaders []string // lower case, as sent (the order is signed)
	signature     string   // 64 hex digits (compared lower-cased)
}

// parseSDKAuthorization parses an Authorization header of the SDK scheme.
// Each of the three fields must appear once; SignedHeaders must name
// lower-case headers and include x-sdk-date, so that the date the skew check
// reads is the signed one.
func parseSDKAuthorization(v string) (sdkAuthorization, error) {
	rest, ok := strings.CutPrefix(v, sdkAlgorithm+" ")
	if !ok {
		return sdkAuthorization{}, errUnauthenticated("the Authorization header must be " + sdkAlgorithm + " Access=..., SignedHeaders=..., Signature=...")
	}
	var a sdkAuthorization
	var seen [3]bool
	for _, part := range strings.Split(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		i := slices.Index([]string{"Access", "SignedHeaders", "Signature"}, name)
		if !ok || value == "" || i < 0 || seen[i] {
			return sdkAuthorization{}, errUnauthenticated("the Authorization header is malformed")
		}
		seen[i] = true
		switch i {
		case 0:
			a.accessKey = value
		case 1:
			a.signedHeaders = strings.Split(value, ";")
		case 2:
			a.signature = value
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return sdkAuthorization{}, errUnauthenticated("the Authorization header needs Access, SignedHeaders and Signature")
	}
	if len(a.signedHeaders) > maxSignedHeaders {
		return sdkAuthorization{}, errUnauthenticated("too many signed headers")
	}
	for _, h := range a.signedHeaders {
		if h == "" || h != strings.ToLower(h) {
			return sdkAuthorization{}, errUnauthenticated("SignedHeaders must be lower-case header names separated by ;")
		}
	}
	if !slices.Contains(a.signedHeaders, strings.ToLower(headerSDKDate)) {
		return sdkAuthorization{}, errUnauthenticated("x-sdk-date must be a signed header")
	}
	if len(a.signature) != 2*sha256.Size {
		return sdkAuthorization{}, errUnauthenticated("the signature must be 64 hex digits")
	}
	return a, nil
}

// sdkRequest is what an SDK-HMAC-SHA256 signature covers, taken from the
// request as received.
type sdkRequest struct {
	method  string
	rawPath string                // path as sent, percent-encoded
	query   [][2]string           // decoded name, value pairs
	header  func(string) []string // every value of a header, by name
	body    []byte
}

// sdkRequestOf reads the signed parts of rc.
func sdkRequestOf(rc *fasthttp.RequestCtx) sdkRequest {
	h := &rc.Request.Header
	r := sdkRequest{
		method:  string(h.Method()),
		rawPath: string(rc.URI().PathOriginal()),
		body:    rc.Request.Body(),
		header: func(name string) []string {
			var vs []string
			for _, v := range h.PeekAll(name) {
				vs = append(vs, string(v)) // PeekAll's slices are reused
			}
			return vs
		},
	}
	for k, v := range rc.QueryArgs().All() {
		r.query = append(r.query, [2]string{string(k), string(v)})
	}
	return r
}

// contentHash is the hex SHA-256 of the body, or the X-Sdk-Content-Sha256
// header when sent, which must then agree with the body (or be
// UNSIGNED-PAYLOAD with an empty one).
func (r sdkRequest) contentHash() (string, error) {
	own := sdkauth.BodyHash(r.body)
	sent := r.header(headerSDKContentSHA)
	if len(sent) == 0 {
		return own, nil
	}
	switch v := sent[0]; {
	case len(sent) > 1:
	case v == sdkUnsignedPayload && len(r.body) == 0:
		return v, nil
	case strings.EqualFold(v, own):
		return v, nil
	}
	return "", errUnauthenticated("X-Sdk-Content-Sha256 does not match the body (the body must be signed)")
}

// canonicalRequest is the SDK's canonical request of r for the signed
// headers (sdkauth).
func (r sdkRequest) canonicalRequest(signed []string) (string, error) {
	uri, err := sdkauth.CanonicalURI(r.rawPath)
	if err != nil {
		return "", errUnauthenticated(err.Error())
	}
	hash, err := r.contentHash()
	if err != nil {
		return "", err
	}
	headers, err := sdkauth.CanonicalHeaders(signed, r.header)
	if err != nil {
		return "", errUnauthenticated(err.Error())
	}
	return sdkauth.CanonicalRequest(r.method, uri, sdkauth.CanonicalQuery(r.query), headers, signed, hash), nil
}

// verifySDK authenticates a signed request and returns its access key id.
// It does not look at the project: that is allows' question, asked after.
func (c *Credentials) verifySDK(auth string, r sdkRequest, now time.Time) (string, error) {
	if auth == "" {
		return "", errUnauthenticated("the request is not signed: an Authorization header of " + sdkAlgorithm + " is required")
	}
	a, err := parseSDKAuthorization(auth)
	if err != nil {
		return "", err
	}
	dates := r.header(headerSDKDate)
	if len(dates) != 1 {
		return "", errUnauthenticated("one X-Sdk-Date header (YYYYMMDDTHHMMSSZ) is required")
	}
	at, err := time.Parse(sdkDateFormat, dates[0])
	if err != nil {
		return "", errUnauthenticated("X-Sdk-Date must be YYYYMMDDTHHMMSSZ in UTC")
	}
	if d := now.Sub(at); d > maxDateSkew || d < -maxDateSkew {
		return "", errUnauthenticated("X-Sdk-Date is more than 15 minutes away from the server's time")
	}
	// An unknown key is checked like a known one, against an empty secret,
	// and answered alike: neither the message nor the time tells a
	// stranger which access key ids exist.
	secret, known := c.secret(a.accessKey)
	canonical, err := r.canonicalRequest(a.signedHeaders)
	if err != nil {
		return "", err
	}
	if !hmac.Equal([]byte(sdkauth.Signature(secret, dates[0], canonical)), []byte(strings.ToLower(a.signature))) || !known {
		return "", errUnauthenticated("the access key is unknown or the request signature does not match")
	}
	return a.accessKey, nil
}

// verifyBearer authenticates `Bearer AK:SECRET`, the admin endpoints'
// second way in, for scrapers and curl (only sensible over TLS or
// loopback: the secret travels as it is).
func (c *Credentials) verifyBearer(auth string) (string, error) {
	rest, _ := strings.CutPrefix(auth, "Bearer ")
	id, secret, ok := strings.Cut(rest, ":")
	if !ok || id == "" || secret == "" {
		return "", errUnauthenticated("the Authorization header must be Bearer ACCESS_KEY_ID:SECRET")
	}
	want, known := c.secret(id)
	// Compared even for an unknown key, so that timing does not tell which
	// access key ids exist.
	if !hmac.Equal([]byte(want), []byte(secret)) || !known {
		return "", errUnauthenticated("unknown access key or wrong secret")
	}
	return id, nil
}

// dmsAuthenticate checks a DMS request's signature, then the key's right to
// project. It is a no-op without credentials (open mode).
func (s *Server) dmsAuthenticate(rc *fasthttp.RequestCtx, project string) error {
	c := s.cfg.Credentials
	if c == nil {
		return nil
	}
	id, err := c.verifySDK(string(rc.Request.Header.Peek(fasthttp.HeaderAuthorization)), sdkRequestOf(rc), s.cfg.Now())
	if err != nil {
		return err
	}
	if !c.allows(id, project) {
		return errForbidden
	}
	return nil
}

// adminAuthenticate lets through an admin key (project *), signed as a DMS
// request or as a bearer token. It is a no-op without credentials.
func (s *Server) adminAuthenticate(rc *fasthttp.RequestCtx) error {
	c := s.cfg.Credentials
	if c == nil {
		return nil
	}
	auth := string(rc.Request.Header.Peek(fasthttp.HeaderAuthorization))
	var id string
	var err error
	if strings.HasPrefix(auth, "Bearer ") {
		id, err = c.verifyBearer(auth)
	} else {
		id, err = c.verifySDK(auth, sdkRequestOf(rc), s.cfg.Now())
	}
	if err != nil {
		return err
	}
	if !c.admin(id) {
		return errAdminForbidden
	}
	return nil
}
