package httpapi

import (
	"fmt"
	"strings"
	"testing"
)

type queueTagsJSON struct {
	Tags []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"tags"`
}

func (q queueTagsJSON) String() string {
	var b strings.Builder
	for _, t := range q.Tags {
		fmt.Fprintf(&b, "%s=%s;", t.Key, t.Value)
	}
	return b.String()
}

func TestDMSv2_QueueTags(t *testing.T) {
	e := startEnv(t, nil)
	q := e.createQueue("p1", `{"name":"q"}`)
	q2 := e.createQueue("p1", `{"name":"q2"}`)
	other := e.createQueue("p2", `{"name":"q"}`)
	action := "/v2/p1/queue/" + q + "/tags/action"
	var got queueTagsJSON
	e.ok("GET", "/v2/p1/queue/"+q+"/tags", "", 200, &got)
	if got.Tags == nil || len(got.Tags) != 0 {
		t.Fatalf("no tags: %+v", got)
	}
	r := e.request("POST", action, `{"action":"create","tags":[{"key":"env","value":"prod"},{"key":"team","value":"a b"}]}`)
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	// The same key again takes the new value.
	e.ok("POST", action, `{"action":"create","tags":[{"key":"env","value":"staging"},{"key":"cost","value":""}]}`, 204, nil)
	e.ok("GET", "/v2/p1/queue/"+q+"/tags", "", 200, &got)
	if got.String() != "cost=;env=staging;team=a b;" {
		t.Fatalf("tags %s", got)
	}
	e.ok("POST", "/v2/p1/queue/"+q2+"/tags/action", `{"action":"create","tags":[{"key":"env","value":"prod"}]}`, 204, nil)
	e.ok("POST", "/v2/p2/queue/"+other+"/tags/action", `{"action":"create","tags":[{"key":"secret","value":"x"}]}`, 204, nil)
	var all struct {
		Tags []struct {
			Key    string   `json:"key"`
			Values []string `json:"values"`
		} `json:"tags"`
	}
	e.ok("GET", "/v2/p1/queue/tags", "", 200, &all)
	if fmt.Sprint(all.Tags) != "[{cost []} {env [prod staging]} {team [a b]}]" {
		t.Fatalf("project tags %+v", all.Tags)
	}
	// Delete by key; an absent key is ignored.
	e.ok("POST", action, `{"action":"delete","tags":[{"key":"cost"},{"key":"nope"}]}`, 204, nil)
	e.ok("GET", "/v2/p1/queue/"+q+"/tags", "", 200, &got)
	if got.String() != "env=staging;team=a b;" {
		t.Fatalf("after delete %s", got)
	}

	// Limits and bad input: 400 10540010, nothing changes.
	many := make([]string, 19)
	for i := range many {
		many[i] = fmt.Sprintf(`{"key":"k%d","value":"v"}`, i)
	}
	for _, body := range []string{
		`{"action":"update","tags":[{"key":"a","value":"b"}]}`,
		`{"tags":[{"key":"a","value":"b"}]}`,
		`{"action":"create","tags":[]}`,
		`{"action":"create","tags":[{"key":"","value":"b"}]}`,
		`{"action":"create","tags":[{"key":" a","value":"b"}]}`,
		`{"action":"create","tags":[{"key":"a","value":"b<"}]}`,
		`{"action":"create","tags":[{"key":"` + strings.Repeat("k", 129) + `","value":"b"}]}`,
		`{"action":"create","tags":[{"key":"a","value":"` + strings.Repeat("v", 256) + `"}]}`,
		`{"action":"create","tags":[{"key":"a","value":"b"},{"key":"a","value":"c"}]}`,
		`{"action":"create","tags":[{"key":1,"value":"b"}]}`,
		`{"action":"create","tags":[` + strings.Join(append(many, `{"key":"x","value":"y"}`, `{"key":"z","value":"y"}`), ",") + `]}`,
		// 19 new keys + 2 existing = 21: over the quota.
		`{"action":"create","tags":[` + strings.Join(many, ",") + `]}`,
		`not json`,
	} {
		e.fails("POST", action, body, 400, codeMalformed)
	}
	e.ok("GET", "/v2/p1/queue/"+q+"/tags", "", 200, &got)
	if got.String() != "env=staging;team=a b;" {
		t.Fatalf("after refused changes %s", got)
	}
	// Exactly 20 is fine.
	e.ok("POST", action, `{"action":"create","tags":[`+strings.Join(many[:18], ",")+`]}`, 204, nil)
	e.ok("GET", "/v2/p1/queue/"+q+"/tags", "", 200, &got)
	if len(got.Tags) != 20 {
		t.Fatalf("%d tags", len(got.Tags))
	}

	// Not found, other project, v1.0, wrong method.
	missing := "00000000-0000-4000-8000-000000000000"
	e.fails("GET", "/v2/p1/queue/"+missing+"/tags", "", 404, codeQueueNotFound)
	e.fails("GET", "/v2/p2/queue/"+q+"/tags", "", 404, codeQueueNotFound)
	e.fails("POST", "/v2/p1/queue/"+missing+"/tags/action", `{"action":"delete","tags":[{"key":"a"}]}`, 404, codeQueueNotFound)
	e.fails("GET", "/v1.0/p1/queue/"+q+"/tags", "", 404, codeUnknownPath)
	e.fails("GET", "/v1.0/p1/queue/tags", "", 404, codeUnknownPath)
	e.fails("POST", "/v2/p1/queue/"+q+"/tags", "", 405, codeUnknownPath)
	// Deleting the queue takes its tags away.
	e.ok("DELETE", "/v1.0/p1/queues/"+q, "", 204, nil)
	e.ok("GET", "/v2/p1/queue/tags", "", 200, &all)
	if fmt.Sprint(all.Tags) != "[{env [prod]}]" {
		t.Fatalf("project tags after delete %+v", all.Tags)
	}
	for _, c := range []struct{ method, path, op string }{
		{"GET", "/v2/p/queue/tags", "project_tags"},
		{"GET", "/v2/p/queue/x/tags", "queue_tags"},
		{"POST", "/v2/p/queue/x/tags/action", "queue_tags_action"},
	} {
		if door, op := classify(c.method, c.path, nil); door != "dms" || op != c.op {
			t.Errorf("classify(%s %s) = %s %s, want dms %s", c.method, c.path, door, op, c.op)
		}
	}
}
