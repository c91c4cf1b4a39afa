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

// teardownTimeout bounds the best-effort deletion of the run's queues.
const teardownTimeout = 10 * time.Second

// runner is one run: its client, its queues and their groups, the ledger
// and the phase being run.
type runner struct {
	cfg     Config
	cl      *client
	ledger  *ledger
	runID   string
	project string
	queues  []*runQueue // those created, in index order

	base         string // /v1.0/{project}
	nextProducer atomic.Uint32
	current      atomic.Pointer[phaseRun]
	setupErrs    *errorCounts
	nodes        *nodeTally // tries by node in every phase but the warm-up

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
	r := &runner{cfg: cfg, ledger: newLedger(cfg.Queues), runID: newRunID(), setupErrs: newErrorCounts(nil), nodes: newNodeTally()}
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
	// Enough connections for every worker, or for one final poll per queue.
	conns := max(cfg.Producers+cfg.Consumers, cfg.Queues) + 4
	r.cl = newClient(targets, conns, cfg.RequestTimeout, clientAuth{roots: roots, ak: cfg.AccessKey, sk: cfg.SecretKey, now: cfg.Now})
	defer r.cl.close()

	rep := &Report{Tool: "raftmq loadtest", RunID: r.runID, Started: cfg.Now(),
		Phases: []PhaseReport{}, Fatal: []string{}, Warnings: []string{}}
	rep.Config = r.configReport()

	var prog *progress
	if cfg.Progress != nil {
		prog = startProgress(cfg.Progress, r, cfg.Now)
	}

	setupOK := r.runPlan(ctx, rep)
	if prog != nil {
		prog.stop()
	}
	var fcs []finalCheck
	if setupOK && ctx.Err() == nil {
		fcs = r.finalChecks(ctx)
	}
	r.teardown()
	r.verify(ctx, rep, fcs)
	rep.Nodes = r.nodes.list(targets)
	rep.Finished = cfg.Now()
	rep.ElapsedS = rep.Finished.Sub(rep.Started).Seconds()
	r.judge(ctx, rep)
	return rep, nil
}

// runPlan creates the queues and runs the plan's phases. It reports whether
// setup succeeded.
func (r *runner) runPlan(ctx context.Context, rep *Report) bool {
	if err := r.setup(ctx); err != nil {
		r.addFatal("setup: %v", err)
		return false
	}
	rep.Config.QueueID, rep.Config.GroupID = r.queues[0].id, r.queues[0].group
	for i, spec := range r.cfg.Plan() {
		if ctx.Err() != nil {
			r.addFatal("interrupted before phase %s", spec.Name)
			break
		}
		rep.Phases = append(rep.Phases, r.runPhase(ctx, i, spec, rep.Started))
	}
	return true
}

// judge gathers the run's errors, and turns what went wrong into fatal
// errors and warnings, then the summary.
func (r *runner) judge(ctx context.Context, rep *Report) {
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
	if m := rep.Verification.Misrouted; m > 0 {
		r.addFatal("%d deliveries came from a queue the message was not produced to", m)
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
		Queues: c.Queues, Producers: c.Producers, Consumers: c.Consumers, Size: c.Size, Batch: c.Batch, Rate: c.Rate,
		QueueMode: c.QueueMode, Project: r.project, AckWaitS: DefaultAckWait, DedupIDs: c.DedupIDs, Prefill: c.Prefill,
	}
}

// runQueue is one of the run's queues and its consumer group.
type runQueue struct {
	index int    // 0..Queues-1: queueOf's answer
	id    string // queue id
	group string // group id; empty when its creation failed
}

// setup creates the run's queues, each with its consumer group, one after
// the other: setup is not measured, and an error stops it at the first
// queue that failed. Every queue created is in r.queues, so teardown
// deletes it.
func (r *runner) setup(ctx context.Context) error {
	for i := range r.cfg.Queues {
		q, err := r.createQueue(ctx, i)
		if q != nil {
			r.queues = append(r.queues, q)
		}
		if err != nil {
			return fmt.Errorf("queue %d of %d: %w", i+1, r.cfg.Queues, err)
		}
	}
	return nil
}

