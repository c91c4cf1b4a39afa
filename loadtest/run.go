package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// teardownTimeout bounds the best-effort deletion of the run's queue.
const teardownTimeout = 10 * time.Second

// runner is one run: its client, its queue and group, the ledger and the
// phase being run.
type runner struct {
	cfg     Config
	cl      *client
	ledger  *ledger
	runID   string
	project string
	queue   string // queue id
	group   string // group id

	base         string // /v1.0/{project}
	nextProducer atomic.Uint32
	current      atomic.Pointer[phaseRun]
	setupErrs    *errorCounts

	mu    sync.Mutex
	fatal []string
	warn  []string
}

// Run runs cfg's workload to its end and returns the report. It returns an
// error (matching ErrInvalidConfig) only when cfg is invalid; everything that
// goes wrong during the run is in the report (Fatal, Errors, Verification),
// and Report.OK says whether the run passed. Cancelling ctx stops the run
// early (a fatal error); in-flight requests still finish within the request
// timeout.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.Resolved()
	r := &runner{cfg: cfg, ledger: newLedger(), runID: newRunID(), setupErrs: newErrorCounts(nil)}
	r.project = cfg.Project
	if r.project == "" {
		r.project = "lt-" + r.runID
	}
	r.base = "/v1.0/" + r.project
	targets := make([]string, len(cfg.Targets))
	for i, t := range cfg.Targets {
		targets[i] = strings.TrimRight(t, "/")
	}
	roots, err := loadRoots(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	r.cl = newClient(targets, cfg.Producers+cfg.Consumers+4, cfg.RequestTimeout, clientAuth{roots: roots, ak: cfg.AccessKey, sk: cfg.SecretKey, now: cfg.Now})
	defer r.cl.close()

	rep := &Report{Tool: "raftmq loadtest", RunID: r.runID, Started: cfg.Now(),
		Phases: []PhaseReport{}, Fatal: []string{}, Warnings: []string{}}
	rep.Config = r.configReport()

	var prog *progress
	if cfg.Progress != nil {
		prog = startProgress(cfg.Progress, r, cfg.Now)
	}

	if err := r.setup(ctx); err != nil {
		r.addFatal("setup: %v", err)
	} else {
		rep.Config.QueueID, rep.Config.GroupID = r.queue, r.group
		for i, spec := range cfg.Plan() {
			if ctx.Err() != nil {
				r.addFatal("interrupted before phase %s", spec.Name)
				break
			}
			rep.Phases = append(rep.Phases, r.runPhase(ctx, i, spec, rep.Started))
		}
	}
	if prog != nil {
		prog.stop()
	}

	var fc finalCheck
	if r.queue != "" {
		if ctx.Err() == nil {
			fc = r.finalCheck(ctx)
		}
		r.teardown()
	}
	rep.Verification = r.ledger.Verify()
	// Loss is judged only once the verify phase drained the queue; a run
	// stopped earlier reports what it had not consumed yet as undelivered.
	n := len(rep.Phases)
	rep.Verification.Complete = ctx.Err() == nil && n > 0 && rep.Phases[n-1].Name == PhaseVerify && !rep.Phases[n-1].TimedOut
	if !rep.Verification.Complete {
		rep.Verification.Undelivered, rep.Verification.Lost, rep.Verification.LostSample = rep.Verification.Lost, 0, nil
	}
	rep.Verification.GroupAvailable, rep.Verification.GroupConsumed = fc.available, fc.consumed
	rep.Verification.FinalPollDeliveries = fc.deliveries
	rep.Finished = cfg.Now()
	rep.ElapsedS = rep.Finished.Sub(rep.Started).Seconds()

	errs := r.setupErrs.list()
	for _, p := range rep.Phases {
		errs = append(errs, p.Errors...)
		if p.TimedOut {
			r.addFatal("phase %s did not finish within its bound", p.Name)
		}
		if p.MissedSlots > 0 {
			r.addWarning("phase %s offered %.0f msg/s of %.0f: %d send slots missed, every producer was busy (produce latency above producers x batch / rate)",
				p.Name, float64(p.Produced)/max(p.TargetDurationS, 1e-9), p.TargetRate, p.MissedSlots)
		}
		if p.FailedOps > 0 {
			r.addFatal("phase %s: %d operations failed after retries; first: %s", p.Name, p.FailedOps, p.Failures[0])
		}
	}
	rep.Errors = mergeErrors(errs)
	for _, e := range rep.Errors {
		rep.ErrorTotal += e.Count
	}
	if ctx.Err() != nil {
		r.addFatal("interrupted: %v", ctx.Err())
	}
	r.mu.Lock()
	rep.Fatal = append(rep.Fatal, r.fatal...)
	rep.Warnings = append(rep.Warnings, r.warn...)
	r.mu.Unlock()
	rep.Summary = summarise(rep)
	return rep, nil
}

