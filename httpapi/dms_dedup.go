package httpapi

import (
	"bytes"
	"context"
	"fmt"

	"raftmq/cluster"
	"raftmq/fsm"
)

// Idempotent produce (DMS door): a message may carry "dedup_id". A retry of
// the same id to the same queue within five minutes is answered as if
// stored, with the first message's id, and is not stored again (the state
// machine remembers the ids: fsm/dedup.go).

// maxDedupIDLen is the longest dedup_id.
const maxDedupIDLen = 128

// parseDedupIDs returns the dedup_id of each of the n messages of a produce
// body that parseProduce accepted ("" for none), or nil when none has one.
// Bodies that cannot carry one are not parsed twice.
func parseDedupIDs(body []byte, n int) ([]string, error) {
	if !bytes.Contains(body, []byte("dedup_id")) {
		return nil, nil
	}
	o, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	elems, err := o.arrayField("messages", n, n)
	if err != nil {
		return nil, err
	}
	var ids []string
	for i, e := range elems {
		m, err := elementObject(e, "messages", i)
		if err != nil {
			return nil, err
		}
		id, present, err := m.stringField("dedup_id")
		if err != nil || (present && !validDedupID(id)) {
			return nil, malformed("messages[%d]: dedup_id must be 1-%d characters of [A-Za-z0-9_.:-]", i, maxDedupIDLen)
		}
		if present && ids == nil {
			ids = make([]string, len(elems))
		}
		if present {
			ids[i] = id
		}
	}
	return ids, nil
}

func validDedupID(id string) bool {
	if id == "" || len(id) > maxDedupIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// produceRefs stores msgs, through the deduplication table when ids is not
// nil, and checks that every message has a ref.
func (s *Server) produceRefs(ctx context.Context, q cluster.Queue, msgs []fsm.Message, ids []string) ([]cluster.MessageRef, error) {
	var refs []cluster.MessageRef
	var err error
	if ids != nil {
		refs, _, err = s.broker.ProduceDedup(ctx, q, msgs, ids)
	} else {
		refs, err = s.broker.Produce(ctx, q, msgs)
	}
	if err == nil && len(refs) != len(msgs) {
		err = fmt.Errorf("produce: %d refs for %d messages", len(refs), len(msgs))
	}
	return refs, err
}