// createQueue creates queue i and its group. It returns the queue whenever
// the queue exists, even when its group could not be created.
func (r *runner) createQueue(ctx context.Context, i int) (*runQueue, error) {
	body, _ := json.Marshal(map[string]string{
		"name": fmt.Sprintf("lt-%s-%d", r.runID, i), "queue_mode": r.cfg.QueueMode,
		"description": "raftmq loadtest " + r.cfg.Workload + " run " + r.runID,
	})
	var qa struct {
		ID string `json:"id"`
	}
	err := r.cl.do(ctx, r.setupErrs, request{op: "create-queue", method: "POST", path: r.base + "/queues",
		body: body, want: 201, read: func(b []byte) error { return decodeID(b, &qa, func() string { return qa.ID }) }})
	if err != nil {
		return nil, err
	}
	q := &runQueue{index: i, id: qa.ID}
	var g struct {
		Groups []struct {
			ID string `json:"id"`
		} `json:"groups"`
	}
	err = r.cl.do(ctx, r.setupErrs, request{op: "create-group", method: "POST",
		path: r.queuePath(q) + "/groups", body: []byte(`{"groups":[{"name":"loadtest"}]}`), want: 201,
		read: func(b []byte) error {
			return decodeID(b, &g, func() string {
				if len(g.Groups) == 0 {
					return ""
				}
				return g.Groups[0].ID
			})
		}})
	if err != nil {
		return q, err
	}
	q.group = g.Groups[0].ID
	return q, nil
}

// queuePath is /v1.0/{project}/queues/{queue id}.
func (r *runner) queuePath(q *runQueue) string { return r.base + "/queues/" + q.id }

// groupPath is the queue's group: .../queues/{id}/groups/{group id}.
func (r *runner) groupPath(q *runQueue) string {
	return r.queuePath(q) + "/groups/" + url.PathEscape(q.group)
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

// teardown deletes the run's queues, all at once so that many queues take
// no longer than one; best effort: a failure is a warning.
func (r *runner) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, q := range r.queues {
		wg.Go(func() {
			err := r.cl.do(ctx, r.setupErrs, request{op: "delete-queue", home: q.index, method: "DELETE",
				path: r.queuePath(q), want: 204})
			if err != nil {
				r.addWarning("queue %s not deleted: %v", q.id, err)
			}
		})
	}
	wg.Wait()
}

// runPhase runs one phase to its end. Producer and consumer k use queue
// queueOf(k) and target k (modulo each count).
func (r *runner) runPhase(ctx context.Context, index int, spec PhaseSpec, runStart time.Time) PhaseReport {
	ph := newPhaseRun(spec, index, r.cfg.Now(), r.cfg)
	if !IsWarmup(spec.Name) {
		ph.errs.nodes = r.nodes
	}
	r.current.Store(ph)
	var wg sync.WaitGroup
	if spec.produces() {
		for k := range r.cfg.Producers {
			pid := r.nextProducer.Add(1)
			wg.Go(func() { r.produceLoop(ctx, ph, pid, k) })
		}
	}
	if spec.Kind == KindPrefill {
		// The backlog is complete before the first consume: the drain
		// rate is that of consuming from a deep backlog.
		wg.Wait()
		ph.startDrain(r.cfg.Now(), r.cfg.PrefillTimeout)
	}
	if spec.drains() || spec.Kind == KindMixed {
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
	q := r.queues[queueOf(home, len(r.queues))]
	path := r.queuePath(q) + "/messages"
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
				if ph.spec.counted() {
					ph.timeout()
				}
				return
			}
		}
		n := ph.claim(q.index, int64(r.cfg.Batch), int64(r.cfg.MaxMixedMessages))
		if n == 0 {
			return
		}
		buf = r.appendBatch(buf[:0], pid, seq, int(n), at)
		r.ledger.Sent(q.index, pid, seq, int(n), false)
		ph.produceReqs.Add(1)
		first := seq
		sent := r.cfg.Now()
		err := r.cl.do(ctx, ph.errs, request{op: OpProduce, home: home, method: "POST", path: path, body: buf, want: 201,
			retried: func() { r.ledger.Sent(q.index, pid, first, int(n), true) }})
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

