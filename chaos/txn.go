package chaos

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// This file is the workload's transactional producer (the RocketMQ door's
// half messages: publish, commit or rollback, check-back) and its
// deduplicating producer (DMS dedup_id, retried after an unknown outcome).

// txnCheckSeconds is the half messages' __TransCheckT: the shortest allowed,
// so that a crashed producer's half messages come back within a run.
const txnCheckSeconds = 10

// txnCommits reports whether a transactional value is one its producer
// commits ("...-c"); the others ("...-r") it rolls back. Whoever ends a half
// message (the producer, or the check-back after a crash) decides by this.
func txnCommits(v string) bool { return strings.HasSuffix(v, "-c") }

// doRaw sends body as it is (RocketMQ XML) to node.
func (c *client) doRaw(ctx context.Context, node *Proc, method, path string, body []byte, timeout time.Duration) answer {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, node.HTTP()+path, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "text/xml;charset=utf-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return answer{status: resp.StatusCode, body: b, err: err}
}

func (c *client) topicPath(q queueRef, query string) string {
	return "/topics/" + q.Name + "/messages?ns=" + c.project + query
}

// txnPublish publishes value as a half message.
func (c *client) txnPublish(ctx context.Context, proc string, node *Proc, q queueRef, value string) Op {
	body := fmt.Sprintf("<Message><MessageBody>%s</MessageBody><Properties>__TransCheckT:%d|</Properties></Message>", value, txnCheckSeconds)
	op := Op{Kind: KindTxnPublish, Proc: proc, Node: node.ID, Queue: q.Name, Values: []string{value}, Call: c.h.Now()}
	a := c.doRaw(ctx, node, "POST", c.topicPath(q, ""), []byte(body), 6*time.Second)
	op.Ret, op.Status, op.Outcome, op.Err = c.h.Now(), a.status, a.outcome(), a.errText()
	if op.Outcome == OK {
		var res struct {
			Handle string `xml:"ReceiptHandle"`
		}
		if err := xml.Unmarshal(a.body, &res); err != nil || res.Handle == "" {
			op.Outcome, op.Err = Unknown, fmt.Sprintf("bad 201 body %q: %v", a.body, err)
		}
		op.Handles = []string{res.Handle}
	}
	c.h.Add(op)
	return op
}

// txnEnd commits or rolls back the half message value with handle.
func (c *client) txnEnd(ctx context.Context, proc string, node *Proc, q queueRef, value, handle string, commit bool) Op {
	trans := "rollback"
	if commit {
		trans = "commit"
	}
	body := "<ReceiptHandles><ReceiptHandle>" + handle + "</ReceiptHandle></ReceiptHandles>"
	op := Op{Kind: KindTxnEnd, Proc: proc, Node: node.ID, Queue: q.Name, Values: []string{value}, Handles: []string{handle},
		Commit: commit, Call: c.h.Now()}
	a := c.doRaw(ctx, node, "DELETE", c.topicPath(q, "&consumer=&trans="+trans), []byte(body), 6*time.Second)
	op.Ret, op.Status, op.Outcome, op.Err = c.h.Now(), a.status, a.outcome(), a.errText()
	c.h.Add(op)
	return op
}

// txnPop asks for the half messages due for a check.
func (c *client) txnPop(ctx context.Context, proc string, node *Proc, q queueRef, wait int) Op {
	op := Op{Kind: KindTxnCheck, Proc: proc, Node: node.ID, Queue: q.Name, Call: c.h.Now()}
	a := c.doRaw(ctx, node, "GET", c.topicPath(q, fmt.Sprintf("&consumer=GID_CHAOS&trans=pop&numOfMessages=16&waitseconds=%d", wait)), nil,
		time.Duration(wait+6)*time.Second)
	op.Ret, op.Status, op.Outcome, op.Err = c.h.Now(), a.status, a.outcome(), a.errText()
	if a.status == 404 && bytes.Contains(a.body, []byte("MessageNotExist")) {
		op.Outcome, op.Err = OK, "" // nothing due
	} else if op.Outcome == OK {
		var res struct {
			Messages []struct {
				Body   string `xml:"MessageBody"`
				Handle string `xml:"ReceiptHandle"`
			} `xml:"Message"`
		}
		if err := xml.Unmarshal(a.body, &res); err != nil {
			op.Outcome, op.Err = Unknown, fmt.Sprintf("bad 200 body %q: %v", a.body, err)
		}
		for _, m := range res.Messages {
			op.Values = append(op.Values, m.Body)
			op.Handles = append(op.Handles, m.Handle)
		}
	}
	c.h.Add(op)
	return op
}

