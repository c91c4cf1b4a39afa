package httpapi

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
	"raftmq/fsm"
)

// RocketMQ system properties (API.md section 3). They travel in the
// message's Props (and Tag, Key, DeliverAt), never in the DMS attributes.
const (
	propKeys        = "KEYS"
	propDeliverTime = "__STARTDELIVERTIME"
	propShardingKey = "__SHARDINGKEY"
)

// Limits of the RocketMQ door.
const (
	mqMaxConsume = 16 // numOfMessages
	mqMaxWait    = 30 // waitseconds
	mqMaxAck     = 16 // receipt handles per ack
)

// ---- Publish ----

// mqPublishXML is the publish request body. encoding/xml matches element
// names whatever their namespace, and reads CDATA as text.
type mqPublishXML struct {
	XMLName    xml.Name `xml:"Message"`
	Body       *string  `xml:"MessageBody"`
	Tag        string   `xml:"MessageTag"`
	Properties string   `xml:"Properties"`
}

// parseMQProperties splits "k:v|k:v|" into user properties (the DMS
// attributes) and system ones (KEYS and names starting with "__").
func parseMQProperties(s string) (user, system map[string]string, err error) {
	user, system = map[string]string{}, map[string]string{}
	for _, kv := range strings.Split(s, "|") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, ":")
		if !ok || k == "" {
			return nil, nil, mqInvalid("Properties: %q is not name:value", kv)
		}
		if k == propKeys || strings.HasPrefix(k, "__") {
			system[k] = v
		} else {
			user[k] = v
		}
	}
	return user, system, nil
}

// mqUserPropertyProblem says why a DMS attribute cannot travel as a
// RocketMQ user property, or "" when it can. Properties are serialised as
// "k:v|k:v|" with no escaping (the official clients split on | and the
// first :), so a | anywhere or a : in a name would let a DMS producer write
// properties of its choosing, KEYS or __STARTDELIVERTIME included, into what
// RocketMQ consumers read; and a name that is KEYS or starts with __ would be
// read as a system property. value is the text a RocketMQ consumer would
// see: a string's characters, any other JSON value's text.
func mqUserPropertyProblem(name, value string) string {
	switch {
	case name == "":
		return "an empty name"
	case strings.ContainsAny(name, "|:"):
		return "a name containing | or :"
	case name == propKeys || strings.HasPrefix(name, "__"):
		return "a name reserved for RocketMQ system properties (KEYS, __*)"
	case strings.Contains(value, "|"):
		return "a value containing |"
	}
	return ""
}

// attributeText is the text of one attribute value as RocketMQ shows it: a
// JSON string's characters, any other value's JSON text as stored.
func attributeText(v json.RawMessage) string {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// checkAttributes refuses (400 10540010) DMS attributes that could not reach
// a RocketMQ consumer as the same map: see mqUserPropertyProblem. Refusing
// is our decision: escaping would change the text RocketMQ clients read, and
// they have no unescaping.
func checkAttributes(attrs []byte, i int) error {
	o, err := splitObject(attrs)
	if err != nil {
		return malformed("messages[%d]: attributes must be a JSON object", i)
	}
	for k, v := range o {
		if p := mqUserPropertyProblem(k, attributeText(bytes.TrimSpace(v))); p != "" {
			return malformed("messages[%d]: attribute %q has %s", i, k, p)
		}
	}
	return nil
}

// formatMQProperties writes properties as "k:v|", sorted by name.
func formatMQProperties(b *strings.Builder, props map[string]string) {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(k + ":" + props[k] + "|")
	}
}

