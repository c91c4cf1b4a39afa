package sdkauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	// Algorithm names the scheme in the Authorization header.
	Algorithm = "SDK-HMAC-SHA256"
	// HeaderDate carries the signing time, DateFormat in UTC.
	HeaderDate = "X-Sdk-Date"
	// HeaderContentSHA256, when sent, stands for the body's hash in the
	// canonical request.
	HeaderContentSHA256 = "X-Sdk-Content-Sha256"
	DateFormat          = "20060102T150405Z"
)

// Errors of the canonical forms. Either means the request cannot have been
// signed as sent, so the server answers it as a bad signature.
var (
	// ErrPath reports a request path that is not validly percent-encoded.
	ErrPath = errors.New("sdkauth: the request path is not validly percent-encoded")
	// ErrMissingHeader reports a signed header the request does not carry.
	ErrMissingHeader = errors.New("sdkauth: a signed header is missing")
)

// Escape percent-encodes everything but A-Z a-z 0-9 _ - ~ . with upper-case
// hex, as the SDK's signer does.
func Escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '~' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// CanonicalURI is the path with each segment decoded then escaped, ending
// with a slash. The SDK signs the unescaped path it was given; the request
// carries it escaped, so decoding first recovers what was signed.
func CanonicalURI(rawPath string) (string, error) {
	segs := strings.Split(rawPath, "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", ErrPath
		}
		segs[i] = Escape(d)
	}
	u := strings.Join(segs, "/")
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u, nil
}

// CanonicalQuery sorts decoded name, value pairs by name, then by value,
// each escaped, joined with &.
func CanonicalQuery(q [][2]string) string {
	byName := map[string][]string{}
	for _, kv := range q {
		byName[kv[0]] = append(byName[kv[0]], kv[1])
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	pairs := make([]string, 0, len(q))
	for _, n := range names {
		vs := byName[n]
		slices.Sort(vs)
		for _, v := range vs {
			pairs = append(pairs, Escape(n)+"="+Escape(v))
		}
	}
	return strings.Join(pairs, "&")
}

// CanonicalHeaders is each signed header as name:value\n, in the order of
// signed; values returns every value of a header by its lower-case name. A
// signed header without a value is an error (it was not sent).
func CanonicalHeaders(signed []string, values func(name string) []string) (string, error) {
	var b strings.Builder
	for _, name := range signed {
		vs := slices.Clone(values(name))
		if len(vs) == 0 {
			return "", fmt.Errorf("%w: %s", ErrMissingHeader, name)
		}
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
		}
	}
	return b.String(), nil
}

// BodyHash is the hex SHA-256 of body.
func BodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// CanonicalRequest joins METHOD, URI, QUERY, HEADERS, SIGNED and the body
// hash with newlines (HEADERS ends with its own).
func CanonicalRequest(method, uri, query, headers string, signed []string, bodyHash string) string {
	return strings.Join([]string{method, uri, query, headers, strings.Join(signed, ";"), bodyHash}, "\n")
}

// Signature is hex(HMAC-SHA256(secret, ALGORITHM\nDATE\nhex(SHA-256(canonical)))).
func Signature(secret, date, canonical string) string {
	crHash := sha256.Sum256([]byte(canonical))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(Algorithm + "\n" + date + "\n" + hex.EncodeToString(crHash[:])))
	return hex.EncodeToString(m.Sum(nil))
}

// Authorization is the header value for access key ak.
func Authorization(ak string, signed []string, signature string) string {
	return Algorithm + " Access=" + ak + ", SignedHeaders=" + strings.Join(signed, ";") + ", Signature=" + signature
}

// Sign signs a request of our own clients: method, the raw (escaped) path,
// the decoded query pairs, the Host header's value and the body, at now. It
// returns the X-Sdk-Date and Authorization header values. It signs host and
// x-sdk-date.
func Sign(method, rawPath string, query [][2]string, host string, body []byte, ak, sk string, now time.Time) (date, authorization string, err error) {
	uri, err := CanonicalURI(rawPath)
	if err != nil {
		return "", "", err
	}
	date = now.UTC().Format(DateFormat)
	signed := []string{"host", "x-sdk-date"}
	headers := "host:" + strings.TrimSpace(host) + "\n" + "x-sdk-date:" + date + "\n"
	canonical := CanonicalRequest(method, uri, CanonicalQuery(query), headers, signed, BodyHash(body))
	return date, Authorization(ak, signed, Signature(sk, date, canonical)), nil
}
