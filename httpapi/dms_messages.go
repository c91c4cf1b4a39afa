package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
	"raftmq/fsm"
)

// ---- Produce ----

// parseProduce validates a produce body, {"messages":[{"body":<JSON>,
// "attributes":{...}}],"returnId":false}. Each body is kept as the exact
// JSON text sent; attributes, when sent and not null, must be an object and
// are kept as sent. Checks, in order: the envelope (10540010), then per
// message the body (10540012), the attributes (10540010) and the size
// (10540011), then the total size (10540011).
func parseProduce(body []byte) (msgs []fsm.Message, returnID bool, err error) {
	r, err := parseProduceRequest(body)
	return r.msgs, r.returnID, err
}

// produceRequest is a validated produce body.
type produceRequest struct {
	msgs     []fsm.Message
	returnID bool
	delaysMs []int64 // per message, from delay_seconds (dms_ext.go)
}

// parseProduceRequest is parseProduce with the extension fields of each
// message (dms_ext.go): delay_seconds and tags.
func parseProduceRequest(body []byte) (produceRequest, error) {
	msgs, returnID, delays, err := parseProduceBody(body)
	return produceRequest{msgs: msgs, returnID: returnID, delaysMs: delays}, err
}

func parseProduceBody(body []byte) (msgs []fsm.Message, returnID bool, delays []int64, err error) {
	o, err := parseObject(body)
	if err != nil {
		return nil, false, nil, err
	}
	elems, err := o.arrayField("messages", 1, maxProduceMessages)
	if err != nil {
		return nil, false, nil, err
	}
	returnID, err = o.boolField("returnId")
	if err != nil {
		return nil, false, nil, err
	}
	msgs = make([]fsm.Message, 0, len(elems))
	total := 0
	for i, e := range elems {
		m, err := elementObject(e, "messages", i)
		if err != nil {
			return nil, false, nil, err
		}
		b := m["body"]
		if absent(b) {
			return nil, false, nil, badRequest(codeBodyMissing, "messages[%d]: body is missing or null", i)
		}
		var attrs []byte
		if a := m["attributes"]; !absent(a) {
			if !isKind(a, '{') {
				return nil, false, nil, malformed("messages[%d]: attributes must be a JSON object", i)
			}
			if err := checkAttributes(a, i); err != nil {
				return nil, false, nil, err
			}
			attrs = a
		}
		msg := fsm.Message{Body: b, Attributes: attrs}
		delay, err := parseMessageExtensions(m, i, &msg)
		if err != nil {
			return nil, false, nil, err
		}
		delays = append(delays, delay)
		if msg.Size() > maxMessageBytes {
			return nil, false, nil, badRequest(codeTooLarge, "messages[%d]: %d bytes, more than %d", i, msg.Size(), maxMessageBytes)
		}
		total += msg.Size()
		msgs = append(msgs, msg)
	}
	if total > maxMessagesBytes {
		return nil, false, nil, badRequest(codeTooLarge, "messages: %d bytes in all, more than %d", total, maxMessagesBytes)
	}
	return msgs, returnID, delays, nil
}

func (s *Server) produce(rc *fasthttp.RequestCtx, p pathParams) error {
	req, err := parseProduceRequest(rc.PostBody())
	if err != nil {
		return err
	}
	msgs, returnID := req.msgs, req.returnID
	ids, err := parseDedupIDs(rc.PostBody(), len(msgs))
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	q, err := s.lookupQueue(ctx, p)
	if err != nil {
		return err
	}
	if err := s.applyDelays(q, msgs, req.delaysMs); err != nil {
		return err
	}
	refs, err := s.produceRefs(ctx, q, msgs, ids)
	if err != nil {
		return err
	}
	qid, ok := parseUUID(q.ID)
	if returnID && !ok {
		return fmt.Errorf("produce: queue id %q is not a UUID", q.ID)
	}
	type result struct {
		State     int     `json:"state"`
		Error     *string `json:"error"`
		ErrorCode *string `json:"error_code"`
		ID        string  `json:"id,omitempty"`
	}
	out := struct {
		Messages []result `json:"messages"`
	}{Messages: make([]result, len(refs))}
	if returnID {
		for i, r := range refs {
			out.Messages[i].ID = messageID(qid, r.Partition, r.Offset)
		}
	}
	s.writeJSON(rc, fasthttp.StatusCreated, out)
	return nil
}

