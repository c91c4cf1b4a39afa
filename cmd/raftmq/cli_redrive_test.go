package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"raftmq/cluster/clustertest"
)

// TestCLI_GroupRedrive dead-letters two messages (through the DMS API, with
// failed acks), then redrives them with the command line: one with --max 1,
// then the rest, and receives both from the normal lane.
func TestCLI_GroupRedrive(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	srv := "--server=" + p.URL()
	mustRun(t, "", "queue", "create", "orders", "--redrive", "1", srv)
	mustRun(t, "", "group", "create", "orders", "billing", srv)
	mustRun(t, "", "send", "orders", `"a"`, `"b"`, srv)
	var shown struct {
		ID     string      `json:"id"`
		Groups []groupInfo `json:"groups"`
	}
	decode(t, mustRun(t, "", "queue", "show", "orders", "-o", "json", srv), &shown)
	group := p.URL() + "/v1.0/default/queues/" + shown.ID + "/groups/" + shown.Groups[0].ID
	for failed := 0; failed < 2; {
		resp, err := http.Get(group + "/messages?max_msgs=10&time_wait=5")
		if err != nil {
			t.Fatal(err)
		}
		var ms []struct {
			Handler string `json:"handler"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ms)
		resp.Body.Close()
		if err != nil || len(ms) == 0 {
			t.Fatalf("consume: %v, %d messages", err, len(ms))
		}
		for _, m := range ms {
			body := fmt.Sprintf(`{"message":[{"handler":%q,"status":"fail"}]}`, m.Handler)
			resp, err := http.Post(group+"/ack", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("fail ack: %d %s", resp.StatusCode, b)
			}
			failed++
		}
	}
	var out struct {
		Group    string `json:"group"`
		Redriven int    `json:"redriven"`
	}
	decode(t, mustRun(t, "", "group", "redrive", "orders", "billing", "--max", "1", "-o", "json", srv), &out)
	if out.Group != "billing" || out.Redriven != 1 {
		t.Fatalf("redrive --max 1: %+v", out)
	}
	if text := mustRun(t, "", "group", "redrive", "orders", "billing", srv); !strings.Contains(text, "redrove 1 dead letters") {
		t.Fatalf("redrive: %q", text)
	}
	var got []received
	decode(t, mustRun(t, "", "receive", "orders", "billing", "--wait", "2", "-o", "json", srv), &got)
	if len(got) != 2 {
		t.Fatalf("received %d redriven messages, want 2", len(got))
	}
	if _, errOut, code := runBin(t, "", "group", "redrive", "orders", "nobody", srv); code != 1 || !strings.Contains(errOut, "10240405") {
		t.Fatalf("unknown group: exit %d, %q", code, errOut)
	}
	if _, _, code := runBin(t, "", "group", "redrive", "orders", "billing", "--max", "-1", srv); code != 2 {
		t.Fatalf("--max -1: exit %d, want 2 (usage)", code)
	}
}
