package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Workload sizes the client side of a run (FAULTS.md "Workload", scaled to
// the host).
type Workload struct {
	Rate      float64 // messages/s produced to the NORMAL queue, all producers together
	FIFORate  float64 // messages/s produced to the FIFO queue
	Producers int
	Consumers int   // per group and queue
	AckWait   int64 // seconds (the DMS minimum is 15)
	TimeWait  int   // long poll, seconds
	// PoisonEvery makes every Nth value of a NORMAL producer a poison
	// message, which consumers always fail: it reaches the dead letters after
	// max_consume_count deliveries. 0 disables.
	PoisonEvery int
	// TxnRate is half messages/s published through the RocketMQ door to the
	// NORMAL queue (committed or rolled back, some left to the check-back);
	// DedupRate is messages/s produced with a dedup_id and retried after an
	// unknown outcome. 0 disables either.
	TxnRate, DedupRate float64
}

// groupNames are the consumer groups of each queue; both must see every message.
var groupNames = [...]string{"g1", "g2"}

// isPoison reports whether a produced value is a poison message.
func isPoison(v string) bool { return strings.HasSuffix(v, "x") }

type workload struct {
	cfg    Workload
	c      *client
	queues []queueRef // normal, fifo
	rng    func() *rand.Rand

	stopProduce chan struct{}
	stopConsume chan struct{}
	wg          sync.WaitGroup
	delayed     chan struct{} // bounds the goroutines that ack late
}

func stopped(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sleepOr sleeps d unless ch closes first; it reports whether ch closed.
func sleepOr(ch chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return stopped(ch)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func (w *workload) start(ctx context.Context) {
	w.startExtras(ctx)
	for k := range w.cfg.Producers {
		w.wg.Add(1)
		go w.producer(ctx, k)
	}
	for qi := range w.queues {
		for _, g := range groupNames {
			for k := range w.cfg.Consumers {
				w.wg.Add(1)
				go w.consumer(ctx, qi, g, k)
			}
			w.wg.Add(1)
			go w.deadLetterConsumer(ctx, qi, g)
		}
	}
}

// stop ends production, then consumption, and waits for every client,
// late acks included.
func (w *workload) stop() {
	close(w.stopProduce)
	close(w.stopConsume)
	w.wg.Wait()
}

// producer sends unique values p<k>-<n> in batches of 1-10 (FIFO: 1-3) to a
// random node, paced to its share of the rates. A value is never sent twice.
func (w *workload) producer(ctx context.Context, k int) {
	defer w.wg.Done()
	rng := w.rng()
	n := 0
	next := time.Now()
	total := w.cfg.Rate + w.cfg.FIFORate
	for iter := 0; iter < 1_000_000 && !stopped(w.stopProduce); iter++ {
		q := w.queues[0]
		size := 1 + rng.IntN(10)
		if rng.Float64()*total < w.cfg.FIFORate {
			q, size = w.queues[1], 1+rng.IntN(3)
		}
		values := make([]string, size)
		for i := range values {
			n++
			values[i] = fmt.Sprintf("p%d-%d", k, n)
			if q.Name == "normal" && w.cfg.PoisonEvery > 0 && n%w.cfg.PoisonEvery == 0 {
				values[i] += "x"
			}
		}
		node := w.c.nodes[rng.IntN(len(w.c.nodes))]
		op := w.c.produce(ctx, fmt.Sprintf("p%d", k), node, q, values)
		// Open loop at the target rate; after an error, back off 100 ms.
		next = next.Add(time.Duration(float64(size) * float64(w.cfg.Producers) / total * float64(time.Second)))
		wait := time.Until(next)
		if op.Outcome != OK {
			wait = max(wait, 100*time.Millisecond)
		}
		if wait < -5*time.Second {
			next = time.Now() // far behind (a fault): do not burst to catch up
		}
		if sleepOr(w.stopProduce, wait) {
			return
		}
	}
}

// consumer consumes batches of 1-10, "processes" them for 0-200 ms and acks
// them by the FAULTS.md mix: 90% all success, 5% one fail in the middle, 3%
// after ack_wait (expired handlers), 2% never. Poison values are always
// acked with fail.
func (w *workload) consumer(ctx context.Context, qi int, group string, k int) {
	defer w.wg.Done()
	rng := w.rng()
	q := w.queues[qi]
	proc := fmt.Sprintf("c-%s-%s-%d", q.Name, group, k)
	for iter := 0; iter < 1_000_000 && !stopped(w.stopConsume); iter++ {
		node := w.c.nodes[rng.IntN(len(w.c.nodes))]
		op := w.c.consume(ctx, proc, node, q, group, false, 1+rng.IntN(10), w.cfg.TimeWait, w.cfg.AckWait)
		if op.Outcome != OK {
			if sleepOr(w.stopConsume, 100*time.Millisecond) {
				return
			}
			continue
		}
		if len(op.Deliveries) == 0 {
			continue
		}
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond) // processing
		entries := make([]AckEntry, len(op.Deliveries))
		for i, d := range op.Deliveries {
			entries[i] = AckEntry{Value: d.Value, Handler: d.Handler, Fail: isPoison(d.Value)}
		}
		late := false
		switch r := rng.Float64(); {
		case r < 0.90:
		case r < 0.95:
			entries[len(entries)/2].Fail = true
		case r < 0.98:
			late = true
		default:
			continue // never acked: redelivered after ack_wait
		}
		ackNode := w.c.nodes[rng.IntN(len(w.c.nodes))]
		if !late {
			w.c.ack(ctx, proc, ackNode, q, group, false, entries)
			continue
		}
		select {
		case w.delayed <- struct{}{}:
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				defer func() { <-w.delayed }()
				if sleepOr(w.stopConsume, time.Duration(w.cfg.AckWait)*time.Second+time.Second) { // past ack_wait on purpose
					return // the run ends: this batch stays unacked
				}
				w.c.ack(ctx, proc+"-late", ackNode, q, group, false, entries)
			}()
		default: // too many late acks pending: this one is never acked
		}
	}
}

// deadLetterConsumer drains the group's dead letters and acks them.
func (w *workload) deadLetterConsumer(ctx context.Context, qi int, group string) {
	defer w.wg.Done()
	rng := w.rng()
	q := w.queues[qi]
	proc := fmt.Sprintf("d-%s-%s", q.Name, group)
	for iter := 0; iter < 1_000_000 && !stopped(w.stopConsume); iter++ {
		node := w.c.nodes[rng.IntN(len(w.c.nodes))]
		op := w.c.consume(ctx, proc, node, q, group, true, 10, w.cfg.TimeWait, w.cfg.AckWait)
		if op.Outcome != OK || len(op.Deliveries) == 0 {
			if op.Outcome != OK && sleepOr(w.stopConsume, 100*time.Millisecond) {
				return
			}
			continue
		}
		entries := make([]AckEntry, len(op.Deliveries))
		for i, d := range op.Deliveries {
			entries[i] = AckEntry{Value: d.Value, Handler: d.Handler}
		}
		w.c.ack(ctx, proc, w.c.nodes[rng.IntN(len(w.c.nodes))], q, group, true, entries)
	}
}

// groupCounts reads available_messages and available_deadletters of a group.
func (w *workload) groupCounts(ctx context.Context, node *Proc, q queueRef, group string) (avail, dead int, err error) {
	var out struct {
		Groups []struct {
			ID        string `json:"id"`
			Available int    `json:"available_messages"`
			Dead      int    `json:"available_deadletters"`
		} `json:"groups"`
	}
	a := w.c.do(ctx, node, "GET", "/queues/"+q.ID+"/groups?include_deadletter=true", nil, 5*time.Second)
	if a.outcome() != OK {
		return 0, 0, fmt.Errorf("chaos: group counts: %s", a.errText())
	}
	if err := json.Unmarshal(a.body, &out); err != nil {
		return 0, 0, err
	}
	for _, g := range out.Groups {
		if g.ID == q.Groups[group] {
			return g.Available, g.Dead, nil
		}
	}
	return 0, 0, fmt.Errorf("chaos: group %s not listed", group)
}

// drain consumes and acks (success) every queue, group and door, rotating
// over every node, until three consecutive empty long polls and the group's
// counters show nothing left (for the dead-letter door: no dead letter and
// nothing in the normal lane that could still become one), or until timeout. It returns what was left.
func (w *workload) drain(ctx context.Context, timeout time.Duration) []string {
	var mu sync.Mutex
	var left []string
	var wg sync.WaitGroup
	for qi, q := range w.queues {
		for _, g := range groupNames {
			for _, dlq := range []bool{false, true} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if msg := w.drainOne(ctx, qi, g, dlq, timeout); msg != "" {
						mu.Lock()
						left = append(left, fmt.Sprintf("%s/%s dlq=%v: %s", q.Name, g, dlq, msg))
						mu.Unlock()
					}
				}()
			}
		}
	}
	wg.Wait()
	return left
}