// ---- Consume ----

// consumeParams are the query parameters of a consume.
type consumeParams struct {
	maxMsgs  int
	timeWait time.Duration
	ackWait  time.Duration
}

// parseConsumeParams validates max_msgs, time_wait and ack_wait.
func parseConsumeParams(args *fasthttp.Args) (consumeParams, error) {
	maxMsgs, err := queryInt(args, "max_msgs", defaultMaxMsgs, minMaxMsgs, maxMaxMsgs, codeMaxMsgs)
	if err != nil {
		return consumeParams{}, err
	}
	timeWait, err := queryInt(args, "time_wait", defaultTimeWait, minTimeWait, maxTimeWait, codeTimeWait)
	if err != nil {
		return consumeParams{}, err
	}
	ackWait, err := queryInt(args, "ack_wait", defaultAckWait, minAckWait, maxAckWait, codeAckWait)
	if err != nil {
		return consumeParams{}, err
	}
	return consumeParams{
		maxMsgs:  maxMsgs,
		timeWait: time.Duration(timeWait) * time.Second,
		ackWait:  time.Duration(ackWait) * time.Second,
	}, nil
}

func (s *Server) consumeNormal(rc *fasthttp.RequestCtx, p pathParams) error {
	tags, err := parseTagFilter(rc.QueryArgs())
	if err != nil {
		return err
	}
	return s.consume(rc, p, false, tags)
}

func (s *Server) consumeDeadLetters(rc *fasthttp.RequestCtx, p pathParams) error {
	return s.consume(rc, p, true, nil)
}

// consume leases messages (or dead letters) to a group, waiting up to
// time_wait for the first, and answers with their handlers.
func (s *Server) consume(rc *fasthttp.RequestCtx, p pathParams, deadLetter bool, tags []string) error {
	cp, err := parseConsumeParams(rc.QueryArgs())
	if err != nil {
		return err
	}
	// The request context covers the lookups too, so that a consume
	// never outlives time_wait by more than RequestTimeout.
	ctx, cancel := s.requestContext(cp.timeWait)
	defer cancel()
	q, err := s.lookupQueue(ctx, p)
	if err != nil {
		return err
	}
	q, g, gid, err := s.lookupGroup(ctx, q, p.group)
	if err != nil {
		return err
	}
	if deadLetter && !q.Redrive {
		return errNoDeadLetters
	}
	qid, ok := parseUUID(q.ID)
	if !ok {
		return fmt.Errorf("consume: queue id %q is not a UUID", q.ID)
	}
	key, ok := s.broker.HandlerKey()
	if !ok {
		return errNotJoined
	}
	if !s.acquireWaiter() {
		return errTooManyWaiting
	}
	defer s.releaseWaiter()

	ds, err := s.broker.Consume(ctx, q, g.ID, cluster.ConsumeRequest{
		Max:        cp.maxMsgs,
		MaxBytes:   fsm.MaxLeaseBytes,
		AckWaitMs:  cp.ackWait.Milliseconds(),
		WaitMs:     cp.timeWait.Milliseconds(),
		DeadLetter: deadLetter,
		Tags:       tags,
	})
	if err != nil {
		return err
	}
	kind := kindDMS
	if deadLetter {
		kind = kindDMSDeadLetter
	}
	s.writeRaw(rc, fasthttp.StatusOK, appendDeliveries(nil, ds, func(d cluster.Delivery) string {
		return receipt{
			kind:       kind,
			queue:      qid,
			group:      gid,
			partition:  uint32(d.Partition),
			offset:     d.Offset,
			deliveryID: d.DeliveryID,
			expiresAt:  d.ExpiresAt,
		}.encode(key)
	}))
	return nil
}

// acquireWaiter admits one more consume unless MaxWaitingConsumers are in
// progress.
func (s *Server) acquireWaiter() bool {
	if s.waiting.Add(1) > int64(s.cfg.MaxWaitingConsumers) {
		s.waiting.Add(-1)
		return false
	}
	return true
}

func (s *Server) releaseWaiter() { s.waiting.Add(-1) }