func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func (r *runner) addFatal(format string, a ...any) {
	r.mu.Lock()
	r.fatal = append(r.fatal, fmt.Sprintf(format, a...))
	r.mu.Unlock()
}

func (r *runner) addWarning(format string, a ...any) {
	r.mu.Lock()
	r.warn = append(r.warn, fmt.Sprintf(format, a...))
	r.mu.Unlock()
}

func (r *runner) configReport() ConfigReport {
	c := r.cfg
	return ConfigReport{
		Targets: c.Targets, Workload: c.Workload, Messages: c.Messages, DurationS: c.Duration.Seconds(),
		Producers: c.Producers, Consumers: c.Consumers, Size: c.Size, Batch: c.Batch, Rate: c.Rate,
		QueueMode: c.QueueMode, Project: r.project, AckWaitS: DefaultAckWait,
	}
}

// setup creates the run's queue and its consumer group.
func (r *runner) setup(ctx context.Context) error {
	name := "lt-" + r.runID
	body, _ := json.Marshal(map[string]string{
		"name": name, "queue_mode": r.cfg.QueueMode,
		"description": "raftmq loadtest " + r.cfg.Workload + " run " + r.runID,
	})
	var q struct {
		ID string `json:"id"`
	}
	err := r.cl.do(ctx, r.setupErrs, request{op: "create-queue", method: "POST", path: r.base + "/queues",
		body: body, want: 201, read: func(b []byte) error { return decodeID(b, &q, func() string { return q.ID }) }})
	if err != nil {
		return err
	}
	r.queue = q.ID
	var g struct {
		Groups []struct {
			ID string `json:"id"`
		} `json:"groups"`
	}
	err = r.cl.do(ctx, r.setupErrs, request{op: "create-group", method: "POST",
		path: r.base + "/queues/" + r.queue + "/groups", body: []byte(`{"groups":[{"name":"loadtest"}]}`), want: 201,
		read: func(b []byte) error {
			return decodeID(b, &g, func() string {
				if len(g.Groups) == 0 {
					return ""
				}
				return g.Groups[0].ID
			})
		}})
	if err != nil {
		return err
	}
	r.group = g.Groups[0].ID
	return nil
}

func decodeID(b []byte, v any, id func() string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	if id() == "" {
		return errors.New("no id in the answer")
	}
	return nil
}

// teardown deletes the run's queue, best effort: a failure is a warning.
func (r *runner) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	err := r.cl.do(ctx, r.setupErrs, request{op: "delete-queue", method: "DELETE",
		path: r.base + "/queues/" + r.queue, want: 204})
	if err != nil {
		r.addWarning("queue %s not deleted: %v", r.queue, err)
	}
}

// runPhase runs one phase to its end.
func (r *runner) runPhase(ctx context.Context, index int, spec PhaseSpec, runStart time.Time) PhaseReport {
	ph := newPhaseRun(spec, index, r.cfg.Now(), r.cfg)
	r.current.Store(ph)
	var wg sync.WaitGroup
	if spec.Kind == KindProduce || spec.Kind == KindMixed {
		for k := range r.cfg.Producers {
			pid := r.nextProducer.Add(1)
			wg.Go(func() { r.produceLoop(ctx, ph, pid, k) })
		}
	}
	if spec.Kind == KindDrain || spec.Kind == KindMixed {
		for k := range r.cfg.Consumers {
			wg.Go(func() { r.consumeLoop(ctx, ph, k) })
		}
	}
	wg.Wait()
	ph.mu.Lock()
	ph.end = r.cfg.Now()
	ph.mu.Unlock()
	if ph.pacer != nil {
		ph.missedSlots.Store(max(0, int64(ph.spec.Duration/ph.pacer.Interval())-ph.produceReqs.Load()))
	}
	return ph.report(runStart)
}

