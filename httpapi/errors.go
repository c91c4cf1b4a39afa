package httpapi

import (
	"context"
	"errors"
	"fmt"

	"raftmq/cluster"
)

// DMS v1.0 error codes (API.md section 2). They are strings on the wire.
const (
	codeProjectInvalid   = "10240005" // project_id not 1-64 of [A-Za-z0-9_-]
	codeQueueNameChars   = "10240007" // queue name characters
	codeDescriptionChars = "10240010" // description contains < or >
	codeQueueNameLength  = "10240011" // queue name length (missing is length 0)
	codeGroupName        = "10240012" // group name length or characters
	codeDescriptionLen   = "10240013" // description longer than 160
	codeMaxMsgs          = "10240014" // max_msgs outside 1-10 or not an integer
	codeQueueExists      = "10240017"
	codeGroupExists      = "10240018"
	codeGroupQuota       = "10240019"
	codeQueueQuota       = "10240020"
	codeTimeWait         = "10240021" // time_wait outside 1-60 or not an integer
	codeMaxConsumeCount  = "10240022" // outside 1-100, or missing with redrive
	codeRetentionRange   = "10240027" // retention_hours outside 1-72
	codeRetentionMode    = "10240028" // retention_hours for a non-Kafka mode
	codeRetentionPolicy  = "10240029" // retention_policy not time or acked (raftmq extension)
	codeAckStatus        = "10540003" // ack status not success or fail
	codeMalformed        = "10540010" // malformed request
	codeTooLarge         = "10540011" // message(s) or HTTP body too large
	codeBodyMissing      = "10540012" // message body missing or null
	codeAckWait          = "10542206" // ack_wait outside 15-300 or not an integer
	codeQueueNotFound    = "10240401"
	codeGroupNotFound    = "10240405"
	codeUnknownPath      = "10240406" // also a known path with the wrong method (405)
	codeTooManyWaiting   = "10240407"
	codeNodeNotFound     = "10240404" // /v1/cluster/nodes/{id}: no such node
	codeNodeConflict     = "10240409" // /v1/cluster/nodes/{id}: the node's state forbids it
	codeUnavailable      = "10250005"
	// codeDiskFull is ours (DMS documents none): produce refused while a
	// replica's node is below its free-space watermark.
	codeDiskFull = "10550001"
	// The APIG gateway's authentication codes (API.md section 5).
	codeAuthFailed = "APIG.0301" // 401: unsigned, malformed, unknown key, bad signature, skewed date
	codeAuthDenied = "APIG.0302" // 403: a valid key not allowed on that project, or not an admin key
	// codeInternal is ours: DMS documents no code for an internal error.
	codeInternal = "10250000"
)

// apiError is an error the HTTP layer detected itself (validation, routing,
// admission). It carries the response it maps to.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("httpapi: %s (%d %s)", e.msg, e.status, e.code)
}

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: 400, code: code, msg: fmt.Sprintf(format, args...)}
}

// malformed is the catch-all 400 for a request of the wrong shape.
func malformed(format string, args ...any) *apiError {
	return badRequest(codeMalformed, format, args...)
}

// errorBody is the DMS error body.
type errorBody struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

// errorResponse maps any error to an HTTP status and a DMS error body. It is
// the only code that knows both vocabularies. Unknown errors become 500 with
// a generic message; the caller logs the detail, it is never sent.
//
// 429 and 503 answers also carry Retry-After: 1, 507 Retry-After: 5 (see
// retryAfter).
func errorResponse(err error) (status int, body errorBody) {
	if ae := (*apiError)(nil); errors.As(err, &ae) {
		return ae.status, errorBody{ae.code, ae.msg}
	}
	switch {
	case errors.Is(err, cluster.ErrQueueNotFound):
		return 404, errorBody{codeQueueNotFound, "queue not found"}
	case errors.Is(err, cluster.ErrGroupNotFound):
		return 404, errorBody{codeGroupNotFound, "consumer group not found"}
	case errors.Is(err, cluster.ErrQueueExists):
		return 400, errorBody{codeQueueExists, "queue name already exists"}
	case errors.Is(err, cluster.ErrGroupExists):
		return 400, errorBody{codeGroupExists, "consumer group name already exists"}
	case errors.Is(err, cluster.ErrGroupQuota):
		return 400, errorBody{codeGroupQuota, "too many consumer groups"}
	case errors.Is(err, cluster.ErrQueueQuota):
		return 400, errorBody{codeQueueQuota, "queue quota reached"}
	case errors.Is(err, cluster.ErrTagQuota):
		return 400, errorBody{codeMalformed, "a queue has at most 20 tags"}
	case errors.Is(err, cluster.ErrNodeNotFound):
		return 404, errorBody{codeNodeNotFound, "node not found"}
	case errors.Is(err, cluster.ErrNodeConflict):
		return 409, errorBody{codeNodeConflict, nodeConflictMsg(err)}
	case errors.Is(err, cluster.ErrUnavailable):
		return 503, errorBody{codeUnavailable, "partition leader unavailable, retry later"}
	case errors.Is(err, cluster.ErrDiskFull):
		return 507, errorBody{codeDiskFull, "too little free disk space on a node of this partition: produce refused, consume and ack still served; retry later"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// The broker did not answer in time: the outcome is unknown, as for
		// an unreachable leader.
		return 503, errorBody{codeUnavailable, "request timed out, outcome unknown, retry later"}
	}
	return 500, errorBody{codeInternal, "internal error"}
}

// retryAfter is the Retry-After header of a response with this status, in
// seconds, or "" for none. Free disk space comes back slower than a leader.
func retryAfter(status int) string {
	switch status {
	case 429, 503:
		return "1"
	case 507:
		return "5"
	}
	return ""
}

// Errors the handlers return for conditions of their own.
var (
	errUnknownPath    = &apiError{status: 404, code: codeUnknownPath, msg: "unknown path"}
	errQueueNotFound  = &apiError{status: 404, code: codeQueueNotFound, msg: "queue not found"}
	errGroupNotFound  = &apiError{status: 404, code: codeGroupNotFound, msg: "consumer group not found"}
	errTooManyWaiting = &apiError{status: 429, code: codeTooManyWaiting, msg: "too many waiting consumers on this node, retry later"}
	errNotJoined      = &apiError{status: 503, code: codeUnavailable, msg: "node has not joined a cluster, retry later"}
	errBodyTooLarge   = &apiError{status: 413, code: codeTooLarge, msg: "request body larger than the limit"}
	// DMS has no codes for these two; the status says it, with the
	// malformed-request code.
	errURITooLong     = &apiError{status: 414, code: codeMalformed, msg: "request line (path and query) longer than the limit"}
	errHeaderTooLarge = &apiError{status: 431, code: codeMalformed, msg: "request headers larger than the limit"}
	errNoDeadLetters  = malformed("queue has no dead letters: its redrive_policy is disable")
)