// appendDeliveries appends the consume response for ds to b: a JSON array
// of {"message":{"body":...,"attributes":...},"handler":"..."}. Bodies and
// attributes are written as the exact JSON text stored at produce, never
// re-encoded; missing attributes are {}. Handlers are base64url, which
// needs no escaping.
func appendDeliveries(b []byte, ds []cluster.Delivery, handler func(cluster.Delivery) string) []byte {
	b = append(b, '[')
	for i, d := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"message":{"body":`...)
		if len(d.Message.Body) == 0 { // never stored by produce; keep the answer JSON anyway
			b = append(b, `null`...)
		} else {
			b = append(b, d.Message.Body...)
		}
		b = append(b, `,"attributes":`...)
		if len(d.Message.Attributes) == 0 {
			b = append(b, `{}`...)
		} else {
			b = append(b, d.Message.Attributes...)
		}
		if d.Message.Tag != "" {
			// A tag is 1 to 128 characters without '|' (either door);
			// encoding/json escapes whatever else it holds.
			t, _ := json.Marshal([]string{d.Message.Tag})
			b = append(b, `,"tags":`...)
			b = append(b, t...)
		}
		b = append(b, `},"handler":"`...)
		b = append(b, handler(d)...)
		b = append(b, `"}`...)
	}
	return append(b, ']')
}

// ---- Ack ----

// ackRequestEntry is one validated entry of an ack request.
type ackRequestEntry struct {
	handler string
	success bool
}

// parseAck validates an ack body, {"message":[{"handler":"...",
// "status":"success"}]}: 1 to 10 entries, each an object with a non-empty
// string handler (10540010) and a status of success or fail (10540003;
// absent or null is success). The handler itself is judged later, entry by
// entry: a bad one fails that entry, not the request.
func parseAck(body []byte) ([]ackRequestEntry, error) {
	var entries []ackRequestEntry
	err := parseHandlerMessages(body, func(i int, m jsonObject, h string) error {
		entry := ackRequestEntry{handler: h, success: true}
		status, present, err := m.stringField("status")
		if err != nil {
			return badRequest(codeAckStatus, "message[%d]: status must be success or fail", i)
		}
		switch {
		case !present, status == "success": // absent or null is success
		case status == "fail":
			entry.success = false
		default:
			return badRequest(codeAckStatus, "message[%d]: status must be success or fail", i)
		}
		entries = append(entries, entry)
		return nil
	})
	return entries, err
}

// parseHandlerMessages walks a body of the ack's shape, {"message":[{
// "handler":"...",...}]}: 1 to 10 entries, each an object with a non-empty
// string handler (10540010), and calls entry for each with its index, its
// object and its handler; the first error ends the walk.
func parseHandlerMessages(body []byte, entry func(i int, m jsonObject, h string) error) error {
	o, err := parseObject(body)
	if err != nil {
		return err
	}
	elems, err := o.arrayField("message", 1, maxAckEntries)
	if err != nil {
		return err
	}
	for i, e := range elems {
		m, err := elementObject(e, "message", i)
		if err != nil {
			return err
		}
		h, _, err := m.stringField("handler")
		if err != nil {
			return err
		}
		if h == "" {
			return malformed("message[%d]: handler must be a non-empty string", i)
		}
		if err := entry(i, m, h); err != nil {
			return err
		}
	}
	return nil
}

// Reasons for an entry this layer refuses (API.md first_failure.reason).
const (
	reasonHandlerInvalid = "handler_invalid"
	reasonHandlerForeign = "handler_foreign"
)

// ackTarget is what a handler must be bound to for an ack to use it.
type ackTarget struct {
	kind       receiptKind
	queue      [16]byte
	group      [16]byte
	partitions int
}