// produceLoop is one producer: batches of --batch messages, closed loop
// (back to back) or open loop (on the pacer's slots), until the phase's
// count, duration or message cap is reached.
func (r *runner) produceLoop(ctx context.Context, ph *phaseRun, pid uint32, home int) {
	var seq uint32
	buf := make([]byte, 0, r.cfg.Batch*(r.cfg.Size+16)+32)
	path := r.base + "/queues/" + r.queue + "/messages"
	limit := int64(r.cfg.MaxMixedMessages)
	if ph.spec.Kind == KindProduce {
		limit = int64(ph.spec.Messages)
	}
	for ctx.Err() == nil {
		var at time.Time
		if ph.pacer != nil {
			t, ok := ph.pacer.Next(ctx, ph.deadline)
			if !ok {
				return
			}
			at = t
		} else {
			at = r.cfg.Now()
			if !at.Before(ph.deadline) {
				if ph.spec.Kind == KindProduce {
					ph.timeout()
				}
				return
			}
		}
		n := int64(r.cfg.Batch)
		k := ph.claimed.Add(n) - n
		if k >= limit {
			return
		}
		n = min(n, limit-k)
		buf = appendProduce(buf[:0], pid, seq, int(n), at, r.cfg.Size)
		r.ledger.Sent(pid, seq, int(n), false)
		ph.produceReqs.Add(1)
		first := seq
		sent := r.cfg.Now()
		err := r.cl.do(ctx, ph.errs, request{op: OpProduce, home: home, method: "POST", path: path, body: buf, want: 201,
			retried: func() { r.ledger.Sent(pid, first, int(n), true) }})
		done := r.cfg.Now()
		seq += uint32(n)
		if err != nil {
			var se *StatusError
			if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && !se.Retryable() {
				r.ledger.Rejected(pid, first, int(n))
			}
			ph.fail(err)
			continue
		}
		r.ledger.Confirmed(pid, first, int(n))
		ph.hist[OpProduce].Record(done.Sub(sent))
		ph.produced.Add(n)
		storeMax(&ph.lastProduced, done.UnixNano())
		ph.series.add(done, func(p *SecondPoint) { p.Produced += n })
	}
}

// consumeLoop is one consumer of the run's group: consume up to --batch
// messages (long poll of 1 s, lease of 30 s), then ack the whole batch in
// order. A mixed phase consumes until its duration ends; a drain phase until
// every confirmed message was delivered, or the queue answers empty and the
// group has nothing available, or its time bound.
func (r *runner) consumeLoop(ctx context.Context, ph *phaseRun, home int) {
	for ctx.Err() == nil {
		now := r.cfg.Now()
		if !now.Before(ph.deadline) {
			if ph.spec.Kind == KindDrain {
				ph.timeout()
			}
			return
		}
		if ph.spec.Kind == KindDrain {
			if out, unknown := r.ledger.Outstanding(); out == 0 && unknown == 0 {
				return
			}
		}
		handlers, err := r.consume(ctx, ph, home, 1)
		if err != nil {
			ph.fail(err)
			continue
		}
		if len(handlers) > 0 {
			if err := r.ack(ctx, ph, home, handlers); err != nil {
				ph.fail(err)
			}
			continue
		}
		if ph.spec.Kind == KindDrain {
			if out, _ := r.ledger.Outstanding(); out == 0 {
				return
			}
			if avail, _, err := r.groupCounts(ctx, ph.errs); err != nil {
				ph.fail(err)
			} else if avail == 0 {
				return
			}
		}
	}
}

type delivery struct {
	Message struct {
		Body json.RawMessage `json:"body"`
	} `json:"message"`
	Handler string `json:"handler"`
}

// consume makes one consume request and records what it delivered. It
// returns the handlers to ack, in delivery order.
func (r *runner) consume(ctx context.Context, ph *phaseRun, home, timeWait int) ([]string, error) {
	path := fmt.Sprintf("%s/queues/%s/groups/%s/messages?max_msgs=%d&time_wait=%d&ack_wait=%d",
		r.base, r.queue, url.PathEscape(r.group), r.cfg.Batch, timeWait, DefaultAckWait)
	var ds []delivery
	ph.consumeReqs.Add(1)
	sent := r.cfg.Now()
	err := r.cl.do(ctx, ph.errs, request{op: OpConsume, home: home, method: "GET", path: path, want: 200,
		read: func(b []byte) error { return json.Unmarshal(b, &ds) }})
	if err != nil {
		return nil, err
	}
	done := r.cfg.Now()
	if len(ds) == 0 {
		ph.emptyConsumes.Add(1)
		return nil, nil
	}
	ph.hist[OpConsume].Record(done.Sub(sent))
	handlers := make([]string, 0, len(ds))
	for _, d := range ds {
		handlers = append(handlers, d.Handler)
		p, s, at, err := parseBody(d.Message.Body)
		if err != nil {
			ph.errs.add(ErrorKey{Op: OpConsume, Status: 200, Code: "foreign_body"})
			continue
		}
		r.ledger.Delivered(makeKey(p, s))
		ph.hist[OpE2E].Record(done.Sub(at))
	}
	n := int64(len(ds))
	ph.consumed.Add(n)
	storeMax(&ph.lastConsumed, done.UnixNano())
	ph.series.add(done, func(p *SecondPoint) { p.Consumed += n })
	return handlers, nil
}

