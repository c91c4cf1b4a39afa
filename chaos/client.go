package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// client speaks DMS v1.0 to the nodes and records every message op.
type client struct {
	h       *History
	http    *http.Client
	project string
	nodes   []*Proc
}

// answer is what came back: the status (0 for none) and body.
type answer struct {
	status int
	body   []byte
	err    error
}

func (a answer) outcome() Outcome {
	switch {
	case a.err == nil && a.status/100 == 2:
		return OK
	case a.err == nil && (a.status/100 == 4 || a.status == 507):
		// 507: produce refused for want of disk space, before anything
		// was proposed; a value so refused must never be delivered.
		return Error
	default:
		return Unknown
	}
}

func (a answer) errText() string {
	if a.err != nil {
		return a.err.Error()
	}
	if a.status/100 != 2 {
		return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body))
	}
	return ""
}

func (c *client) do(ctx context.Context, node *Proc, method, path string, body any, timeout time.Duration) answer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := node.HTTP() + path
	if strings.HasPrefix(path, "/queues") {
		url = node.HTTP() + "/v1.0/" + c.project + path
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return answer{status: resp.StatusCode, body: b, err: err}
}

// queueRef names a queue of the workload.
type queueRef struct {
	Name string // "normal" or "fifo"
	ID   string
	// Groups maps the workload's group name to the group id.
	Groups map[string]string
}

func (c *client) produce(ctx context.Context, proc string, node *Proc, q queueRef, values []string) Op {
	return c.produceWith(ctx, proc, node, q, values, false)
}

// produceDedup is produce with each value as its message's dedup_id.
func (c *client) produceDedup(ctx context.Context, proc string, node *Proc, q queueRef, values []string) Op {
	return c.produceWith(ctx, proc, node, q, values, true)
}