// txnProducer publishes half messages t<n>-c (committed) and t<n>-r (rolled
// back) to the NORMAL queue at Workload.TxnRate, and ends each one, except
// that 15% of the time it "crashes" before the end: the check-back ends those.
func (w *workload) txnProducer(ctx context.Context) {
	defer w.wg.Done()
	rng := w.rng()
	q := w.queues[0]
	for n := 1; n < 1_000_000 && !stopped(w.stopProduce); n++ {
		value := fmt.Sprintf("t%d-c", n)
		if rng.IntN(4) == 0 {
			value = fmt.Sprintf("t%d-r", n)
		}
		op := w.c.txnPublish(ctx, "txn", w.node(rng), q, value)
		if op.Outcome == OK && rng.IntN(100) >= 15 {
			w.c.txnEnd(ctx, "txn", w.node(rng), q, value, op.Handles[0], txnCommits(value))
		}
		if sleepOr(w.stopProduce, time.Duration(float64(time.Second)/w.cfg.TxnRate)) {
			return
		}
	}
}

// txnChecker is the producer group's check-back: it ends every half message
// offered as its producer would have.
func (w *workload) txnChecker(ctx context.Context) {
	defer w.wg.Done()
	rng := w.rng()
	q := w.queues[0]
	for iter := 0; iter < 1_000_000 && !stopped(w.stopConsume); iter++ {
		op := w.c.txnPop(ctx, "txn-check", w.node(rng), q, 3)
		if op.Outcome != OK {
			if sleepOr(w.stopConsume, 100*time.Millisecond) {
				return
			}
			continue
		}
		for i, v := range op.Values {
			w.c.txnEnd(ctx, "txn-check", w.node(rng), q, v, op.Handles[i], txnCommits(v))
		}
	}
}

// dedupProducer sends batches of 1-5 values d<n> to the NORMAL queue, each
// with its value as dedup_id, at Workload.DedupRate; after an unknown
// outcome it sends the same batch again (up to 10 times), as a client
// unsure of the outcome does: each value must be stored once.
func (w *workload) dedupProducer(ctx context.Context) {
	defer w.wg.Done()
	rng := w.rng()
	q := w.queues[0]
	n := 0
	for iter := 0; iter < 1_000_000 && !stopped(w.stopProduce); iter++ {
		values := make([]string, 1+rng.IntN(5))
		for i := range values {
			n++
			values[i] = fmt.Sprintf("d%d", n)
		}
		for try := 0; try < 10; try++ {
			op := w.c.produceDedup(ctx, "dedup", w.node(rng), q, values)
			if op.Outcome != Unknown || sleepOr(w.stopProduce, 200*time.Millisecond) {
				break
			}
		}
		if sleepOr(w.stopProduce, time.Duration(float64(len(values))*float64(time.Second)/w.cfg.DedupRate)) {
			return
		}
	}
}

func (w *workload) node(rng *rand.Rand) *Proc { return w.c.nodes[rng.IntN(len(w.c.nodes))] }

// startExtras starts the transactional and deduplicating clients the
// workload asks for.
func (w *workload) startExtras(ctx context.Context) {
	if w.cfg.TxnRate > 0 {
		w.wg.Add(2)
		go w.txnProducer(ctx)
		go w.txnChecker(ctx)
	}
	if w.cfg.DedupRate > 0 {
		w.wg.Add(1)
		go w.dedupProducer(ctx)
	}
}