// consumeLoop is one consumer of the run's group in its queue: consume up to
// --batch messages (long poll of 1 s, lease of 30 s), then ack the whole
// batch in order. A mixed phase consumes until its duration ends; a drain
// phase until every confirmed message of its queue was delivered, or the
// queue answers empty and the group has nothing available, or its time
// bound.
func (r *runner) consumeLoop(ctx context.Context, ph *phaseRun, home int) {
	q := r.queues[queueOf(home, len(r.queues))]
	for ctx.Err() == nil {
		now := r.cfg.Now()
		if !now.Before(ph.deadline) {
			if ph.spec.drains() {
				ph.timeout()
			}
			return
		}
		if ph.spec.drains() {
			if out, unknown := r.ledger.OutstandingIn(q.index); out == 0 && unknown == 0 {
				return
			}
		}
		handlers, err := r.consume(ctx, ph, q, home, 1)
		if err != nil {
			ph.fail(err)
			continue
		}
		if len(handlers) > 0 {
			if err := r.ack(ctx, ph, q, home, handlers); err != nil {
				ph.fail(err)
			}
			continue
		}
		if ph.spec.drains() {
			if out, _ := r.ledger.OutstandingIn(q.index); out == 0 {
				return
			}
			if avail, _, err := r.groupCounts(ctx, ph.errs, q); err != nil {
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

// consume makes one consume request to q and records what it delivered. It
// returns the handlers to ack, in delivery order.
func (r *runner) consume(ctx context.Context, ph *phaseRun, q *runQueue, home, timeWait int) ([]string, error) {
	path := fmt.Sprintf("%s/messages?max_msgs=%d&time_wait=%d&ack_wait=%d",
		r.groupPath(q), r.cfg.Batch, timeWait, DefaultAckWait)
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
		r.ledger.Delivered(q.index, makeKey(p, s))
		ph.hist[OpE2E].Record(done.Sub(at))
		ph.series.recordE2E(done, done.Sub(at))
	}
	n := int64(len(ds))
	ph.consumed.Add(n)
	storeMax(&ph.lastConsumed, done.UnixNano())
	ph.series.add(done, func(p *SecondPoint) { p.Consumed += n })
	return handlers, nil
}

// ack acknowledges handlers of q with success, in order, in one request.
func (r *runner) ack(ctx context.Context, ph *phaseRun, q *runQueue, home int, handlers []string) error {
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
		path: r.groupPath(q) + "/ack", body: body, want: 200,
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

// groupCounts reads the available_messages and consumed_messages of q's
// group.
func (r *runner) groupCounts(ctx context.Context, errs *errorCounts, q *runQueue) (available, consumed int64, err error) {
	var res struct {
		Groups []struct {
			ID        string `json:"id"`
			Available int64  `json:"available_messages"`
			Consumed  int64  `json:"consumed_messages"`
		} `json:"groups"`
	}
	err = r.cl.do(ctx, errs, request{op: "groups", home: q.index, method: "GET", path: r.queuePath(q) + "/groups", want: 200,
		read: func(b []byte) error { return json.Unmarshal(b, &res) }})
	if err != nil {
		return 0, 0, err
	}
	for _, g := range res.Groups {
		if g.ID == q.group {
			return g.Available, g.Consumed, nil
		}
	}
	return 0, 0, &ProtocolError{Op: "groups", Err: fmt.Errorf("group %s not listed", q.group)}
}

// finalCheck is what the last poll of one queue found.
type finalCheck struct {
	deliveries          int64 // deliveries of the last poll
	available, consumed int64 // the group's counters; -1 when unread
}

// finalChecks ends the verification pass: once every queue looked empty,
// one more poll (2 s) of each must deliver nothing, and each group's
// counters are read. The queues are polled together, so that many queues
// take no longer than one. Deliveries of those polls are recorded in the
// ledger (and acked), so a late duplicate counts. The answer is by queue
// index.
func (r *runner) finalChecks(ctx context.Context) []finalCheck {
	ph := newPhaseRun(PhaseSpec{Name: "final-check", Kind: KindDrain}, -1, r.cfg.Now(), r.cfg)
	fcs := make([]finalCheck, len(r.queues))
	var wg sync.WaitGroup
	for i, q := range r.queues {
		wg.Go(func() { fcs[i] = r.finalCheck(ctx, ph, q) })
	}
	wg.Wait()
	for _, e := range ph.errs.list() {
		r.setupErrs.addN(e.ErrorKey, e.Count)
	}
	return fcs
}

// finalCheck polls q once more and reads its group's counters.
func (r *runner) finalCheck(ctx context.Context, ph *phaseRun, q *runQueue) finalCheck {
	fc := finalCheck{available: -1, consumed: -1}
	handlers, err := r.consume(ctx, ph, q, q.index, 2)
	fc.deliveries = int64(len(handlers))
	if err == nil && len(handlers) > 0 {
		err = r.ack(ctx, ph, q, q.index, handlers)
	}
	if err != nil {
		r.addWarning("final poll of queue %s: %v", q.id, err)
	}
	if avail, consumed, err := r.groupCounts(ctx, ph.errs, q); err != nil {
		r.addWarning("group counters of queue %s: %v", q.id, err)
	} else {
		fc.available, fc.consumed = avail, consumed
	}
	return fc
}

// verify fills the report's verification, overall and by queue, from the
// ledger and the final checks (nil when they did not run).
func (r *runner) verify(ctx context.Context, rep *Report, fcs []finalCheck) {
	v, counts := r.ledger.Verify()
	// Loss is judged only once the verify phase drained the queues; a run
	// stopped earlier reports what it had not consumed yet as undelivered.
	n := len(rep.Phases)
	v.Complete = ctx.Err() == nil && n > 0 && rep.Phases[n-1].Name == PhaseVerify && !rep.Phases[n-1].TimedOut
	if !v.Complete {
		v.Undelivered, v.Lost, v.LostSample = v.Lost, 0, nil
	}
	producers, consumers := workersPerQueue(r.cfg.Producers, r.cfg.Queues), workersPerQueue(r.cfg.Consumers, r.cfg.Queues)
	rep.Queues = make([]QueueReport, 0, len(r.queues))
	for i, q := range r.queues {
		qr := QueueReport{ID: q.id, GroupID: q.group, Producers: producers[i], Consumers: consumers[i],
			QueueCounts: counts[i], GroupAvailable: -1, GroupConsumed: -1}
		if !v.Complete {
			qr.Undelivered, qr.Lost = qr.Lost, 0
		}
		if fcs != nil {
			qr.GroupAvailable, qr.GroupConsumed, qr.FinalPollDeliveries = fcs[i].available, fcs[i].consumed, fcs[i].deliveries
		}
		rep.Queues = append(rep.Queues, qr)
	}
	v.GroupAvailable, v.GroupConsumed, v.FinalPollDeliveries = sumFinalChecks(fcs)
	rep.Verification = v
}

// sumFinalChecks adds the queues' final checks up; a counter that one
// queue could not read is -1 for the run.
func sumFinalChecks(fcs []finalCheck) (available, consumed, deliveries int64) {
	if fcs == nil {
		return -1, -1, 0
	}
	for _, fc := range fcs {
		deliveries += fc.deliveries
		available = addCounter(available, fc.available)
		consumed = addCounter(consumed, fc.consumed)
	}
	return available, consumed, deliveries
}

// addCounter adds counters where -1 means unread: unread in, unread out.
func addCounter(sum, v int64) int64 {
	if sum < 0 || v < 0 {
		return -1
	}
	return sum + v
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