// mqMessage turns a publish body into the stored message: the body becomes a
// JSON string (so that DMS consumers read it as one), user properties the
// attributes object, system properties Props, and the tag, sharding key and
// delivery time their own fields.
func mqMessage(body []byte) (fsm.Message, string, error) {
	var req mqPublishXML
	if err := xml.Unmarshal(body, &req); err != nil || req.Body == nil {
		return fsm.Message{}, "", errMQMalformed
	}
	user, system, err := parseMQProperties(req.Properties)
	if err != nil {
		return fsm.Message{}, "", err
	}
	var m fsm.Message
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(*req.Body); err != nil {
		return fsm.Message{}, "", mqInvalid("MessageBody is not valid text")
	}
	m.Body = bytes.Clone(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if len(user) > 0 {
		buf.Reset()
		if err := enc.Encode(user); err != nil {
			return fsm.Message{}, "", mqInvalid("Properties are not valid text")
		}
		m.Attributes = bytes.Clone(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	if strings.Contains(req.Tag, "|") {
		return fsm.Message{}, "", mqInvalid("MessageTag may not contain |")
	}
	m.Tag = req.Tag
	if v, ok := system[propDeliverTime]; ok {
		at, err := strconv.ParseInt(v, 10, 64)
		if err != nil || at < 0 {
			return fsm.Message{}, "", mqInvalid("%s must be a time in epoch milliseconds", propDeliverTime)
		}
		m.DeliverAt = at
	}
	m.Key = system[propShardingKey]
	if len(system) > 0 {
		var sb strings.Builder
		formatMQProperties(&sb, system)
		m.Props = []byte(sb.String())
	}
	if m.Size() > maxMessageBytes {
		return fsm.Message{}, "", mqInvalid("message of %d bytes, more than %d", m.Size(), maxMessageBytes)
	}
	return m, *req.Body, nil
}

// bodyMD5 is the upper-case hex MD5 of a message body's text.
func bodyMD5(text string) string {
	sum := md5.Sum([]byte(text))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func (s *Server) mqPublish(rc *fasthttp.RequestCtx, project, topic string) error {
	msg, text, err := mqMessage(rc.PostBody())
	if err != nil {
		return err
	}
	if secs, half, err := halfCheckSeconds(msg.Props); err != nil || half {
		if err != nil {
			return err
		}
		return s.mqPublishHalf(rc, project, topic, msg, text, secs)
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	q, qid, err := s.mqQueue(ctx, project, topic)
	if err != nil {
		return err
	}
	refs, err := s.broker.Produce(ctx, q, []fsm.Message{msg})
	if err != nil {
		return err
	}
	if len(refs) != 1 {
		return fmt.Errorf("publish: %d refs for 1 message", len(refs))
	}
	type publishXML struct {
		XMLName xml.Name `xml:"Message"`
		NS      string   `xml:"xmlns,attr"`
		ID      string   `xml:"MessageId"`
		MD5     string   `xml:"MessageBodyMD5"`
	}
	s.writeXML(rc, fasthttp.StatusCreated, publishXML{NS: mqNamespace, ID: messageID(qid, refs[0].Partition, refs[0].Offset), MD5: bodyMD5(text)})
	return nil
}

// ---- Consume ----

// parseMQTags turns a tag filter "A||B" into sorted unique tags; "" and "*"
// mean every message (nil).
func parseMQTags(s string) []string {
	var tags []string
	for _, t := range strings.Split(s, "||") {
		if t = strings.TrimSpace(t); t == "*" {
			return nil
		} else if t != "" {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

// mqPollArgs reads what a consume and a transaction check-back share: a
// valid consumer name, numOfMessages and waitseconds.
func mqPollArgs(args *fasthttp.Args) (n int, wait time.Duration, err error) {
	if err := checkGroupName(string(args.Peek("consumer"))); err != nil {
		return 0, 0, mqInvalid("consumer must be 1-32 characters of [A-Za-z0-9_-]")
	}
	if n, err = mqQueryInt(args, "numOfMessages", mqMaxConsume, 1, mqMaxConsume); err != nil {
		return 0, 0, err
	}
	secs, err := mqQueryInt(args, "waitseconds", 0, 0, mqMaxWait)
	if err != nil {
		return 0, 0, err
	}
	return n, time.Duration(secs) * time.Second, nil
}

// writeMQMessages answers 200 with msgs, the <Messages> of a consume.
func (s *Server) writeMQMessages(rc *fasthttp.RequestCtx, msgs []mqMessageXML) {
	type messagesXML struct {
		XMLName  xml.Name       `xml:"Messages"`
		NS       string         `xml:"xmlns,attr"`
		Messages []mqMessageXML `xml:"Message"`
	}
	s.writeXML(rc, fasthttp.StatusOK, messagesXML{NS: mqNamespace, Messages: msgs})
}

// writeMQAckOutcome answers an ack or a transaction end: 204 when no handle
// failed, else 404 with an <Errors> entry for each one that did.
func (s *Server) writeMQAckOutcome(rc *fasthttp.RequestCtx, failed []mqAckErrorXML) {
	if len(failed) == 0 {
		rc.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	type errorsXML struct {
		XMLName xml.Name        `xml:"Errors"`
		NS      string          `xml:"xmlns,attr"`
		Errors  []mqAckErrorXML `xml:"Error"`
	}
	s.writeXML(rc, fasthttp.StatusNotFound, errorsXML{NS: mqNamespace, Errors: failed})
}

// mqQueryInt reads an integer query parameter within [lo, hi], def when
// absent or empty.
func mqQueryInt(args *fasthttp.Args, name string, def, lo, hi int) (int, error) {
	v := args.Peek(name)
	if len(v) == 0 {
		return def, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < lo || n > hi {
		return 0, mqInvalid("%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

// mqBodyText is what a RocketMQ consumer reads as the body: a JSON string
// stored body as its text, any other DMS body as its JSON text.
func mqBodyText(body []byte) string {
	if len(body) > 0 && body[0] == '"' {
		var s string
		if json.Unmarshal(body, &s) == nil {
			return s
		}
	}
	return string(body)
}

// mqPropertiesText is the consume Properties: the DMS attributes (string
// values as they are, other values as their JSON text) and the system
// properties stored at publish.
func mqPropertiesText(d cluster.Delivery) string {
	var b strings.Builder
	if len(d.Message.Attributes) > 0 {
		var attrs map[string]json.RawMessage
		if json.Unmarshal(d.Message.Attributes, &attrs) == nil {
			user := make(map[string]string, len(attrs))
			for k, v := range attrs {
				// Produce refuses these; one stored before that check
				// existed is left out rather than injected.
				if text := attributeText(v); mqUserPropertyProblem(k, text) == "" {
					user[k] = text
				}
			}
			formatMQProperties(&b, user)
		}
	}
	b.Write(d.Message.Props)
	return b.String()
}

type mqMessageXML struct {
	XMLName          xml.Name `xml:"Message"`
	ID               string   `xml:"MessageId"`
	ReceiptHandle    string   `xml:"ReceiptHandle"`
	BodyMD5          string   `xml:"MessageBodyMD5"`
	Body             string   `xml:"MessageBody"`
	PublishTime      int64    `xml:"PublishTime"`
	FirstConsumeTime int64    `xml:"FirstConsumeTime"`
	NextConsumeTime  int64    `xml:"NextConsumeTime"`
	ConsumedTimes    int      `xml:"ConsumedTimes"`
	Tag              string   `xml:"MessageTag,omitempty"`
	Properties       string   `xml:"Properties,omitempty"`
}

func (s *Server) mqConsume(rc *fasthttp.RequestCtx, project, topic string) error {
	args := rc.QueryArgs()
	groupName := string(args.Peek("consumer"))
	n, waitDur, err := mqPollArgs(args)
	if err != nil {
		return err
	}
	ordered := false
	switch t := string(args.Peek("trans")); t {
	case "":
	case "order":
		ordered = true
	default:
		return mqInvalid("trans=%s is not supported", t)
	}
	tags := parseMQTags(string(args.Peek("tag")))
	ctx, cancel := s.requestContext(waitDur)
	defer cancel()
	q, err := s.broker.QueueByName(ctx, project, topic)
	if err != nil {
		return err
	}
	q, g, err := s.broker.EnsureGroup(ctx, q, groupName)
	if err != nil {
		return err
	}
	qid, ok1 := parseUUID(q.ID)
	gid, ok2 := parseGroupID(g.ID)
	if !ok1 || !ok2 {
		return fmt.Errorf("consume: queue id %q or group id %q malformed", q.ID, g.ID)
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
		Max:       n,
		MaxBytes:  fsm.MaxLeaseBytes,
		AckWaitMs: s.cfg.RocketMQLease.Milliseconds(),
		WaitMs:    waitDur.Milliseconds(),
		Tags:      tags,
		Ordered:   ordered,
	})
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return errMQNoMessage
	}
	out := make([]mqMessageXML, len(ds))
	for i, d := range ds {
		text := mqBodyText(d.Message.Body)
		out[i] = mqMessageXML{
			ID: messageID(qid, d.Partition, d.IDOffset()),
			ReceiptHandle: receipt{
				kind: kindRocketMQ, queue: qid, group: gid, partition: uint32(d.Partition),
				offset: d.Offset, deliveryID: d.DeliveryID, expiresAt: d.ExpiresAt,
			}.encode(key),
			BodyMD5:          bodyMD5(text),
			Body:             text,
			PublishTime:      d.ProducedAt,
			FirstConsumeTime: d.FirstDeliveredAt,
			NextConsumeTime:  d.ExpiresAt,
			ConsumedTimes:    d.Deliveries,
			Tag:              d.Message.Tag,
			Properties:       mqPropertiesText(d),
		}
	}
	s.writeMQMessages(rc, out)
	return nil
}

// ---- Ack ----

type mqAckXML struct {
	XMLName xml.Name `xml:"ReceiptHandles"`
	Handles []string `xml:"ReceiptHandle"`
}

type mqAckErrorXML struct {
	XMLName       xml.Name `xml:"Error"`
	Code          string   `xml:"ErrorCode"`
	Message       string   `xml:"ErrorMessage"`
	ReceiptHandle string   `xml:"ReceiptHandle"`
}

// Ack outcomes of one handle.
const (
	mqHandleError    = "ReceiptHandleError"
	mqHandleNotExist = "MessageNotExist"
)

// parseMQAckHandles decodes an ack body into its 1 to mqMaxAck non-empty
// receipt handles (trimmed).
func parseMQAckHandles(body []byte) ([]string, error) {
	var req mqAckXML
	if len(bytes.TrimSpace(body)) > 0 {
		if err := xml.Unmarshal(body, &req); err != nil {
			return nil, errMQMalformed
		}
	}
	handles := req.Handles[:0:0]
	for _, h := range req.Handles {
		if h = strings.TrimSpace(h); h != "" {
			handles = append(handles, h)
		}
	}
	if len(handles) == 0 {
		return nil, errMQNoHandle
	}
	if len(handles) > mqMaxAck {
		return nil, mqInvalid("at most %d receipt handles per request", mqMaxAck)
	}
	return handles, nil
}

func (s *Server) mqAck(rc *fasthttp.RequestCtx, project, topic string) error {
	args := rc.QueryArgs()
	groupName := string(args.Peek("consumer"))
	if err := checkGroupName(groupName); err != nil {
		return mqInvalid("consumer must be 1-32 characters of [A-Za-z0-9_-]")
	}
	handles, err := parseMQAckHandles(rc.PostBody())
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	q, qid, err := s.mqQueue(ctx, project, topic)
	if err != nil {
		return err
	}
	// The group may have been created (on first use) through another node
	// moments ago; EnsureGroup finds it after catching up. A group that
	// cannot exist (quota) has no deliveries: every handle is foreign.
	q, group, err := s.broker.EnsureGroup(ctx, q, groupName)
	if err != nil && !errors.Is(err, cluster.ErrGroupQuota) {
		return err
	}
	gid, _ := parseGroupID(group.ID)
	key, ok := s.broker.HandlerKey()
	if !ok {
		return errNotJoined
	}
	now := s.cfg.Now().UnixMilli()
	var failed []mqAckErrorXML
	for _, h := range handles {
		code, err := s.mqAckOne(ctx, key, q, qid, group.ID, gid, h, now)
		if err != nil {
			return err
		}
		switch code {
		case "":
		case mqHandleNotExist:
			failed = append(failed, mqAckErrorXML{Code: code, Message: "the receipt handle you provided has expired", ReceiptHandle: h})
		default:
			failed = append(failed, mqAckErrorXML{Code: code, Message: "the receipt handle you provided is not valid", ReceiptHandle: h})
		}
	}
	s.writeMQAckOutcome(rc, failed)
	return nil
}

// mqAckOne acknowledges one handle on its own and returns "" or the error
// code for it. A handle past its NextConsumeTime is MessageNotExist without
// asking the partition: whether or not it was redelivered since, it is
// expired.
func (s *Server) mqAckOne(ctx context.Context, key []byte, q cluster.Queue, qid [16]byte, groupID string, gid [16]byte, h string, now int64) (string, error) {
	r, err := parseReceipt(key, h)
	switch {
	case err != nil, groupID == "", r.kind != kindRocketMQ, r.queue != qid, r.group != gid,
		int64(r.partition) >= int64(q.Partitions):
		return mqHandleError, nil
	case r.expiresAt <= now:
		return mqHandleNotExist, nil
	}
	out, err := s.broker.Ack(ctx, q, groupID, false, []cluster.AckEntry{{
		Partition: int(r.partition),
		Item:      fsm.AckItem{Offset: r.offset, DeliveryID: r.deliveryID, Success: true},
	}})
	switch {
	case err != nil:
		return "", err
	case out.Success == 1:
		return "", nil
	case out.Reason == "handler_expired":
		return mqHandleNotExist, nil
	case out.Reason == "unavailable":
		return "", cluster.ErrUnavailable
	}
	return mqHandleError, nil
}

// mqQueue finds the topic's queue in the project and its id as bytes.
func (s *Server) mqQueue(ctx context.Context, project, topic string) (cluster.Queue, [16]byte, error) {
	q, err := s.broker.QueueByName(ctx, project, topic)
	if err != nil {
		return q, [16]byte{}, err
	}
	qid, ok := parseUUID(q.ID)
	if !ok {
		return q, qid, fmt.Errorf("queue id %q is not a UUID", q.ID)
	}
	return q, qid, nil
}