func (w *workload) drainOne(ctx context.Context, qi int, group string, dlq bool, timeout time.Duration) string {
	q := w.queues[qi]
	proc := fmt.Sprintf("drain-%s-%s-dlq%v", q.Name, group, dlq)
	deadline := time.Now().Add(timeout)
	empty := 0
	last := "timeout"
	for round := 0; round < 10_000 && time.Now().Before(deadline); round++ {
		node := w.c.nodes[round%len(w.c.nodes)]
		if empty >= 3 {
			avail, dead, err := w.groupCounts(ctx, node, q, group)
			// The dead-letter drain also waits for the normal lane to empty:
			// a message leased for the last time becomes a dead letter only
			// when that lease expires, after the dead letters may have
			// looked drained.
			if err == nil && avail == 0 && (!dlq || dead == 0) {
				return ""
			}
			last = fmt.Sprintf("available %d, dead letters %d, err %v", avail, dead, err)
			empty = 0
		}
		op := w.c.consume(ctx, proc, node, q, group, dlq, 10, 1, w.cfg.AckWait)
		if op.Outcome != OK {
			time.Sleep(100 * time.Millisecond) // client back-off
			continue
		}
		if len(op.Deliveries) == 0 {
			empty++
			continue
		}
		empty = 0
		entries := make([]AckEntry, len(op.Deliveries))
		for i, d := range op.Deliveries {
			entries[i] = AckEntry{Value: d.Value, Handler: d.Handler}
		}
		w.c.ack(ctx, proc, node, q, group, dlq, entries)
	}
	return last
}
