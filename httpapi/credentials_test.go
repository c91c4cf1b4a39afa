package httpapi

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The test vectors of API.md section 3.
func TestMQSignature_Vectors(t *testing.T) {
	base := mqSignRequest{
		contentType: "text/xml;charset=utf-8",
		date:        "Thu, 01 Jan 2026 00:00:00 GMT",
		mqHeaders:   []string{"x-mq-version:2015-06-06"},
	}
	get := base
	get.method, get.contentMD5 = "GET", "ZDQxZDhjZDk4ZjAwYjIwNGU5ODAwOTk4ZWNmODQyN2U="
	get.resource = "/topics/TopicA/messages?consumer=GID_1&ns=MQ_INST_1&numOfMessages=3&waitseconds=5&tag=TagA%7C%7CTagB"
	if got := mqSignature("SECRET", get); got != "v1UCim+i6mLunEzNnYB4MlrSo3M=" {
		t.Errorf("GET signature %s", got)
	}
	del := base
	del.method, del.contentMD5 = "DELETE", "YzVkMzNjNzliZmNjMmNkZjcwNDNjMmEzZjFhN2E4YTI="
	del.resource = "/topics/TopicA/messages?consumer=GID_1&ns=MQ_INST_1"
	if got := mqSignature("SECRET", del); got != "YkjU/vXF86WVXs44BdPjQQIeQ6A=" {
		t.Errorf("DELETE signature %s", got)
	}
	// The GET vector's Content-MD5 is the official client's digest of an empty body.
	if err := checkContentMD5(get.contentMD5, nil); err != nil {
		t.Errorf("empty body digest: %v", err)
	}
	if err := checkContentMD5(get.contentMD5, []byte("x")); err == nil {
		t.Error("wrong digest accepted")
	}

	creds, err := ParseCredentials(strings.NewReader("# keys\nAK SECRET MQ_INST_1,other\n\nALL S2 *\n"))
	if err != nil {
		t.Fatal(err)
	}
	now, _ := time.Parse(time.RFC1123, get.date)
	code := func(auth string, r mqSignRequest, project string, now time.Time) string {
		if err := creds.verifyMQ(auth, r, project, now); err != nil {
			var me *mqError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not an mqError", err)
			}
			return me.code
		}
		return ""
	}
	for _, tt := range []struct {
		name, auth, project string
		now                 time.Time
		want                string
	}{
		{"good", "MQ AK:v1UCim+i6mLunEzNnYB4MlrSo3M=", "MQ_INST_1", now, ""},
		{"14 min skew", "MQ AK:v1UCim+i6mLunEzNnYB4MlrSo3M=", "MQ_INST_1", now.Add(14 * time.Minute), ""},
		{"16 min skew", "MQ AK:v1UCim+i6mLunEzNnYB4MlrSo3M=", "MQ_INST_1", now.Add(-16 * time.Minute), "TimeExpired"},
		{"unknown key", "MQ XX:v1UCim+i6mLunEzNnYB4MlrSo3M=", "MQ_INST_1", now, "InvalidAccessKeyId"},
		{"bad signature", "MQ AK:AAAAim+i6mLunEzNnYB4MlrSo3M=", "MQ_INST_1", now, "SignatureDoesNotMatch"},
		{"other project", "MQ AK:v1UCim+i6mLunEzNnYB4MlrSo3M=", "MQ_INST_2", now, "AccessDenied"},
		{"missing", "", "MQ_INST_1", now, "MissingAuthorizationHeader"},
		{"malformed", "Basic abc", "MQ_INST_1", now, "InvalidAuthorizationHeader"},
	} {
		if got := code(tt.auth, get, tt.project, tt.now); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	noDate := get
	noDate.date = ""
	if got := code("MQ AK:x", noDate, "MQ_INST_1", now); got != "MissingDateHeader" {
		t.Errorf("no date: %q", got)
	}
	if !creds.allows("ALL", "anything") || creds.allows("AK", "nope") {
		t.Error("project rights")
	}
}

func TestParseCredentials_Errors(t *testing.T) {
	for _, in := range []string{"AK SECRET", "AK S p1\nAK S p2", "AK S bad/project", "AK S a b", "AK S p,", "AK S ,", "AK S " + strings.Repeat("p", 65)} {
		if _, err := ParseCredentials(strings.NewReader(in)); !errors.Is(err, ErrCredentials) {
			t.Errorf("%q: %v", in, err)
		}
	}
}
