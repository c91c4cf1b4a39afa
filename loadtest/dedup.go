package loadtest

import (
	"strconv"
	"time"
)

// With Config.DedupIDs every message carries a dedup_id unique to the run,
// the producer and the sequence number. A produce retried after a 503 or
// no answer resends the same body, ids included, so the broker stores each
// message once however often it is retried: the verification's duplicates
// (in particular duplicates_of_retried) then measure what idempotent produce
// leaves, which must be 0.

// appendDedupID appends the dedup_id of message seq of producer.
func appendDedupID(b []byte, runID string, producer, seq uint32) []byte {
	b = append(b, runID...)
	b = append(b, "-p"...)
	b = strconv.AppendUint(b, uint64(producer), 10)
	b = append(b, "-s"...)
	return strconv.AppendUint(b, uint64(seq), 10)
}

// appendProduceDedup is appendProduce with a dedup_id in every message.
func appendProduceDedup(b []byte, runID string, producer, seq uint32, n int, at time.Time, size int) []byte {
	b = append(b, `{"messages":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"dedup_id":"`...)
		b = appendDedupID(b, runID, producer, seq+uint32(i))
		b = append(b, `","body":`...)
		b = appendBody(b, producer, seq+uint32(i), at, size)
		b = append(b, '}')
	}
	return append(b, `]}`...)
}

// appendBatch appends the produce request body the run's configuration asks for.
func (r *runner) appendBatch(b []byte, producer, seq uint32, n int, at time.Time) []byte {
	if r.cfg.DedupIDs {
		return appendProduceDedup(b, r.runID, producer, seq, n, at, r.cfg.Size)
	}
	return appendProduce(b, producer, seq, n, at, r.cfg.Size)
}
