package chaos

import (
	"bufio"
	"encoding/json"
	"os"
	"sync"
	"time"
)

// Outcome of a client operation, as in Jepsen: ok (the answer says what
// happened), error (a 4xx: nothing happened) or unknown (5xx, timeout, no
// answer: it may or may not have happened).
type Outcome string

// The three outcomes.
const (
	OK      Outcome = "ok"
	Error   Outcome = "error"
	Unknown Outcome = "unknown"
)

// Op kinds.
const (
	KindProduce = "produce"
	KindConsume = "consume"
	KindAck     = "ack"
	KindNemesis = "nemesis"

	// RocketMQ transactional messages (one value per op).
	KindTxnPublish = "txn_publish" // a half message published
	KindTxnEnd     = "txn_end"     // a commit (Commit) or rollback of Handle
	KindTxnCheck   = "txn_check"   // a check-back pop: Values and Handles of the half messages offered
)

// Delivery is one message of a consume answer.
type Delivery struct {
	Value   string `json:"value"`
	Handler string `json:"handler"`
}

// AckEntry is one entry of an ack request.
type AckEntry struct {
	Value   string `json:"value"`
	Handler string `json:"handler"`
	Fail    bool   `json:"fail,omitempty"` // sent with status "fail"
}

// Op is one line of history.jsonl. Call and Ret are nanoseconds since the
// run started, on one monotonic clock. Fields not relevant to the kind are
// empty.
type Op struct {
	Index   int     `json:"i"`
	Kind    string  `json:"kind"`
	Proc    string  `json:"proc"` // client or nemesis name
	Node    string  `json:"node,omitempty"`
	Queue   string  `json:"queue,omitempty"` // "normal" or "fifo"
	Group   string  `json:"group,omitempty"` // "g1", "g2"
	DLQ     bool    `json:"dlq,omitempty"`   // the dead-letter door
	Call    int64   `json:"call"`
	Ret     int64   `json:"ret"`
	Outcome Outcome `json:"outcome"`
	Status  int     `json:"status,omitempty"`
	Err     string  `json:"err,omitempty"`

	Values []string `json:"values,omitempty"` // produce: one per message
	IDs    []string `json:"ids,omitempty"`    // produce: message ids (returnId)
	// DedupIDs are the dedup_ids sent with Values (a retry after an unknown
	// outcome resends the same values with the same ids).
	DedupIDs []string `json:"dedup_ids,omitempty"`

	Handles []string `json:"handles,omitempty"` // txn_publish, txn_check: the half messages' handles
	Commit  bool     `json:"commit,omitempty"`  // txn_end: commit, not rollback

	Deliveries []Delivery `json:"deliveries,omitempty"` // consume
	AckWaitMs  int64      `json:"ack_wait_ms,omitempty"`

	Entries []AckEntry `json:"entries,omitempty"` // ack
	Success int        `json:"success,omitempty"`
	Fail    int        `json:"fail,omitempty"`
	Reason  string     `json:"reason,omitempty"`

	Fault      string   `json:"fault,omitempty"`      // nemesis: kill, restart, partition:<shape>, heal, pause, resume, clock, heal-clock, netem, deaf, heal-deaf, power-loss, power-loss-all, corrupt, refused, recovered
	Targets    []string `json:"targets,omitempty"`    // nemesis: node ids
	Partitions []string `json:"partitions,omitempty"` // nemesis: partitions the targets led
	OffsetMs   int64    `json:"offset_ms,omitempty"`  // nemesis clock: the offset set on the targets' clocks
	Detail     string   `json:"detail,omitempty"`     // nemesis: what a power loss or a corruption changed, why a node refused to start
}

// LeaseEnd is the earliest time (run ns) a lease of this consume can expire:
// the server starts it no earlier than the call.
func (o *Op) LeaseEnd() int64 { return o.Call + o.AckWaitMs*int64(time.Millisecond) }

// LeaseEndMax is the latest time a lease of this consume can expire.
func (o *Op) LeaseEndMax() int64 { return o.Ret + o.AckWaitMs*int64(time.Millisecond) }

// History records ops with one monotonic clock and writes each completed op
// to history.jsonl as it completes.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
	f     *os.File
	w     *bufio.Writer
}

// NewHistory starts the clock and creates path.
func NewHistory(path string) (*History, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &History{start: time.Now(), f: f, w: bufio.NewWriter(f)}, nil
}

// Now is the run's clock in nanoseconds (monotonic).
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// At converts a run time to a wall-clock time.
func (h *History) At(ns int64) time.Time { return h.start.Add(time.Duration(ns)) }

// Add records a completed op and returns its index.
func (h *History) Add(op Op) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Index = len(h.ops)
	h.ops = append(h.ops, op)
	b, _ := json.Marshal(op)
	h.w.Write(b)
	h.w.WriteByte('\n')
	return op.Index
}

// Ops returns a copy of the ops so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Close flushes and closes history.jsonl.
func (h *History) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil {
		return nil
	}
	err := h.w.Flush()
	if cerr := h.f.Close(); err == nil {
		err = cerr
	}
	h.f = nil
	return err
}

// ReadHistory loads a history.jsonl.
func ReadHistory(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []Op
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var op Op
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, sc.Err()
}
