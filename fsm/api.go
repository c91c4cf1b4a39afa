package fsm

// This file is the contract other packages build on: identifiers, commands,
// results and reasons. Its shapes are shared with partition, cluster and
// httpapi; change them only together.

// Policy is the part of a queue's configuration that the state machine needs.
// It is immutable for the life of a queue, and every command carries it so
// that the state machine never needs a separate configuration step.
type Policy struct {
	FIFO            bool  // deliver strictly by offset per group
	MaxConsumeCount uint8 // failed consumptions before dead-lettering; 0 = redrive off
	RetentionMs     int64 // how long messages are kept, ms (72 h unless a Kafka mode sets it)

	// AckedRetention (the queue's retention_policy "acked") also trims the
	// messages that every group has done in its normal lane (acknowledged
	// with success, dead-lettered or filtered out), before RetentionMs
	// ends. With no group, only RetentionMs trims.
	AckedRetention bool
}

// DeadLetterRetentionMs is how long a dead letter is kept after it was
// dead-lettered (72 hours).
const DeadLetterRetentionMs = 72 * 3600 * 1000

// MaxLeaseBytes is the largest sum of message sizes one lease may return.
const MaxLeaseBytes = 524288

// Message is one stored message, as produced.
//
// Tag, Key, DeliverAt and Props came with the RocketMQ door (Enqueue
// version 2); a message without them encodes exactly as before.
type Message struct {
	Body       []byte // the exact JSON text of the DMS body
	Attributes []byte // the exact JSON text of the attributes object; nil when none was sent

	Tag       string // RocketMQ MessageTag; "" = untagged. Lease.Tags filters on it
	Key       string // sharding key; "" = none. An ordered Lease delivers one message per key at a time
	DeliverAt int64  // unix ms: not leased before this time (RocketMQ __STARTDELIVERTIME); 0 = at once
	Props     []byte // opaque to the state machine: system properties the HTTP layer echoes; nil = none
}

// Size is the message's size as API.md measures it.
func (m Message) Size() int { return len(m.Body) + len(m.Attributes) }

// plain reports whether m uses none of the version 2 fields.
func (m Message) plain() bool {
	return m.Tag == "" && m.Key == "" && m.DeliverAt == 0 && m.Props == nil
}

// GroupID identifies a consumer group inside one partition's state. It is the
// group's catalogue id (e.g. "g-<uuid>"); a group's state is created on first
// use, starting at the oldest retained message.
type GroupID string

// Header is carried by every command: the leader's clock and the queue policy.
type Header struct {
	Now    int64 // unix milliseconds on the proposing leader; the state clamps it so it never goes back
	Policy Policy
}

// Enqueue appends messages to the partition. All are stored or none.
type Enqueue struct {
	Header
	Messages []Message

	// HalfCheckMs > 0 stores the messages as half (transactional) messages,
	// each first due for the producer's check-back HalfCheckMs after the
	// publish (see TxnCheck and TxnEnd). Enqueue version 3.
	HalfCheckMs int64
	// DedupIDs, when not nil, has one deduplication id per message ("" =
	// none); see dedup.go. Not with HalfCheckMs. Enqueue version 3.
	DedupIDs []string
}

// Lease leases up to Max ready messages (whose sizes sum to at most MaxBytes)
// to Group for AckWaitMs. With DeadLetter it leases from the group's dead
// letters instead. Expired leases are settled first.
type Lease struct {
	Header
	Group      GroupID
	Max        int   // 1..16
	MaxBytes   int   // budget for the sum of message sizes
	AckWaitMs  int64 // lease length
	DeadLetter bool

	// Tags, when not empty, is the group's tag filter (normal lane only):
	// a message whose Tag is not in it, untagged ones included, is settled
	// for the group without being delivered, as if acknowledged. Sorted,
	// without duplicates or empty strings (Encode refuses others).
	Tags []string
	// Ordered delivers per sharding key (normal lane of a NORMAL queue):
	// a message is leased only when every earlier message of the group with
	// the same Message.Key is settled. Messages without a key share the key "".
	Ordered bool
}

// AckItem names one delivery in an ordered ack.
type AckItem struct {
	Offset     uint64 // message offset (dead-letter sequence with DeadLetter)
	DeliveryID uint64 // the delivery this handler was minted for
	Success    bool   // false: the client reported failure, or the item is already known to fail (see Ack)
}