func (c *client) produceWith(ctx context.Context, proc string, node *Proc, q queueRef, values []string, dedup bool) Op {
	msgs := make([]map[string]any, len(values))
	for i, v := range values {
		msgs[i] = map[string]any{"body": v}
		if dedup {
			msgs[i]["dedup_id"] = v
		}
	}
	op := Op{Kind: KindProduce, Proc: proc, Node: node.ID, Queue: q.Name, Values: values, Call: c.h.Now()}
	if dedup {
		op.DedupIDs = values
	}
	a := c.do(ctx, node, "POST", "/queues/"+q.ID+"/messages", map[string]any{"messages": msgs, "returnId": true}, 6*time.Second)
	op.Ret, op.Status, op.Outcome, op.Err = c.h.Now(), a.status, a.outcome(), a.errText()
	if op.Outcome == OK {
		var res struct {
			Messages []struct {
				ID string `json:"id"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(a.body, &res); err != nil || len(res.Messages) != len(values) {
			op.Outcome, op.Err = Unknown, fmt.Sprintf("bad 201 body %q: %v", a.body, err)
		}
		for _, m := range res.Messages {
			op.IDs = append(op.IDs, m.ID)
		}
	}
	c.h.Add(op)
	return op
}

func (c *client) consume(ctx context.Context, proc string, node *Proc, q queueRef, group string, dlq bool, max, wait int, ackWait int64) Op {
	door := "messages"
	if dlq {
		door = "deadletters"
	}
	op := Op{Kind: KindConsume, Proc: proc, Node: node.ID, Queue: q.Name, Group: group, DLQ: dlq, AckWaitMs: ackWait * 1000, Call: c.h.Now()}
	a := c.do(ctx, node, "GET", fmt.Sprintf("/queues/%s/groups/%s/%s?max_msgs=%d&time_wait=%d&ack_wait=%d", q.ID, q.Groups[group], door, max, wait, ackWait), nil, time.Duration(wait+6)*time.Second)
	op.Ret, op.Status, op.Outcome, op.Err = c.h.Now(), a.status, a.outcome(), a.errText()
	if op.Outcome == OK {
		var ds []struct {
			Message struct {
				Body json.RawMessage `json:"body"`
			} `json:"message"`
			Handler string `json:"handler"`
		}
		if err := json.Unmarshal(a.body, &ds); err != nil {
			op.Outcome, op.Err = Unknown, fmt.Sprintf("bad 200 body %q: %v", a.body, err)
		}
		for _, d := range ds {
			var v string
			if err := json.Unmarshal(d.Message.Body, &v); err != nil {
				v = string(d.Message.Body) // not ours: the unexpected checker reports it
			}
			op.Deliveries = append(op.Deliveries, Delivery{Value: v, Handler: d.Handler})
		}
	}
	c.h.Add(op)
	return op
}

func (c *client) ack(ctx context.Context, proc string, node *Proc, q queueRef, group string, dlq bool, entries []AckEntry) Op {
	door := "ack"
	if dlq {
		door = "deadletters/ack"
	}
	body := make([]map[string]string, len(entries))
	for i, e := range entries {
		st := "success"
		if e.Fail {
			st = "fail"
		}
		body[i] = map[string]string{"handler": e.Handler, "status": st}
	}
	op := Op{Kind: KindAck, Proc: proc, Node: node.ID, Queue: q.Name, Group: group, DLQ: dlq, Entries: entries, Call: c.h.Now()}
	a := c.do(ctx, node, "POST", fmt.Sprintf("/queues/%s/groups/%s/%s", q.ID, q.Groups[group], door), map[string]any{"message": body}, 6*time.Second)
	op.Ret, op.Status, op.Outcome, op.Err = c.h.Now(), a.status, a.outcome(), a.errText()
	if op.Outcome == OK {
		var res struct {
			Success      int `json:"success"`
			Fail         int `json:"fail"`
			FirstFailure *struct {
				Reason string `json:"reason"`
			} `json:"first_failure"`
		}
		if err := json.Unmarshal(a.body, &res); err != nil {
			op.Outcome, op.Err = Unknown, fmt.Sprintf("bad 200 body %q: %v", a.body, err)
		}
		op.Success, op.Fail = res.Success, res.Fail
		if res.FirstFailure != nil {
			op.Reason = res.FirstFailure.Reason
		}
	}
	c.h.Add(op)
	return op
}

// mustJSON sends a catalogue request, retrying through every node for up to
// 60 s while the answer is 5xx or absent.
func (c *client) mustJSON(ctx context.Context, method, path string, body, out any) error {
	deadline := time.Now().Add(60 * time.Second)
	var last answer
	for k := 0; k < 600 && time.Now().Before(deadline); k++ {
		last = c.do(ctx, c.nodes[k%len(c.nodes)], method, path, body, 10*time.Second)
		switch last.outcome() {
		case OK:
			if out == nil {
				return nil
			}
			return json.Unmarshal(last.body, out)
		case Error:
			return fmt.Errorf("chaos: %s %s: %s", method, path, last.errText())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond): // client back-off
		}
	}
	return fmt.Errorf("chaos: %s %s: %s", method, path, last.errText())
}

// clusterStatus is GET /v1/cluster.
type clusterStatus struct {
	NodeID     string       `json:"node_id"`
	MetaLeader string       `json:"meta_leader"`
	Nodes      []nodeStatus `json:"nodes"`
	Partitions []struct {
		ID       string   `json:"id"`
		QueueID  string   `json:"queue_id"`
		Replicas []string `json:"replicas"`
		Leader   string   `json:"leader"`
	} `json:"partitions"`
}

// nodeStatus is one node of GET /v1/cluster.
type nodeStatus struct {
	ID    string `json:"id"`
	Alive bool   `json:"alive"`
	State string `json:"state"` // alive, suspect, dead, decommissioning
}

func (c *client) status(ctx context.Context, node *Proc) (clusterStatus, error) {
	var st clusterStatus
	a := c.do(ctx, node, "GET", "/v1/cluster", nil, 2*time.Second)
	if a.outcome() != OK {
		return st, fmt.Errorf("chaos: %s /v1/cluster: %s", node.ID, a.errText())
	}
	return st, json.Unmarshal(a.body, &st)
}

// replicaDigest is one entry of GET /v1/digests.
type replicaDigest struct {
	Partition    string `json:"partition"`
	AppliedIndex uint64 `json:"applied_index"`
	Digest       string `json:"digest"`
	Term         uint64 `json:"term"`
}

func (c *client) digests(ctx context.Context, node *Proc) ([]replicaDigest, error) {
	var out struct {
		Replicas []replicaDigest `json:"replicas"`
	}
	a := c.do(ctx, node, "GET", "/v1/digests", nil, 2*time.Second)
	if a.outcome() != OK {
		return nil, fmt.Errorf("chaos: %s /v1/digests: %s", node.ID, a.errText())
	}
	return out.Replicas, json.Unmarshal(a.body, &out)
}

// setClockOffset sets node's clock offset through the TEST ONLY endpoint
// of raftmq serve --unsafe-test-clock (httpapi.ClockOffsetPath) and checks
// the answer.
func (c *client) setClockOffset(ctx context.Context, node *Proc, offset time.Duration) error {
	const path = "/internal/test/clock-offset"
	a := c.do(ctx, node, "POST", fmt.Sprintf("%s?ms=%d", path, offset.Milliseconds()), nil, 5*time.Second)
	if a.outcome() != OK {
		return fmt.Errorf("chaos: POST %s?ms=%d on %s: %s", path, offset.Milliseconds(), node.ID, a.errText())
	}
	var res struct {
		OffsetMs *int64 `json:"offset_ms"`
	}
	if err := json.Unmarshal(a.body, &res); err != nil || res.OffsetMs == nil || *res.OffsetMs != offset.Milliseconds() {
		return fmt.Errorf("chaos: POST %s?ms=%d on %s answered %q", path, offset.Milliseconds(), node.ID, a.body)
	}
	return nil
}
