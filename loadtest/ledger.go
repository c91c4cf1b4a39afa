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
	deliveries uint32
}

// ledger is the verification bookkeeping of a run: what each producer sent
// and how its answer came back, and how often each message was delivered.
// It is safe for concurrent use.
type ledger struct {
	mu         sync.Mutex
	entries    map[msgKey]*ledgerEntry
	confirmed  int64 // messages answered 201
	matched    int64 // confirmed messages delivered at least once
	unknown    int64 // messages sent whose outcome is unknown (not confirmed, not rejected)
	deliveries int64
}

func newLedger() *ledger { return &ledger{entries: map[msgKey]*ledgerEntry{}} }

func (l *ledger) entry(k msgKey) *ledgerEntry {
	e := l.entries[k]
	if e == nil {
		e = &ledgerEntry{}
		l.entries[k] = e
	}
	return e
}

// Sent records that n messages from seq on were sent (again, when retried).
func (l *ledger) Sent(producer, seq uint32, n int, retry bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range n {
		e := l.entry(makeKey(producer, seq+uint32(i)))
		if e.outcome&(outcomeUnknown|outcomeConfirmed|outcomeRejected) == 0 {
			e.outcome |= outcomeUnknown
			l.unknown++
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
		if e.outcome&outcomeUnknown != 0 {
			l.unknown--
		}
		e.outcome = e.outcome&^(outcomeUnknown|outcomeRejected) | outcomeConfirmed
		l.confirmed++
		if e.deliveries > 0 {
			l.matched++
		}
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
			l.unknown--
			e.outcome = e.outcome&^outcomeUnknown | outcomeRejected
		}
	}
}

// Delivered records one delivery of a message and reports whether it was
// the message's first.
func (l *ledger) Delivered(k msgKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(k)
	e.deliveries++
	l.deliveries++
	if e.deliveries == 1 && e.outcome&outcomeConfirmed != 0 {
		l.matched++
	}
	return e.deliveries == 1
}

// Outstanding returns the confirmed messages not delivered yet and the
// messages whose produce outcome is unknown.
func (l *ledger) Outstanding() (confirmedUndelivered, unknown int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.confirmed - l.matched, l.unknown
}

// Deliveries returns the number of deliveries recorded.
func (l *ledger) Deliveries() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deliveries
}

// maxLostSample bounds the lost message ids listed in a report.
const maxLostSample = 20

// Verify counts lost and duplicate deliveries.
func (l *ledger) Verify() Verification {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := Verification{Deliveries: l.deliveries, GroupAvailable: -1, GroupConsumed: -1}
	var lost []msgKey
	for k, e := range l.entries {
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
	return v
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
	DuplicatesOfRetried  int64    `json:"duplicates_of_retried"` // of those, of messages whose produce was retried
	LostSample           []string `json:"lost_sample,omitempty"` // up to 20 lost message ids (producer/sequence)
	GroupAvailable       int64    `json:"group_available"`       // the group's available_messages at the end; -1 when unread
	GroupConsumed        int64    `json:"group_consumed"`        // the group's consumed_messages at the end; -1 when unread
	FinalPollDeliveries  int64    `json:"final_poll_deliveries"` // deliveries of the last poll after the queue looked empty
}
