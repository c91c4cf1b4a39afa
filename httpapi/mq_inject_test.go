package httpapi

import (
	"strings"
	"testing"

	"raftmq/cluster"
	"raftmq/fsm"
)

// DMS attributes cannot inject RocketMQ properties (KEYS,
// __STARTDELIVERTIME, ...) into what RocketMQ consumers read: a | anywhere, a
// : in a name, or a reserved name is refused with 400 10540010; what is
// accepted reaches RocketMQ as the same map.
func TestDMSAttributes_CannotInjectRocketMQProperties(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("default", `{"name":"TopicI"}`)
	path := "/v1.0/default/queues/" + q + "/messages"
	for _, attrs := range []string{
		`{"x":"1|KEYS:evil|__STARTDELIVERTIME:99999999999999"}`,
		`{"x":"a\u007cKEYS:evil"}`,
		`{"a|KEYS":"v"}`,
		`{"KEYS:x":"y"}`,
		`{"KEYS":"k"}`,
		`{"__STARTDELIVERTIME":"1"}`,
		`{"__SHARDINGKEY":"s"}`,
		`{"":"v"}`,
		`{"n":{"s":"a|KEYS:b"}}`,
		`{"n":["|"]}`,
	} {
		e.fails("POST", path, `{"messages":[{"body":"b","attributes":`+attrs+`}]}`, 400, codeMalformed)
	}
	e.ok("POST", path, `{"messages":[{"body":"ok","attributes":{"k":"a:b","n":1,"o":{"x":"y"}}}]}`, 201, nil)
	r := e.request("GET", "/topics/TopicI/messages?consumer=GID_I&numOfMessages=16", "")
	if r.status != 200 {
		t.Fatalf("consume: %d %s", r.status, r.body)
	}
	if n := strings.Count(string(r.body), "<Message>"); n != 1 {
		t.Fatalf("%d messages, want 1: %s", n, r.body)
	}
	if !strings.Contains(string(r.body), `<Properties>k:a:b|n:1|o:{&#34;x&#34;:&#34;y&#34;}|</Properties>`) {
		t.Fatalf("properties: %s", r.body)
	}
}

// A message stored before produce refused such attributes is shown to
// RocketMQ consumers without them, never with injected properties.
func TestMQPropertiesText_LeavesOutUnsafeStoredAttributes(t *testing.T) {
	var d cluster.Delivery
	d.Message = fsm.Message{
		Attributes: []byte(`{"ok":"v","x":"1|KEYS:evil","KEYS":"k","a:b":"c","__X":"1"}`),
		Props:      []byte("KEYS:real|"),
	}
	if got, want := mqPropertiesText(d), "ok:v|KEYS:real|"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
