package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// dmsClient is a small DMS v1.0 client for the multi-process tests. It spreads
// requests over the nodes and, like a real client, retries a request that got
// 503 or no answer on the next node.
type dmsClient struct {
	t       testing.TB
	nodes   []string // base URLs
	project string
	http    *http.Client
	next    atomic.Uint64
	// ak and sk, when set, sign every request (the DMS door's
	// SDK-HMAC-SHA256, with the official SDK's signer).
	ak, sk string
}

// signedAs returns c signing its requests with access key ak.
func (c *dmsClient) signedAs(ak, sk string) *dmsClient {
	c.ak, c.sk = ak, sk
	return c
}

func newDMSClient(t testing.TB, project string, nodes ...string) *dmsClient {
	return &dmsClient{t: t, nodes: nodes, project: project, http: &http.Client{Timeout: 15 * time.Second}}
}

// errRetryable is a 503 or a transport error: the outcome is unknown.
var errRetryable = errors.New("retryable")

// do sends one request to node (index into nodes) and decodes a 2xx answer.
func (c *dmsClient) do(node int, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.nodes[node]+"/v1.0/"+c.project+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.ak != "" {
		if req, err = sdkSign(req, c.ak, c.sk); err != nil {
			return 0, err
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errRetryable, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 503 {
		return 503, fmt.Errorf("%w: 503 %s", errRetryable, b)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %q: %w", b, err)
		}
	}
	return resp.StatusCode, nil
}

// must retries a request across nodes for up to 20 s while it is retryable.
func (c *dmsClient) must(method, path string, body, out any) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		node := int(c.next.Add(1) % uint64(len(c.nodes)))
		_, err := c.do(node, method, path, body, out)
		if err == nil {
			return
		}
		if !errors.Is(err, errRetryable) || time.Now().After(deadline) {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
		time.Sleep(100 * time.Millisecond) // client back-off between retries, as a real client does
	}
}

func (c *dmsClient) createQueue(name string, extra map[string]any) string {
	body := map[string]any{"name": name}
	for k, v := range extra {
		body[k] = v
	}
	var q struct{ ID string }
	c.must("POST", "/queues", body, &q)
	return q.ID
}

func (c *dmsClient) createGroup(queue, name string) string {
	var gs struct {
		Groups []struct{ ID string } `json:"groups"`
	}
	c.must("POST", "/queues/"+queue+"/groups", map[string]any{"groups": []map[string]string{{"name": name}}}, &gs)
	return gs.Groups[0].ID
}

type delivered struct {
	Message struct {
		Body json.RawMessage `json:"body"`
	} `json:"message"`
	Handler string `json:"handler"`
}

func (d delivered) value() string {
	var s string
	_ = json.Unmarshal(d.Message.Body, &s)
	return s
}

// produce sends one message with the given string value through node.
func (c *dmsClient) produce(node int, queue, value string) error {
	_, err := c.do(node, "POST", "/queues/"+queue+"/messages", map[string]any{"messages": []map[string]any{{"body": value}}}, nil)
	return err
}

// consume leases up to max messages through node.
func (c *dmsClient) consume(node int, queue, group string, max, wait int) ([]delivered, error) {
	var out []delivered
	_, err := c.do(node, "GET", fmt.Sprintf("/queues/%s/groups/%s/messages?max_msgs=%d&time_wait=%d&ack_wait=15", queue, group, max, wait), nil, &out)
	return out, err
}

// available returns the group's available_messages (in flight included).
func (c *dmsClient) available(node int, queue, group string) (int, error) {
	var out struct {
		Groups []struct {
			ID        string `json:"id"`
			Available int    `json:"available_messages"`
		} `json:"groups"`
	}
	if _, err := c.do(node, "GET", "/queues/"+queue+"/groups", nil, &out); err != nil {
		return 0, err
	}
	for _, g := range out.Groups {
		if g.ID == group {
			return g.Available, nil
		}
	}
	return 0, fmt.Errorf("group %s not listed", group)
}

// ack acknowledges ds with success through node.
func (c *dmsClient) ack(node int, queue, group string, ds []delivered) (int, error) {
	entries := make([]map[string]string, len(ds))
	for i, d := range ds {
		entries[i] = map[string]string{"handler": d.Handler, "status": "success"}
	}
	var res struct{ Success, Fail int }
	_, err := c.do(node, "POST", "/queues/"+queue+"/groups/"+group+"/ack", map[string]any{"message": entries}, &res)
	return res.Success, err
}

// clusterStatus is GET /v1/cluster.
type clusterStatus struct {
	NodeID     string `json:"node_id"`
	MetaLeader string `json:"meta_leader"`
	Nodes      []struct {
		ID    string `json:"id"`
		Alive bool   `json:"alive"`
		State string `json:"state"`
	} `json:"nodes"`
	Partitions []struct {
		ID        string   `json:"id"`
		QueueID   string   `json:"queue_id"`
		QueueName string   `json:"queue_name"`
		Project   string   `json:"project"`
		Replicas  []string `json:"replicas"`
		Leader    string   `json:"leader"`
	} `json:"partitions"`
}

func getStatus(base string) (clusterStatus, error) {
	var st clusterStatus
	resp, err := http.Get(base + "/v1/cluster")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("status %d", resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
