package httpapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
)

// This file is the RocketMQ door's frame: routing of /topics/..., request
// authentication, and its XML error vocabulary (API.md section 3). The
// message operations are in mq_messages.go.

const (
	mqPrefix          = "/topics/"
	mqNamespace       = "http://mq.aliyuncs.com/doc/v1/"
	contentTypeXML    = "text/xml;charset=utf-8"
	headerMQRequestID = "x-mq-request-id"
	defaultMQProject  = "default"
)

// mqError is an error of the RocketMQ door: a status and an XML error code.
type mqError struct {
	status int
	code   string
	msg    string
}

func (e *mqError) Error() string {
	return fmt.Sprintf("httpapi: rocketmq: %s (%d %s)", e.msg, e.status, e.code)
}

func mqInvalid(format string, args ...any) *mqError {
	return &mqError{status: 400, code: "InvalidArgument", msg: fmt.Sprintf(format, args...)}
}

var (
	errMQMalformed     = &mqError{status: 400, code: "MalformedXML", msg: "the request body is not well-formed XML of the expected shape"}
	errMQTopicNotExist = &mqError{status: 404, code: "TopicNotExist", msg: "the topic does not exist"}
	errMQNoMessage     = &mqError{status: 404, code: "MessageNotExist", msg: "no message was available within the wait"}
	errMQNoHandle      = &mqError{status: 404, code: "MissingReceiptHandle", msg: "ReceiptHandle is required"}
)

// mqErrorResponse maps any error to a status and an XML error code and
// message: the RocketMQ door's counterpart of errorResponse.
func mqErrorResponse(err error) (status int, code, msg string) {
	if me := (*mqError)(nil); errors.As(err, &me) {
		return me.status, me.code, me.msg
	}
	if ae := (*apiError)(nil); errors.As(err, &ae) {
		switch ae.status {
		case 429:
			return 429, "TooManyWaitingConsumers", ae.msg
		case 503:
			return 503, "ServiceUnavailable", ae.msg
		case 413:
			return 413, "InvalidArgument", ae.msg
		case 404:
			return 404, "NotFound", ae.msg
		case 405:
			return 405, "MethodNotAllowed", ae.msg
		}
		return ae.status, "InvalidArgument", ae.msg
	}
	switch {
	case errors.Is(err, cluster.ErrQueueNotFound):
		return 404, errMQTopicNotExist.code, errMQTopicNotExist.msg
	case errors.Is(err, cluster.ErrGroupQuota):
		return 400, "InvalidArgument", "too many consumer groups on this topic"
	case errors.Is(err, cluster.ErrDiskFull):
		return 507, "InsufficientStorage", "too little free disk space on a node of this topic's partition: publish refused, consume and ack still served; retry later"
	case errors.Is(err, cluster.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return 503, "ServiceUnavailable", "partition leader unavailable or request timed out, retry later"
	}
	return 500, "InternalError", "internal error"
}

// writeMQError answers with the XML error for err.
func (s *Server) writeMQError(rc *fasthttp.RequestCtx, err error) {
	status, code, msg := mqErrorResponse(err)
	if status >= 500 && status != 503 && status != 507 {
		s.log.Error("httpapi: rocketmq request failed", "request_id", string(rc.Response.Header.Peek(headerRequestID)),
			"method", string(rc.Method()), "path", string(rc.Path()), "err", err)
	}
	if ra := retryAfter(status); ra != "" {
		rc.Response.Header.Set(headerRetryAfter, ra)
	}
	type errorXML struct {
		XMLName   xml.Name `xml:"Error"`
		NS        string   `xml:"xmlns,attr"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		RequestID string   `xml:"RequestId"`
		HostID    string   `xml:"HostId"`
	}
	s.writeXML(rc, status, errorXML{
		NS: mqNamespace, Code: code, Message: msg,
		RequestID: string(rc.Response.Header.Peek(headerRequestID)),
		HostID:    "http://" + string(rc.Host()),
	})
}

// writeXML answers with status and v marshalled as XML after a declaration.
func (s *Server) writeXML(rc *fasthttp.RequestCtx, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		s.log.Error("httpapi: rocketmq: encode response", "err", err)
		status, b = 500, []byte(`<Error><Code>InternalError</Code><Message>internal error</Message></Error>`)
	}
	rc.SetStatusCode(status)
	rc.SetContentType(contentTypeXML)
	rc.SetBody(append([]byte(xml.Header), b...))
}

// mqDispatch serves /topics/{TopicName}/messages: POST publishes, GET
// consumes, DELETE acknowledges. Every answer is XML with x-mq-request-id.
func (s *Server) mqDispatch(rc *fasthttp.RequestCtx, rest string) {
	rc.Response.Header.Set(headerMQRequestID, string(rc.Response.Header.Peek(headerRequestID)))
	if err := s.mqServe(rc, rest); err != nil {
		s.writeMQError(rc, err)
		return
	}
	rc.SetContentType(contentTypeXML)
}

func (s *Server) mqServe(rc *fasthttp.RequestCtx, rest string) error {
	topic, tail, ok := strings.Cut(rest, "/")
	if !ok || tail != "messages" || topic == "" {
		return &mqError{status: 404, code: "NotFound", msg: "unknown path"}
	}
	method := string(rc.Method())
	switch method {
	case fasthttp.MethodPost, fasthttp.MethodGet, fasthttp.MethodDelete:
	default:
		rc.Response.Header.Set(fasthttp.HeaderAllow, "DELETE, GET, POST")
		return &mqError{status: 405, code: "MethodNotAllowed", msg: "method not allowed on this path"}
	}
	project := defaultMQProject
	if ns := rc.QueryArgs().Peek("ns"); len(ns) > 0 {
		project = string(ns)
	}
	if err := s.mqAuthenticate(rc, project); err != nil {
		return err
	}
	if len(project) > 64 || !validName(project) {
		return mqInvalid("ns must be 1-64 characters of [A-Za-z0-9_-]")
	}
	trans := string(rc.QueryArgs().Peek("trans"))
	switch {
	case method == fasthttp.MethodPost:
		return s.mqPublish(rc, project, topic)
	case method == fasthttp.MethodGet && trans == "pop":
		return s.mqTransPop(rc, project, topic)
	case method == fasthttp.MethodGet:
		return s.mqConsume(rc, project, topic)
	case trans == "commit" || trans == "rollback":
		return s.mqTransEnd(rc, project, topic, trans == "commit")
	case trans != "":
		return mqInvalid("trans=%s is not supported here", trans)
	default:
		return s.mqAck(rc, project, topic)
	}
}

// mqAuthenticate checks the Content-MD5 (when sent) and, when the server
// has credentials, the request's signature and the key's right to project.
func (s *Server) mqAuthenticate(rc *fasthttp.RequestCtx, project string) error {
	h := &rc.Request.Header
	if err := checkContentMD5(string(h.Peek("Content-MD5")), rc.Request.Body()); err != nil {
		return err
	}
	if s.cfg.Credentials == nil {
		return nil
	}
	r := mqSignRequest{
		method:      string(h.Method()),
		contentMD5:  string(h.Peek("Content-MD5")),
		contentType: string(h.ContentType()),
		date:        string(h.Peek("Date")),
		resource:    string(h.RequestURI()),
	}
	for k, v := range h.All() {
		name := strings.ToLower(string(k))
		if strings.HasPrefix(name, "x-mq-") {
			r.mqHeaders = append(r.mqHeaders, name+":"+strings.TrimSpace(string(v)))
		}
	}
	return s.cfg.Credentials.verifyMQ(string(h.Peek("Authorization")), r, project, s.cfg.Now())
}