// ack acknowledges handlers with success, in order, in one request.
func (r *runner) ack(ctx context.Context, ph *phaseRun, home int, handlers []string) error {
	type entry struct {
		Handler string `json:"handler"`
		Status  string `json:"status"`
	}
	es := make([]entry, len(handlers))
	for i, h := range handlers {
		es[i] = entry{h, "success"}
	}
	body, _ := json.Marshal(map[string][]entry{"message": es})
	var res struct {
		Success int64 `json:"success"`
		Fail    int64 `json:"fail"`
		First   *struct {
			Reason string `json:"reason"`
		} `json:"first_failure"`
	}
	ph.ackReqs.Add(1)
	sent := r.cfg.Now()
	err := r.cl.do(ctx, ph.errs, request{op: OpAck, home: home, method: "POST",
		path: r.base + "/queues/" + r.queue + "/groups/" + r.group + "/ack", body: body, want: 200,
		read: func(b []byte) error { return json.Unmarshal(b, &res) }})
	if err != nil {
		return err
	}
	done := r.cfg.Now()
	ph.hist[OpAck].Record(done.Sub(sent))
	if res.Fail > 0 {
		reason := "unknown"
		if res.First != nil && res.First.Reason != "" {
			reason = res.First.Reason
		}
		ph.errs.addN(ErrorKey{Op: OpAck, Status: 200, Code: "ack:" + reason}, res.Fail)
		ph.ackFailed.Add(res.Fail)
	}
	if res.Success > 0 {
		ph.acked.Add(res.Success)
		storeMax(&ph.lastAcked, done.UnixNano())
		ph.series.add(done, func(p *SecondPoint) { p.Acked += res.Success })
	}
	return nil
}

// groupCounts reads the group's available_messages and consumed_messages.
func (r *runner) groupCounts(ctx context.Context, errs *errorCounts) (available, consumed int64, err error) {
	var res struct {
		Groups []struct {
			ID        string `json:"id"`
			Available int64  `json:"available_messages"`
			Consumed  int64  `json:"consumed_messages"`
		} `json:"groups"`
	}
	err = r.cl.do(ctx, errs, request{op: "groups", method: "GET", path: r.base + "/queues/" + r.queue + "/groups", want: 200,
		read: func(b []byte) error { return json.Unmarshal(b, &res) }})
	if err != nil {
		return 0, 0, err
	}
	for _, g := range res.Groups {
		if g.ID == r.group {
			return g.Available, g.Consumed, nil
		}
	}
	return 0, 0, &ProtocolError{Op: "groups", Err: fmt.Errorf("group %s not listed", r.group)}
}

// finalCheck is what the last poll of the verification pass found.
type finalCheck struct {
	deliveries          int64 // deliveries of the last poll
	available, consumed int64 // the group's counters; -1 when unread
}

// finalCheck ends the verification pass: once the queue looked empty, one
// more poll (2 s) must deliver nothing, and the group's counters are read.
// Deliveries of that poll are recorded in the ledger (and acked), so a late
// duplicate counts.
func (r *runner) finalCheck(ctx context.Context) finalCheck {
	fc := finalCheck{available: -1, consumed: -1}
	ph := newPhaseRun(PhaseSpec{Name: "final-check", Kind: KindDrain}, -1, r.cfg.Now(), r.cfg)
	before := r.ledger.Deliveries()
	handlers, err := r.consume(ctx, ph, 0, 2)
	if err == nil && len(handlers) > 0 {
		err = r.ack(ctx, ph, 0, handlers)
	}
	if err != nil {
		r.addWarning("final poll: %v", err)
	}
	fc.deliveries = r.ledger.Deliveries() - before
	if avail, consumed, err := r.groupCounts(ctx, ph.errs); err != nil {
		r.addWarning("group counters: %v", err)
	} else {
		fc.available, fc.consumed = avail, consumed
	}
	for _, e := range ph.errs.list() {
		r.setupErrs.addN(e.ErrorKey, e.Count)
	}
	return fc
}

func mergeErrors(in []ErrorCount) []ErrorCount {
	m := map[ErrorKey]int64{}
	for _, e := range in {
		m[e.ErrorKey] += e.Count
	}
	out := make([]ErrorCount, 0, len(m))
	for k, n := range m {
		out = append(out, ErrorCount{ErrorKey: k, Count: n})
	}
	sortErrors(out)
	return out
}
