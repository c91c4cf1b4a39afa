package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// maxSendBatch is how many messages one produce request carries (DMS allows 1-10).
const maxSendBatch = 10

// bodyValue is BODY as the API takes it: a BODY that parses as JSON is that
// JSON value, anything else a JSON string.
func bodyValue(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

func (c *cmdClient) send(args []string) error {
	fs := c.flags("send", "QUEUE [BODY...]  (no BODY: one message per line of standard input)")
	dedup := fs.String("dedup-prefix", "", "give message i the dedup_id PREFIX-i, so that running the same send again within 5 minutes stores nothing twice")
	pos, err := c.parse(fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usagef("send: want a QUEUE")
	}
	q, err := c.findQueue(pos[0])
	if err != nil {
		return err
	}
	bodies := pos[1:]
	if len(bodies) == 0 {
		sc := bufio.NewScanner(c.stdin)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			if line := sc.Text(); line != "" {
				bodies = append(bodies, line)
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("send: reading standard input: %w", err)
		}
	}
	var ids []string
	for len(bodies) > 0 {
		n := min(len(bodies), maxSendBatch)
		got, err := c.produce(q, bodies[:n], dedupIDs(*dedup, len(ids), n))
		ids = append(ids, got...)
		if err != nil {
			if len(ids) > 0 {
				fmt.Fprintf(c.stderr, "raftmq: %d message(s) were sent before the error\n", len(ids))
			}
			return err
		}
		bodies = bodies[n:]
	}
	if c.Output == "json" {
		return c.printJSON(map[string]any{"sent": len(ids), "ids": ids})
	}
	_, err = fmt.Fprintf(c.stdout, "sent %d message(s) to %s\n", len(ids), q.Name)
	return err
}

// dedupIDs returns the dedup_ids of n messages from the first-th on, or nil
// without a prefix.
func dedupIDs(prefix string, first, n int) []string {
	if prefix == "" {
		return nil
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = prefix + "-" + strconv.Itoa(first+i)
	}
	return ids
}

// produce sends one batch (with dedup, when not nil, a dedup_id per message)
// and returns the ids of the messages stored.
func (c *cmdClient) produce(q queueInfo, bodies, dedup []string) ([]string, error) {
	type msg struct {
		Body    json.RawMessage `json:"body"`
		DedupID string          `json:"dedup_id,omitempty"`
	}
	req := struct {
		Messages []msg `json:"messages"`
		ReturnID bool  `json:"returnId"`
	}{ReturnID: true}
	for i, b := range bodies {
		m := msg{Body: bodyValue(b)}
		if dedup != nil {
			m.DedupID = dedup[i]
		}
		req.Messages = append(req.Messages, m)
	}
	var out struct {
		Messages []struct {
			ID    string `json:"id"`
			State int    `json:"state"`
		} `json:"messages"`
	}
	if err := c.do("POST", c.dms("/queues/"+url.PathEscape(q.ID)+"/messages"), req, 201, &out); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(out.Messages))
	for _, m := range out.Messages {
		ids = append(ids, m.ID)
	}
	return ids, nil
}

// received is one message as `receive -o json` prints it.
type received struct {
	Body       json.RawMessage `json:"body"`
	Attributes json.RawMessage `json:"attributes"`
	Handler    string          `json:"handler"`
}

func (c *cmdClient) receive(args []string) error {
	fs := c.flags("receive", "QUEUE GROUP [--max N] [--wait S] [--no-ack]")
	maxN := fs.Int("max", 10, "at most N messages (1-10)")
	wait := fs.Int("wait", 3, "seconds to wait for the first message (1-60)")
	noAck := fs.Bool("no-ack", false, "do not acknowledge: the messages come back after their lease")
	ackWait := fs.Int("ack-wait", 30, "lease length in seconds (15-300)")
	pos, err := c.parse(fs, args, 2)
	if err != nil {
		return err
	}
	q, g, err := c.findQueueGroup(pos[0], pos[1])
	if err != nil {
		return err
	}
	base := "/queues/" + url.PathEscape(q.ID) + "/groups/" + url.PathEscape(g.ID)
	query := "?max_msgs=" + strconv.Itoa(*maxN) + "&time_wait=" + strconv.Itoa(*wait) + "&ack_wait=" + strconv.Itoa(*ackWait)
	var got []struct {
		Message struct {
			Body       json.RawMessage `json:"body"`
			Attributes json.RawMessage `json:"attributes"`
		} `json:"message"`
		Handler string `json:"handler"`
	}
	if err := c.do("GET", c.dms(base+"/messages"+query), nil, 200, &got); err != nil {
		return err
	}
	out := make([]received, 0, len(got))
	for _, m := range got {
		attrs := m.Message.Attributes
		if len(attrs) == 0 {
			attrs = json.RawMessage("{}")
		}
		out = append(out, received{Body: m.Message.Body, Attributes: attrs, Handler: m.Handler})
	}
	if err := c.printReceived(out); err != nil {
		return err
	}
	if *noAck || len(out) == 0 {
		return nil
	}
	return c.ack(base, out)
}

// printReceived prints messages: a JSON array, or one body per line (a
// string body as its text).
func (c *cmdClient) printReceived(ms []received) error {
	if c.Output == "json" {
		return c.printJSON(ms)
	}
	for _, m := range ms {
		var s string
		if json.Unmarshal(m.Body, &s) != nil {
			s = string(m.Body)
		}
		if _, err := fmt.Fprintln(c.stdout, s); err != nil {
			return err
		}
	}
	return nil
}

// ack acknowledges what receive printed; a partial ack is an error (the rest
// will be delivered again).
func (c *cmdClient) ack(base string, ms []received) error {
	type entry struct {
		Handler string `json:"handler"`
		Status  string `json:"status"`
	}
	req := struct {
		Message []entry `json:"message"`
	}{}
	for _, m := range ms {
		req.Message = append(req.Message, entry{m.Handler, "success"})
	}
	var out struct {
		Success int `json:"success"`
		Fail    int `json:"fail"`
	}
	if err := c.do("POST", c.dms(base+"/ack"), req, 200, &out); err != nil {
		return err
	}
	if out.Fail > 0 {
		return fmt.Errorf("ack: %d of %d message(s) not acknowledged; they will be delivered again", out.Fail, len(ms))
	}
	return nil
}
