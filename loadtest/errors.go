package loadtest

import (
	"errors"
	"fmt"
)

// ErrInvalidConfig reports a Config that Validate refused. Match with
// errors.Is; the message names the field.
var ErrInvalidConfig = errors.New("loadtest: invalid config")

// StatusError is an HTTP answer the harness did not expect: a status outside
// the operation's success status, with the DMS error_code of the body when it
// had one.
type StatusError struct {
	Op     string // produce, consume, ack, groups, create-queue, ...
	Status int
	Code   string // DMS error_code, "" when the body had none
	Msg    string // DMS error_msg, or the start of the body
}

func (e *StatusError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("loadtest: %s: status %d, error_code %s: %s", e.Op, e.Status, e.Code, e.Msg)
	}
	return fmt.Sprintf("loadtest: %s: status %d: %s", e.Op, e.Status, e.Msg)
}

// Retryable reports whether the harness retries the answer after a back-off:
// 503 (leader unreachable, election) and 429 (too many waiting consumers).
func (e *StatusError) Retryable() bool { return e.Status == 503 || e.Status == 429 }

// TransportError is a request that got no HTTP answer (refused, reset,
// timeout). Its outcome is unknown.
type TransportError struct {
	Op     string
	Target string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("loadtest: %s via %s: %v", e.Op, e.Target, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// ProtocolError is a success answer whose body the harness could not read.
type ProtocolError struct {
	Op   string
	Body string // the start of the body
	Err  error
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("loadtest: %s: unreadable answer %q: %v", e.Op, e.Body, e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }
