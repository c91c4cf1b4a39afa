package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
	"raftmq/fsm"
)

// This file serves the raftmq extensions of the DMS door (API.md,
// "raftmq extensions"): dead-letter redrive, lease extension, delayed
// delivery and message tags with a tag filter on consume.

const (
	maxDelaySeconds = 86400 // delay_seconds of a produced message
	maxTagLen       = 128   // characters of a message tag
)

// ---- Redrive ----

// parseRedrive validates a redrive body: empty, or an object whose optional
// max_msgs is an integer ≥ 1 (absent or null: all). It returns 0 for all.
func parseRedrive(body []byte) (int, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return 0, nil
	}
	o, err := parseObject(body)
	if err != nil {
		return 0, err
	}
	n, _, err := o.intField("max_msgs", 1, 1<<31-1, codeMalformed)
	return n, err
}

// redrive moves a group's available dead letters back to its normal lane.
func (s *Server) redrive(rc *fasthttp.RequestCtx, p pathParams) error {
	max, err := parseRedrive(rc.PostBody())
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	q, err := s.lookupQueue(ctx, p)
	if err != nil {
		return err
	}
	q, g, _, err := s.lookupGroup(ctx, q, p.group)
	if err != nil {
		return err
	}
	if !q.Redrive {
		return errNoDeadLetters
	}
	n, err := s.broker.Redrive(ctx, q, g.ID, max)
	if err != nil {
		return err
	}
	s.writeJSON(rc, fasthttp.StatusOK, struct {
		Redriven int `json:"redriven"`
	}{n})
	return nil
}

// ---- Lease extension ----

type extendRequestEntry struct {
	handler   string
	ackWaitMs int64
}

// parseExtend validates a lease extension body, {"message":[{"handler":
// "...","ack_wait":N}]}: 1 to 10 entries (10540010), each with a non-empty
// string handler (10540010) and an ack_wait of 15 to 300 (10542206).
func parseExtend(body []byte) ([]extendRequestEntry, error) {
	var out []extendRequestEntry
	err := parseHandlerMessages(body, func(i int, m jsonObject, h string) error {
		w, present, err := m.intField("ack_wait", minAckWait, maxAckWait, codeAckWait)
		if err == nil && !present {
			err = badRequest(codeAckWait, "message[%d]: ack_wait must be an integer from %d to %d", i, minAckWait, maxAckWait)
		}
		if err != nil {
			return err
		}
		out = append(out, extendRequestEntry{handler: h, ackWaitMs: int64(w) * 1000})
		return nil
	})
	return out, err
}

func (s *Server) extendNormal(rc *fasthttp.RequestCtx, p pathParams) error {
	return s.extend(rc, p, false)
}

func (s *Server) extendDeadLetters(rc *fasthttp.RequestCtx, p pathParams) error {
	return s.extend(rc, p, true)
}

// extend gives live leases a new end, keeping their handlers valid.
func (s *Server) extend(rc *fasthttp.RequestCtx, p pathParams, deadLetter bool) error {
	reqs, err := parseExtend(rc.PostBody())
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	sc, err := s.handlerScope(ctx, p, deadLetter, "extend")
	if err != nil {
		return err
	}
	acks := make([]ackRequestEntry, len(reqs))
	for i, r := range reqs {
		acks[i] = ackRequestEntry{handler: r.handler, success: true}
	}
	entries := make([]cluster.ExtendEntry, len(reqs))
	for i, a := range decodeAckEntries(sc.key, sc.t, acks) {
		entries[i] = cluster.ExtendEntry{Partition: a.Partition, Invalid: a.Invalid,
			Item: fsm.ExtendItem{Offset: a.Item.Offset, DeliveryID: a.Item.DeliveryID, AckWaitMs: reqs[i].ackWaitMs}}
	}
	fails, err := s.broker.Extend(ctx, sc.q, sc.g.ID, deadLetter, entries)
	if err != nil {
		return err
	}
	type failure struct {
		Index    int    `json:"index"`
		Reason   string `json:"reason"`
		ErrorMsg string `json:"error_msg"`
	}
	out := struct {
		Success  int       `json:"success"`
		Fail     int       `json:"fail"`
		Failures []failure `json:"failures"`
	}{Success: len(entries) - len(fails), Fail: len(fails), Failures: []failure{}}
	for _, f := range fails {
		out.Failures = append(out.Failures, failure{Index: f.Index, Reason: f.Reason, ErrorMsg: ackReasonMessage(f.Reason)})
	}
	s.writeJSON(rc, fasthttp.StatusOK, out)
	return nil
}

