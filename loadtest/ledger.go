package loadtest

import (
	"fmt"
	"sort"
	"sync"
)

// msgKey identifies one message of a run: the producer's id (unique across
// the run's phases) in the high 32 bits, its sequence number in the low.
type msgKey uint64

func makeKey(producer, seq uint32) msgKey { return msgKey(uint64(producer)<<32 | uint64(seq)) }

func (k msgKey) String() string { return fmt.Sprintf("p%d/s%d", uint64(k)>>32, uint32(k)) }

// Produce outcomes.
const (
	outcomeUnknown   = 1 << iota // sent; no 201 yet (5xx, no answer)
	outcomeConfirmed             // answered 201
	outcomeRejected              // answered 4xx: not stored
	outcomeRetried               // sent more than once
)

type ledgerEntry struct {
	outcome    uint8
	queue      uint8 // index of the queue it was sent to (or, never sent, delivered from)
	deliveries uint32
}

// tally counts one queue's messages, or the run's.
type tally struct {
	confirmed int64 // messages answered 201
	matched   int64 // confirmed messages delivered at least once
	unknown   int64 // messages sent whose outcome is unknown (not confirmed, not rejected)
}

// ledger is the verification bookkeeping of a run: what each producer sent
// to which queue and how its answer came back, and how often each message
// was delivered, and from which queue. It is safe for concurrent use.
type ledger struct {
	mu         sync.Mutex
	entries    map[msgKey]*ledgerEntry
	all        tally
	queues     []tally // by queue index
	deliveries int64
	misrouted  int64 // deliveries from a queue the message was not sent to
}

// newLedger returns the ledger of a run over the given number of queues
// (at most 256: an entry keeps its queue in a byte).
func newLedger(queues int) *ledger {
	return &ledger{entries: map[msgKey]*ledgerEntry{}, queues: make([]tally, queues)}
}

// count applies f to the run's tally and to the queue's.
func (l *ledger) count(queue uint8, f func(t *tally)) {
	f(&l.all)
	f(&l.queues[queue])
}

func (l *ledger) entry(k msgKey) *ledgerEntry {
	e := l.entries[k]
	if e == nil {
		e = &ledgerEntry{}
		l.entries[k] = e
	}
	return e
}

// Sent records that n messages from seq on were sent to the queue (again,
// when retried).
func (l *ledger) Sent(queue int, producer, seq uint32, n int, retry bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range n {
		e := l.entry(makeKey(producer, seq+uint32(i)))
		if e.outcome&(outcomeUnknown|outcomeConfirmed|outcomeRejected) == 0 {
			e.outcome |= outcomeUnknown
			e.queue = uint8(queue)
			l.count(e.queue, func(t *tally) { t.unknown++ })
		}
		if retry {
			e.outcome |= outcomeRetried
		}
	}
}

// Confirmed records a 201 for n messages from seq on.
func (l *ledger) Confirmed(producer, seq uint32, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range n {
		e := l.entry(makeKey(producer, seq+uint32(i)))
		if e.outcome&outcomeConfirmed != 0 {
			continue
		}
		delivered := e.deliveries > 0
		l.count(e.queue, func(t *tally) {
			if e.outcome&outcomeUnknown != 0 {
				t.unknown--
			}
			t.confirmed++
			if delivered {
				t.matched++
			}
		})
		e.outcome = e.outcome&^(outcomeUnknown|outcomeRejected) | outcomeConfirmed
	}
}

// Rejected records a 4xx answer for n messages from seq on: they were not
// stored.
func (l *ledger) Rejected(producer, seq uint32, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range n {
		e := l.entry(makeKey(producer, seq+uint32(i)))
		if e.outcome&outcomeUnknown != 0 {
			l.count(e.queue, func(t *tally) { t.unknown-- })
			e.outcome = e.outcome&^outcomeUnknown | outcomeRejected
		}
	}
}

// Delivered records one delivery of a message from the queue and reports
// whether it was the message's first. A message delivered from a queue it
// was not sent to is counted as misrouted: queues must not share messages.
func (l *ledger) Delivered(queue int, k msgKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, sent := l.entries[k]
	if !sent {
		e = &ledgerEntry{queue: uint8(queue)}
		l.entries[k] = e
	} else if e.outcome != 0 && int(e.queue) != queue {
		l.misrouted++
	}
	e.deliveries++
	l.deliveries++
	if e.deliveries == 1 && e.outcome&outcomeConfirmed != 0 {
		l.count(e.queue, func(t *tally) { t.matched++ })
	}
	return e.deliveries == 1
}

// Outstanding returns the run's confirmed messages not delivered yet and
// its messages whose produce outcome is unknown.
func (l *ledger) Outstanding() (confirmedUndelivered, unknown int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.confirmed - l.all.matched, l.all.unknown
}