// Ack settles deliveries of Group in order: it stops at the first item that is
// not a successful ack of a live delivery. That item and every later one that
// names a live delivery of this group (and lane) are released for redelivery
// and count as a failed consumption.
type Ack struct {
	Header
	Group      GroupID
	DeadLetter bool
	Items      []AckItem
	// Released, when true, means an earlier part of the same client request
	// already failed (another partition): every item is released, none succeeds.
	Released bool
}

// Tick settles expired leases and trims messages past retention and dead
// letters past DeadLetterRetentionMs. Every command does the same before its
// own work; Tick exists for the leader's periodic housekeeping.
type Tick struct {
	Header
}

// Forget deletes a group's state and dead letters.
type Forget struct {
	Header
	Group GroupID
}

// Result is what applying a command returns. Each command type has its own
// result type; a proposer type-asserts the one it expects.
type Result interface{ isResult() }

// EnqueueResult gives the offsets assigned to an Enqueue's messages, in order.
type EnqueueResult struct {
	FirstOffset uint64 // offsets are FirstOffset, FirstOffset+1, ...
	Count       int    // messages stored in the log

	// Dedup is set when the Enqueue had DedupIDs. (A pointer keeps the
	// result comparable.)
	Dedup *DedupOutcome `json:",omitempty"`
	// With HalfCheckMs: the half messages stored, HalfIDs FirstHalf,
	// FirstHalf+1, ..., each at generation 0.
	FirstHalf uint64 `json:",omitempty"`
	Halves    int    `json:",omitempty"`
}

// DedupOutcome says where each message of an Enqueue with DedupIDs is.
type DedupOutcome struct {
	Offsets    []uint64 // message i's offset: its first one's for a duplicate
	Duplicates int      // messages not stored because their id was remembered
}

// Delivery is one leased message.
type Delivery struct {
	Offset           uint64 // message offset, or dead-letter sequence
	DeliveryID       uint64 // unique per partition: the Raft index of the Lease entry
	ExpiresAt        int64  // unix ms: the lease ends
	ProducedAt       int64  // unix ms: when the message was enqueued
	FirstDeliveredAt int64  // unix ms: first delivery of this message to this group (this lane)
	Deliveries       int    // how many times this group has been given this message, this one included
	Message          Message
	// OriginalOffset is the message's offset in the partition's log: equal to
	// Offset in the normal lane, the dead-lettered message's offset in the
	// dead-letter lane. (Added by the fsm implementation.)
	OriginalOffset uint64
	// DeadLetteredAt is when the message was dead-lettered (unix ms); 0 in the
	// normal lane. (Added by the fsm implementation.)
	DeadLetteredAt int64
	// HalfID is, for a committed transactional message, the HalfID it had
	// as a half message (its message id is made from it); 0 otherwise.
	HalfID uint64 `json:",omitempty"`
}

// IDOffset is what the message's id is made of: its HalfID for a committed
// transactional message, else its offset in the partition's log.
func (d Delivery) IDOffset() uint64 {
	if d.HalfID != 0 {
		return d.HalfID
	}
	return d.OriginalOffset
}

// LeaseResult lists the leased messages, in the order they should be returned.
type LeaseResult struct {
	Deliveries []Delivery
}

// Reason says why an ack item failed.
type Reason uint8

const (
	ReasonNone         Reason = iota
	ReasonStatusFail          // the client reported failure
	ReasonExpired             // the lease ended before the ack
	ReasonAlreadyAcked        // the delivery was already settled
	ReasonSuperseded          // a newer delivery of the message exists
	ReasonReleased            // an earlier item of the same request failed (Ack.Released)
)

// AckResult is the outcome of an ordered ack.
type AckResult struct {
	Success int    // items acknowledged, a prefix of Items
	Fail    int    // len(Items) - Success
	Reason  Reason // why item Success failed; ReasonNone when Fail == 0
}

// TickResult reports housekeeping done.
type TickResult struct {
	Expired      int // leases that ended unacknowledged
	DeadLettered int // messages moved to dead letters
	Trimmed      int // messages and dead letters dropped by retention
}

// ForgetResult is the result of Forget.
type ForgetResult struct{}

func (EnqueueResult) isResult() {}
func (LeaseResult) isResult()   {}
func (AckResult) isResult()     {}
func (TickResult) isResult()    {}
func (ForgetResult) isResult()  {}

// GroupStats are a group's counters, as the DMS group listing reports them.
type GroupStats struct {
	Produced             int64 // messages the partition retains
	Consumed             int64 // retained messages the group acknowledged with success
	Available            int64 // Produced - Consumed - retained messages dead-lettered by the group
	ProducedDeadLetters  int64 // messages ever dead-lettered by the group
	AvailableDeadLetters int64 // dead letters not yet acknowledged
}
