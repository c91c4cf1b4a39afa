package httpapi

import (
	"strings"
	"testing"
)

func TestDMS_DedupIDStoresOnce(t *testing.T) {
	e := startEnv(t, nil)
	qid := e.createQueue("p1", `{"name":"dedup"}`)
	path := "/v1.0/p1/queues/" + qid + "/messages"
	type answer struct {
		Messages []struct {
			State int    `json:"state"`
			ID    string `json:"id"`
		} `json:"messages"`
	}
	var first, retry answer
	e.ok("POST", path, `{"returnId":true,"messages":[{"body":"a","dedup_id":"order-1"},{"body":"b","dedup_id":"order-2"},{"body":"a2","dedup_id":"order-1"},{"body":"c"}]}`, 201, &first)
	if len(first.Messages) != 4 || first.Messages[2].ID != first.Messages[0].ID || first.Messages[1].ID == first.Messages[0].ID {
		t.Fatalf("first produce %+v", first)
	}
	e.wantProduced("p1", qid, 3)
	// A retry (whatever its body) answers the first ids and stores nothing.
	e.ok("POST", path, `{"returnId":true,"messages":[{"body":"other","dedup_id":"order-2"},{"body":"x","dedup_id":"order-1"}]}`, 201, &retry)
	if retry.Messages[0].ID != first.Messages[1].ID || retry.Messages[1].ID != first.Messages[0].ID {
		t.Fatalf("retry %+v, first %+v", retry, first)
	}
	e.wantProduced("p1", qid, 3)
	gid := e.createGroup("p1", qid, "g")
	got := e.consumeN("p1", qid, gid, "messages", 3, "")
	var bodies []string
	for _, m := range got {
		bodies = append(bodies, string(m.Message.Body))
	}
	if strings.Count(strings.Join(bodies, ","), `"a"`) != 1 || strings.Contains(strings.Join(bodies, ","), "other") {
		t.Fatalf("consumed %v", bodies)
	}
}

func TestDMS_DedupIDRefusals(t *testing.T) {
	e := startEnv(t, nil)
	qid := e.createQueue("p1", `{"name":"dedupbad"}`)
	path := "/v1.0/p1/queues/" + qid + "/messages"
	for _, id := range []string{`""`, `"has space"`, `"` + strings.Repeat("x", 129) + `"`, `7`, `{}`, `"é"`} {
		e.fails("POST", path, `{"messages":[{"body":1,"dedup_id":`+id+`}]}`, 400, codeMalformed)
	}
	e.ok("POST", path, `{"messages":[{"body":1,"dedup_id":"`+strings.Repeat("x", 128)+`"},{"body":2,"dedup_id":null}]}`, 201, nil)
	e.ok("POST", path, `{"messages":[{"body":1,"dedup_id":"A-z_0.9:"}]}`, 201, nil)
	e.wantProduced("p1", qid, 3)
}
