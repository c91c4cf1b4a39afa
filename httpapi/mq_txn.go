package httpapi

import (
	"context"
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
	"raftmq/fsm"
)

// RocketMQ transactional messages, as the official client's transactional
// producer speaks them: a publish with __TransCheckT stores a half message
// and answers with a ReceiptHandle; DELETE ...&trans=commit|rollback with
// that handle ends it; GET ...&trans=pop hands out the half messages whose
// check time passed (the producer's check-back), each with a new handle.

// propTransCheck is the system property of a transactional publish: the
// seconds before the half message is first due for a check.
const propTransCheck = "__TransCheckT"

// Limits of __TransCheckT, in seconds.
const (
	mqMinTransCheck = 10
	mqMaxTransCheck = 300
)

// halfCheckSeconds reads __TransCheckT from a message's system properties
// ("k:v|k:v|"): ok is false when it is absent.
func halfCheckSeconds(props []byte) (secs int, ok bool, err error) {
	for _, kv := range strings.Split(string(props), "|") {
		k, v, _ := strings.Cut(kv, ":")
		if k != propTransCheck {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < mqMinTransCheck || n > mqMaxTransCheck {
			return 0, false, mqInvalid("%s must be an integer from %d to %d", propTransCheck, mqMinTransCheck, mqMaxTransCheck)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// halfReceipt is the handle of a half message at generation gen.
func halfReceipt(key []byte, qid [16]byte, partition int, halfID, gen uint64, checkAt int64) string {
	return receipt{kind: kindTransaction, queue: qid, partition: uint32(partition), offset: halfID,
		deliveryID: gen, expiresAt: checkAt}.encode(key)
}

// mqPublishHalf stores msg as a half message and answers its id and handle.
func (s *Server) mqPublishHalf(rc *fasthttp.RequestCtx, project, topic string, msg fsm.Message, text string, secs int) error {
	ctx, cancel := s.requestContext(0)
	defer cancel()
	q, qid, err := s.mqQueue(ctx, project, topic)
	if err != nil {
		return err
	}
	key, ok := s.broker.HandlerKey()
	if !ok {
		return errNotJoined
	}
	checkMs := int64(secs) * 1000
	ref, err := s.broker.ProduceHalf(ctx, q, msg, checkMs)
	if err != nil {
		return err
	}
	type publishXML struct {
		XMLName xml.Name `xml:"Message"`
		NS      string   `xml:"xmlns,attr"`
		ID      string   `xml:"MessageId"`
		MD5     string   `xml:"MessageBodyMD5"`
		Handle  string   `xml:"ReceiptHandle"`
	}
	handle := halfReceipt(key, qid, ref.Partition, ref.HalfID, 0, s.cfg.Now().UnixMilli()+checkMs)
	s.writeXML(rc, fasthttp.StatusCreated, publishXML{NS: mqNamespace, ID: messageID(qid, ref.Partition, ref.HalfID),
		MD5: bodyMD5(text), Handle: handle})
	return nil
}

// mqTransPop answers GET ...&trans=pop: the half messages due for a check.
func (s *Server) mqTransPop(rc *fasthttp.RequestCtx, project, topic string) error {
	n, waitDur, err := mqPollArgs(rc.QueryArgs())
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(waitDur)
	defer cancel()
	q, qid, err := s.mqQueue(ctx, project, topic)
	if err != nil {
		return err
	}
	key, ok := s.broker.HandlerKey()
	if !ok {
		return errNotJoined
	}
	if !s.acquireWaiter() {
		return errTooManyWaiting
	}
	defer s.releaseWaiter()
	hs, err := s.broker.TxnCheck(ctx, q, n, waitDur)
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		return errMQNoMessage
	}
	out := make([]mqMessageXML, len(hs))
	for i, h := range hs {
		text := mqBodyText(h.Message.Body)
		out[i] = mqMessageXML{
			ID:               messageID(qid, h.Partition, h.HalfID),
			ReceiptHandle:    halfReceipt(key, qid, h.Partition, h.HalfID, h.Gen, h.CheckAt),
			BodyMD5:          bodyMD5(text),
			Body:             text,
			PublishTime:      h.ProducedAt,
			FirstConsumeTime: h.ProducedAt,
			NextConsumeTime:  h.CheckAt,
			ConsumedTimes:    int(min(h.Gen, 1<<30)),
			Tag:              h.Message.Tag,
			Properties:       mqPropertiesText(cluster.Delivery{Delivery: fsm.Delivery{Message: h.Message}}),
		}
	}
	s.writeMQMessages(rc, out)
	return nil
}

// mqTransEnd answers DELETE ...&trans=commit|rollback: each handle names a
// half message at a generation; the producer group in consumer is not
// checked (it may be empty), the signed handle alone identifies it.
func (s *Server) mqTransEnd(rc *fasthttp.RequestCtx, project, topic string, commit bool) error {
	if g := string(rc.QueryArgs().Peek("consumer")); g != "" && checkGroupName(g) != nil {
		return mqInvalid("consumer must be empty or 1-32 characters of [A-Za-z0-9_-]")
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
	key, ok := s.broker.HandlerKey()
	if !ok {
		return errNotJoined
	}
	var failed []mqAckErrorXML
	for _, h := range handles {
		ended, err := s.mqTransEndOne(ctx, key, q, qid, h, commit)
		if err != nil {
			return err
		}
		if !ended {
			failed = append(failed, mqAckErrorXML{Code: mqHandleError, Message: "the receipt handle you provided is not valid", ReceiptHandle: h})
		}
	}
	s.writeMQAckOutcome(rc, failed)
	return nil
}

func (s *Server) mqTransEndOne(ctx context.Context, key []byte, q cluster.Queue, qid [16]byte, h string, commit bool) (bool, error) {
	r, err := parseReceipt(key, h)
	if err != nil || r.kind != kindTransaction || r.queue != qid || int64(r.partition) >= int64(q.Partitions) {
		return false, nil
	}
	ok, err := s.broker.TxnEnd(ctx, q, cluster.HalfRef{Partition: int(r.partition), HalfID: r.offset}, r.deliveryID, commit)
	return ok, err
}
