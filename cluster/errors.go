package cluster

import "errors"

// ErrUnavailable means the partition or metadata leader could not be
// reached in time (election in progress, node down). The request's outcome
// is unknown unless the error says otherwise; clients retry.
var ErrUnavailable = errors.New("cluster: leader unavailable")