// OutstandingIn is Outstanding for the messages sent to one queue.
func (l *ledger) OutstandingIn(queue int) (confirmedUndelivered, unknown int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.queues[queue]
	return t.confirmed - t.matched, t.unknown
}

// Deliveries returns the number of deliveries recorded.
func (l *ledger) Deliveries() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deliveries
}

// maxLostSample bounds the lost message ids listed in a report.
const maxLostSample = 20

// Verify counts lost and duplicate deliveries, for the run and for each
// queue (by index).
func (l *ledger) Verify() (Verification, []QueueCounts) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := Verification{Deliveries: l.deliveries, Misrouted: l.misrouted, GroupAvailable: -1, GroupConsumed: -1}
	qs := make([]QueueCounts, len(l.queues))
	var lost []msgKey
	for k, e := range l.entries {
		qs[e.queue].add(e)
		switch {
		case e.outcome&outcomeConfirmed != 0:
			v.Confirmed++
		case e.outcome&outcomeRejected != 0:
			v.Rejected++
		case e.outcome&outcomeUnknown != 0:
			v.Unconfirmed++
			if e.deliveries > 0 {
				v.UnconfirmedDelivered++
			}
		default:
			v.Foreign++ // delivered, never sent by this run
		}
		if e.deliveries > 0 {
			v.Delivered++
		}
		if e.deliveries > 1 {
			v.Duplicates += int64(e.deliveries - 1)
			if e.outcome&outcomeRetried != 0 {
				v.DuplicatesOfRetried += int64(e.deliveries - 1)
			}
		}
		if e.outcome&outcomeConfirmed != 0 && e.deliveries == 0 {
			v.Lost++
			lost = append(lost, k)
		}
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i] < lost[j] })
	for _, k := range lost[:min(len(lost), maxLostSample)] {
		v.LostSample = append(v.LostSample, k.String())
	}
	return v, qs
}

// QueueCounts is the verification of one queue's messages: those sent to
// it, and those delivered from it that no producer sent.
type QueueCounts struct {
	Confirmed   int64 `json:"confirmed"`   // messages produced to it with 201
	Delivered   int64 `json:"delivered"`   // distinct messages of it delivered
	Deliveries  int64 `json:"deliveries"`  // deliveries of its messages, duplicates included
	Lost        int64 `json:"lost"`        // produced to it with 201, never consumed (0 when the run is not complete)
	Undelivered int64 `json:"undelivered"` // when the run is not complete: produced to it with 201, not consumed before the run stopped
	Duplicates  int64 `json:"duplicates"`  // deliveries beyond each message's first
}

func (q *QueueCounts) add(e *ledgerEntry) {
	confirmed := e.outcome&outcomeConfirmed != 0
	if confirmed {
		q.Confirmed++
	}
	if e.deliveries > 0 {
		q.Delivered++
		q.Duplicates += int64(e.deliveries - 1)
	}
	q.Deliveries += int64(e.deliveries)
	if confirmed && e.deliveries == 0 {
		q.Lost++
	}
}

// Verification is the loss and duplicate check of a run.
type Verification struct {
	Confirmed            int64    `json:"confirmed"`             // messages produced with 201
	Rejected             int64    `json:"rejected"`              // messages refused with 4xx (not stored)
	Unconfirmed          int64    `json:"unconfirmed"`           // messages sent whose outcome stayed unknown
	UnconfirmedDelivered int64    `json:"unconfirmed_delivered"` // of those, delivered anyway
	Foreign              int64    `json:"foreign"`               // delivered messages this run never sent
	Delivered            int64    `json:"delivered"`             // distinct messages delivered
	Deliveries           int64    `json:"deliveries"`            // deliveries, duplicates included
	Complete             bool     `json:"complete"`              // the verify phase drained the queue; else lost is not judged
	Lost                 int64    `json:"lost"`                  // produced with 201, never consumed (0 when not complete)
	Undelivered          int64    `json:"undelivered"`           // when not complete: produced with 201, not consumed before the run stopped
	Duplicates           int64    `json:"duplicates"`            // deliveries beyond each message's first
	Misrouted            int64    `json:"misrouted"`             // deliveries from a queue other than the one the message was produced to
	DuplicatesOfRetried  int64    `json:"duplicates_of_retried"` // of those, of messages whose produce was retried
	LostSample           []string `json:"lost_sample,omitempty"` // up to 20 lost message ids (producer/sequence)
	GroupAvailable       int64    `json:"group_available"`       // the group's available_messages at the end; -1 when unread
	GroupConsumed        int64    `json:"group_consumed"`        // the group's consumed_messages at the end; -1 when unread
	FinalPollDeliveries  int64    `json:"final_poll_deliveries"` // deliveries of the last poll after the queue looked empty
}