// decodeAckEntries turns validated request entries into the broker's ack
// entries. A handler that does not verify under key, or names a partition
// the queue does not have, is handler_invalid; one that verifies but was
// minted for another queue, group or door is handler_foreign.
func decodeAckEntries(key []byte, t ackTarget, entries []ackRequestEntry) []cluster.AckEntry {
	out := make([]cluster.AckEntry, len(entries))
	for i, e := range entries {
		r, err := parseReceipt(key, e.handler)
		switch {
		case err != nil:
			out[i] = cluster.AckEntry{Invalid: reasonHandlerInvalid}
		case r.kind != t.kind || r.queue != t.queue || r.group != t.group:
			out[i] = cluster.AckEntry{Invalid: reasonHandlerForeign}
		case t.partitions > 0 && int64(r.partition) >= int64(t.partitions):
			out[i] = cluster.AckEntry{Invalid: reasonHandlerInvalid}
		default:
			out[i] = cluster.AckEntry{
				Partition: int(r.partition),
				Item:      fsm.AckItem{Offset: r.offset, DeliveryID: r.deliveryID, Success: e.success},
			}
		}
	}
	return out
}

// ackReasonMessage explains a first_failure reason.
func ackReasonMessage(reason string) string {
	switch reason {
	case "status_fail":
		return "the client reported failure"
	case reasonHandlerInvalid:
		return "the handler is malformed, forged or too long"
	case reasonHandlerForeign:
		return "the handler belongs to another queue, group or door"
	case "handler_expired":
		return "the lease ended before the ack"
	case "already_acknowledged":
		return "the delivery was already acknowledged"
	case "superseded":
		return "a newer delivery of the message exists"
	case "unavailable":
		return "the partition leader could not be reached"
	}
	return reason
}

// ackResponse is the answer to an ack.
type ackResponse struct {
	Success      int           `json:"success"`
	Fail         int           `json:"fail"`
	FirstFailure *firstFailure `json:"first_failure,omitempty"`
}

type firstFailure struct {
	Index    int    `json:"index"`
	Reason   string `json:"reason"`
	ErrorMsg string `json:"error_msg"`
}

func toAckResponse(o cluster.AckOutcome) ackResponse {
	r := ackResponse{Success: o.Success, Fail: o.Fail}
	if o.Fail > 0 {
		r.FirstFailure = &firstFailure{Index: o.FailureIndex, Reason: o.Reason, ErrorMsg: ackReasonMessage(o.Reason)}
	}
	return r
}

// scope is what settling or extending a group's handlers needs: the queue,
// the group, the handler key and the target the handlers must name.
type scope struct {
	q   cluster.Queue
	g   cluster.Group
	key []byte
	t   ackTarget
}

// handlerScope looks up the queue and group of p (op names the operation in
// errors); with deadLetter, the queue must have dead letters.
func (s *Server) handlerScope(ctx context.Context, p pathParams, deadLetter bool, op string) (scope, error) {
	q, err := s.lookupQueue(ctx, p)
	if err != nil {
		return scope{}, err
	}
	q, g, gid, err := s.lookupGroup(ctx, q, p.group)
	if err != nil {
		return scope{}, err
	}
	if deadLetter && !q.Redrive {
		return scope{}, errNoDeadLetters
	}
	qid, ok := parseUUID(q.ID)
	if !ok {
		return scope{}, fmt.Errorf("%s: queue id %q is not a UUID", op, q.ID)
	}
	key, ok := s.broker.HandlerKey()
	if !ok {
		return scope{}, errNotJoined
	}
	t := ackTarget{kind: kindDMS, queue: qid, group: gid, partitions: q.Partitions}
	if deadLetter {
		t.kind = kindDMSDeadLetter
	}
	return scope{q: q, g: g, key: key, t: t}, nil
}

func (s *Server) ackNormal(rc *fasthttp.RequestCtx, p pathParams) error {
	return s.ack(rc, p, false)
}

func (s *Server) ackDeadLetters(rc *fasthttp.RequestCtx, p pathParams) error {
	return s.ack(rc, p, true)
}

// ack applies an ordered ack. The request is validated whole first; a bad
// one is refused with 400 and nothing is called.
func (s *Server) ack(rc *fasthttp.RequestCtx, p pathParams, deadLetter bool) error {
	entries, err := parseAck(rc.PostBody())
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	sc, err := s.handlerScope(ctx, p, deadLetter, "ack")
	if err != nil {
		return err
	}
	out, err := s.broker.Ack(ctx, sc.q, sc.g.ID, deadLetter, decodeAckEntries(sc.key, sc.t, entries))
	if err != nil {
		return err
	}
	s.writeJSON(rc, fasthttp.StatusOK, toAckResponse(out))
	return nil
}