// ---- Produce: delay_seconds and tags ----

// parseMessageExtensions reads the extension fields of produced message i:
// "delay_seconds" (an integer 0 to 86400; absent or null: 0) and "tags" (an
// array of at most one tag: 1 to 128 characters without '|'; absent, null
// or empty: untagged). It returns the delay in ms.
func parseMessageExtensions(m jsonObject, i int, msg *fsm.Message) (delayMs int64, err error) {
	d, _, err := m.intField("delay_seconds", 0, maxDelaySeconds, codeMalformed)
	if err != nil {
		return 0, malformed("messages[%d]: delay_seconds must be an integer from 0 to %d", i, maxDelaySeconds)
	}
	if v := m["tags"]; !absent(v) {
		var tags []string
		if err := json.Unmarshal(v, &tags); err != nil || !isKind(v, '[') || len(tags) > 1 {
			return 0, malformed("messages[%d]: tags must be an array of at most one string", i)
		}
		for _, t := range tags {
			if t == "" || len(t) > maxTagLen || strings.Contains(t, "|") {
				return 0, malformed("messages[%d]: a tag has 1 to %d characters, none of them '|'", i, maxTagLen)
			}
			msg.Tag = t
		}
	}
	return int64(d) * 1000, nil
}

// applyDelays turns each message's delay into its DeliverAt, on this node's
// clock, and makes it visible to the RocketMQ door as __STARTDELIVERTIME.
// A FIFO queue takes no delay: a delayed message would block its successors.
func (s *Server) applyDelays(q cluster.Queue, msgs []fsm.Message, delaysMs []int64) error {
	now := s.cfg.Now().UnixMilli()
	for i, d := range delaysMs {
		if d == 0 {
			continue
		}
		if q.Mode == cluster.ModeFIFO {
			return malformed("messages[%d]: delay_seconds must be 0 on a FIFO queue", i)
		}
		msgs[i].DeliverAt = now + d
		msgs[i].Props = fmt.Appendf(nil, "%s:%d|", propDeliverTime, msgs[i].DeliverAt)
	}
	return nil
}

// ---- Consume: tag filter ----

// parseTagFilter reads the tag filter of a consume: "tag" (repeatable, each
// value one tag or several separated by "||") and "tag_type", "or" (the
// default: a message carrying any of the tags) or "and" (a message carrying
// all of them, which with one tag per message needs exactly one distinct
// tag). It returns the sorted, unique tags, nil for no filter.
func parseTagFilter(args *fasthttp.Args) ([]string, error) {
	var tags []string
	for _, v := range args.PeekMulti("tag") {
		for _, t := range strings.Split(string(v), "||") {
			if t = strings.TrimSpace(t); t != "" {
				if len(t) > maxTagLen || strings.Contains(t, "|") {
					return nil, malformed("tag: a tag has 1 to %d characters, none of them '|'", maxTagLen)
				}
				tags = append(tags, t)
			}
		}
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	switch tt := string(args.Peek("tag_type")); {
	case tt == "" || strings.EqualFold(tt, "or"):
	case strings.EqualFold(tt, "and"):
		if len(tags) > 1 {
			return nil, malformed("tag_type and: a message carries one tag, so it cannot match %d different tags", len(tags))
		}
	default:
		return nil, malformed("tag_type must be or or and")
	}
	if len(tags) > maxFilterTags {
		return nil, malformed("tag: at most %d tags", maxFilterTags)
	}
	return tags, nil
}

// maxFilterTags bounds the tags of one consume's filter.
const maxFilterTags = 16
