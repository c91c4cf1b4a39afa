package httpapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// wantMQClientError fails unless err is a RocketMQ 4xx.
func wantMQClientError(t *testing.T, what string, in []byte, err error) {
	t.Helper()
	var me *mqError
	if !errors.As(err, &me) || me.status < 400 || me.status >= 500 {
		t.Fatalf("%s %q: error %v is not a RocketMQ 4xx", what, in, err)
	}
}

// FuzzMQXMLBodies: any RocketMQ publish or ack body is decoded or refused
// with a 4xx, never a panic; a publish that decodes stores a JSON string
// body, attributes that are a JSON object every RocketMQ consumer reads back
// as the same map (no injected property), and an ack 1 to 16 handles.
func FuzzMQXMLBodies(f *testing.F) {
	for _, s := range []string{
		`<Message><MessageBody>a</MessageBody></Message>`,
		`<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mq.aliyuncs.com/doc/v1/"><MessageBody>b</MessageBody><MessageTag>T</MessageTag><Properties>KEYS:k|x:y|__STARTDELIVERTIME:1|</Properties></Message>`,
		`<Message><MessageBody><![CDATA[<c>]]></MessageBody><Properties>a:b:c|</Properties></Message>`,
		`<ReceiptHandles><ReceiptHandle>h1</ReceiptHandle><ReceiptHandle> h2 </ReceiptHandle></ReceiptHandles>`,
		`<Message><MessageBody>&#x0;</MessageBody></Message>`,
		`<!DOCTYPE x [<!ENTITY a "aaaa">]><Message><MessageBody>&a;</MessageBody></Message>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, text, err := mqMessage(body)
		if err != nil {
			wantMQClientError(t, "publish", body, err)
		} else {
			var s string
			if json.Unmarshal(m.Body, &s) != nil || s != text {
				t.Fatalf("publish %q: body %q is not the JSON string of %q", body, m.Body, text)
			}
			if len(m.Attributes) > 0 {
				var attrs map[string]string
				if err := json.Unmarshal(m.Attributes, &attrs); err != nil {
					t.Fatalf("publish %q: attributes %q: %v", body, m.Attributes, err)
				}
				for k, v := range attrs {
					if p := mqUserPropertyProblem(k, v); p != "" {
						t.Fatalf("publish %q: attribute %q=%q has %s", body, k, v, p)
					}
				}
			}
		}
		hs, err := parseMQAckHandles(body)
		if err != nil {
			wantMQClientError(t, "ack", body, err)
			return
		}
		if len(hs) < 1 || len(hs) > mqMaxAck {
			t.Fatalf("ack %q: %d handles", body, len(hs))
		}
		for _, h := range hs {
			if h == "" || h != strings.TrimSpace(h) {
				t.Fatalf("ack %q: handle %q", body, h)
			}
		}
	})
}

// FuzzParseMQAuthorization: the RocketMQ door's Authorization header parses
// into a non-empty id and signature or is a 400, never a panic.
func FuzzParseMQAuthorization(f *testing.F) {
	f.Add("MQ AK:c2lnbmF0dXJl")
	f.Add("MQ :")
	f.Add("MQ a:b:c")
	f.Add(sdkAlgorithm + " Access=AK")
	f.Fuzz(func(t *testing.T, v string) {
		id, sig, err := parseMQAuthorization(v)
		if err != nil {
			var me *mqError
			if !errors.As(err, &me) || me.status != 400 {
				t.Fatalf("%q: %v is not a 400", v, err)
			}
			return
		}
		if id == "" || sig == "" || strings.Contains(id, ":") || "MQ "+id+":"+sig != v {
			t.Fatalf("%q: parsed into %q %q", v, id, sig)
		}
	})
}

// FuzzParseCredentials: any credentials file parses or is refused with an
// error matching ErrCredentials, never a panic; what parses holds secrets
// without spaces and valid project names, and a key's permissions are what
// its line says.
func FuzzParseCredentials(f *testing.F) {
	f.Add("# keys\nAK SECRET MQ_INST_1,other\n\nALL S2 *\n")
	f.Add("AK S p\nAK S2 q\n")
	f.Add("AK S p,\n")
	f.Add("AK S p q\n")
	f.Add("  AK\tS\t*,p  \r\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseCredentials(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrCredentials) {
				t.Fatalf("%q: error %v does not match ErrCredentials", in, err)
			}
			return
		}
		for id, k := range c.keys {
			if id == "" || k.secret == "" || strings.ContainsAny(id+k.secret, " \t\r\n") {
				t.Fatalf("%q: key %q secret %q", in, id, k.secret)
			}
			for _, p := range k.projects {
				if checkProject(p) != nil || !c.allows(id, p) {
					t.Fatalf("%q: key %q project %q", in, id, p)
				}
			}
			if c.admin(id) != k.all || (k.all && !c.allows(id, "any-project")) {
				t.Fatalf("%q: key %q admin %v all %v", in, id, c.admin(id), k.all)
			}
		}
	})
}
