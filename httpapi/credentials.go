package httpapi

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// Credentials is the store of access keys (API.md section 1): for each
// AccessKeyId its secret and the projects it may use. It is immutable once
// parsed and safe for concurrent use. The RocketMQ door checks signatures
// against it with their own schemes (credentials.go for RocketMQ, dmsauth.go
// for DMS and the admin endpoints), which is why the store knows nothing of
// either door.
type Credentials struct {
	keys map[string]accessKey
}

type accessKey struct {
	secret   string
	all      bool     // "*": every project
	projects []string // sorted
}

// ErrCredentials wraps every error of ParseCredentials.
var ErrCredentials = errors.New("httpapi: credentials")

// LoadCredentials reads a credentials file (see ParseCredentials).
func LoadCredentials(path string) (*Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	defer f.Close()
	return ParseCredentials(f)
}

// ParseCredentials reads one key per line, `ACCESS_KEY_ID SECRET
// PROJECT[,PROJECT...]`, where the project `*` stands for every project.
// Blank lines and lines starting with `#` are ignored. A malformed line or a
// key defined twice is an error naming the line.
func ParseCredentials(r io.Reader) (*Credentials, error) {
	c := &Credentials{keys: make(map[string]accessKey)}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: line %d: want ACCESS_KEY_ID SECRET PROJECT[,PROJECT...], got %d fields", ErrCredentials, line, len(f))
		}
		if _, dup := c.keys[f[0]]; dup {
			return nil, fmt.Errorf("%w: line %d: access key %q defined twice", ErrCredentials, line, f[0])
		}
		k := accessKey{secret: f[1]}
		for _, p := range strings.Split(f[2], ",") {
			switch {
			case p == "*":
				k.all = true
			case checkProject(p) == nil: // not empty either: "p," is a typo, not a project
				k.projects = append(k.projects, p)
			default:
				return nil, fmt.Errorf("%w: line %d: project %q is not 1-64 of [A-Za-z0-9_-] or *", ErrCredentials, line, p)
			}
		}
		slices.Sort(k.projects)
		c.keys[f[0]] = k
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	return c, nil
}

// admin reports whether access key id is an admin key: one listed for
// every project (*), which also opens the node endpoints (API.md section 5).
func (c *Credentials) admin(id string) bool {
	k, ok := c.keys[id]
	return ok && k.all
}

// Len is the number of access keys.
func (c *Credentials) Len() int { return len(c.keys) }

// secret returns the secret of access key id.
func (c *Credentials) secret(id string) (string, bool) {
	k, ok := c.keys[id]
	return k.secret, ok
}

// allows reports whether access key id may use project.
func (c *Credentials) allows(id, project string) bool {
	k, ok := c.keys[id]
	if !ok {
		return false
	}
	if k.all {
		return true
	}
	_, found := slices.BinarySearch(k.projects, project)
	return found
}

// ---- RocketMQ request signatures (API.md section 3) ----

// mqSignRequest is what a RocketMQ signature covers.
type mqSignRequest struct {
	method      string
	contentMD5  string
	contentType string
	date        string
	mqHeaders   []string // "name:value", names lower-cased; sorted by stringToSign
	resource    string   // raw path and query, exactly as received
}

// stringToSign builds METHOD\nMD5\nTYPE\nDATE\n + each x-mq-* header as
// name:value\n (sorted) + the resource.
func (r mqSignRequest) stringToSign() string {
	var b strings.Builder
	b.WriteString(r.method + "\n" + r.contentMD5 + "\n" + r.contentType + "\n" + r.date + "\n")
	hs := slices.Clone(r.mqHeaders)
	slices.Sort(hs)
	for _, h := range hs {
		b.WriteString(h + "\n")
	}
	b.WriteString(r.resource)
	return b.String()
}

// mqSignature is base64(HMAC-SHA1(secret, StringToSign)).
func mqSignature(secret string, r mqSignRequest) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(r.stringToSign()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// maxDateSkew is how far a request's Date may be from the server's clock.
const maxDateSkew = 15 * time.Minute

// parseMQAuthorization splits `MQ AccessKeyId:Signature`. It returns a
// *mqError (400) for a missing or malformed header.
func parseMQAuthorization(auth string) (id, sig string, err error) {
	if auth == "" {
		return "", "", &mqError{status: 400, code: "MissingAuthorizationHeader", msg: "the Authorization header is required"}
	}
	rest, ok := strings.CutPrefix(auth, "MQ ")
	id, sig, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || id == "" || sig == "" {
		return "", "", &mqError{status: 400, code: "InvalidAuthorizationHeader", msg: "the Authorization header must be MQ AccessKeyId:Signature"}
	}
	return id, sig, nil
}

// verifyMQ authenticates a RocketMQ request for project: the Authorization
// header `MQ id:signature`, the Date within maxDateSkew of now, the
// signature, and the key's right to the project. It returns a *mqError.
func (c *Credentials) verifyMQ(auth string, r mqSignRequest, project string, now time.Time) error {
	id, sig, err := parseMQAuthorization(auth)
	if err != nil {
		return err
	}
	if r.date == "" {
		return &mqError{status: 400, code: "MissingDateHeader", msg: "the Date header is required"}
	}
	at, err := http.ParseTime(r.date)
	if err != nil {
		return &mqError{status: 400, code: "InvalidDateHeader", msg: "the Date header is not an HTTP date"}
	}
	if d := now.Sub(at); d > maxDateSkew || d < -maxDateSkew {
		return &mqError{status: 403, code: "TimeExpired", msg: "the Date header is more than 15 minutes away from the server's time"}
	}
	secret, ok := c.secret(id)
	if !ok {
		return &mqError{status: 403, code: "InvalidAccessKeyId", msg: "the access key id does not exist"}
	}
	if !hmac.Equal([]byte(mqSignature(secret, r)), []byte(sig)) {
		return &mqError{status: 403, code: "SignatureDoesNotMatch", msg: "the request signature does not match"}
	}
	if !c.allows(id, project) {
		return &mqError{status: 403, code: "AccessDenied", msg: "the access key may not use this instance"}
	}
	return nil
}

// checkContentMD5 verifies a Content-MD5 header against the body. The
// official clients send base64 of the lower-case hex MD5 (even for an empty
// GET body); base64 of the raw MD5 (RFC 1864) is accepted too.
func checkContentMD5(header string, body []byte) error {
	if header == "" {
		return nil
	}
	sum := md5.Sum(body)
	hexSum := hex.EncodeToString(sum[:])
	if header == base64.StdEncoding.EncodeToString([]byte(hexSum)) || header == base64.StdEncoding.EncodeToString(sum[:]) {
		return nil
	}
	return &mqError{status: 400, code: "InvalidDigest", msg: "the Content-MD5 header does not match the body"}
}
