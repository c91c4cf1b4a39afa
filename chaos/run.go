package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config describes one run.
type Config struct {
	Scenario string // a name of Scenarios()
	Nodes    int    // cluster size; 0 means 3
	Seed     uint64 // 0 picks one (printed)
	Duration time.Duration
	Bin      string // the raftmq binary
	OutDir   string // history.jsonl, report.json, node logs and data
	// Partitions of the NORMAL queue (the FIFO queue has one).
	Partitions int
	Workload   Workload
	Schedule   Schedule
	// Settle is the quiet time between the final heal and the drain.
	Settle       time.Duration
	DrainTimeout time.Duration
	// UnsafeAckBeforeCommit starts the nodes with the negative-control flag:
	// the run must then report loss.
	UnsafeAckBeforeCommit bool
	// UnsafeNoSync starts the nodes with fsync off (T6's negative control):
	// a run with power losses must then report loss.
	UnsafeNoSync bool
	Log          func(format string, args ...any)
}

// DefaultConfig is a full run of scenario, scaled to a 2-core host.
func DefaultConfig(scenario string) Config {
	return Config{Scenario: scenario, Duration: 3 * time.Minute, Partitions: 6,
		Workload: Workload{Rate: 100, FIFORate: 3, Producers: 8, Consumers: 2, AckWait: 15, TimeWait: 3, PoisonEvery: 97,
			TxnRate: 4, DedupRate: 10},
		Schedule: DefaultSchedule(), Settle: 10 * time.Second, DrainTimeout: 150 * time.Second}
}

// ShortConfig is the variant that runs inside `make test`: about 75 s.
func ShortConfig(scenario string) Config {
	c := DefaultConfig(scenario)
	c.Duration, c.Partitions, c.Settle = 40*time.Second, 3, 3*time.Second
	c.Workload.Rate, c.Workload.Producers = 50, 4
	return c
}

// Availability is how long clients waited after one fault or heal.
type Availability struct {
	At         float64  `json:"at_s"`
	Fault      string   `json:"fault"`
	Targets    []string `json:"targets"`
	Partitions []string `json:"partitions,omitempty"`
	// ProduceS and ConsumeS: seconds from the event until the first
	// successful produce into (consume out of) every affected partition; for
	// a heal or restart, through the healed node. -1: not seen.
	ProduceS float64 `json:"produce_s"`
	ConsumeS float64 `json:"consume_s"`
}

// Report is one run's result, one JSON line in report.json.
type Report struct {
	Scenario         string         `json:"scenario"`
	Seed             uint64         `json:"seed"`
	Nodes            int            `json:"nodes"`
	Negative         bool           `json:"negative_control,omitempty"`
	DurationS        float64        `json:"duration_s"`
	Faults           int            `json:"faults"`
	LeaseEpsMs       int64          `json:"lease_eps_ms"` // the checkers' clock slack (LeaseEps)
	Verdict          Verdict        `json:"verdict"`
	DrainLeft        []string       `json:"drain_left,omitempty"`
	Refused          []string       `json:"refused,omitempty"` // T7: nodes that refused to start on corrupted files (kept down; not compared)
	Elections        int            `json:"elections"`         // Raft terms started in the partition groups between the cluster being ready and the end
	ReplicasCompared int            `json:"replicas_compared"`
	RaftEntries      uint64         `json:"raft_entries"` // sum over partitions of the applied index the replicas met at
	DigestMismatches []string       `json:"digest_mismatches,omitempty"`
	NemesisErrors    []string       `json:"nemesis_errors,omitempty"`
	Availability     []Availability `json:"availability"`
	RecoveryP50S     float64        `json:"recovery_p50_s"`
	RecoveryP99S     float64        `json:"recovery_p99_s"`
	Dir              string         `json:"dir"`
}

// Passed reports whether the run holds every safety property (for a
// negative control: whether the checker saw the loss).
func (r *Report) Passed() bool {
	if r.Negative {
		return r.Verdict.Lost > 0
	}
	return !r.Verdict.Failed() && len(r.DrainLeft) == 0 && len(r.DigestMismatches) == 0 && len(r.NemesisErrors) == 0 &&
		r.Verdict.ProducedOK > 0 && r.ReplicasCompared > 0
}

func joinErrs(errs []error) error { return errors.Join(errs...) }

// validate refuses schedules that would break what the checkers assume.
func (cfg Config) validate() error {
	ackWait := time.Duration(cfg.Workload.AckWait) * time.Second
	if s := cfg.Schedule; hasNemesis(cfg.Scenario, "clock") && s.ClockEvery-s.ClockFor <= ackWait {
		// LeaseEps assumes that no lease starts under one offset and ends
		// under the next.
		return fmt.Errorf("chaos: clock schedule: every %v for %v leaves no more than ack_wait (%v) between offsets", s.ClockEvery, s.ClockFor, ackWait)
	}
	return nil
}

// Run performs one run: network, nodes, workload and nemesis for Duration,
// heal, settle, drain, digests, checks. The network and processes are gone
// when it returns, whatever happened. An error means the run could not be
// carried out (it says nothing about the broker); the verdict is in Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if _, ok := scenarioNemeses[cfg.Scenario]; !ok {
		return nil, fmt.Errorf("chaos: unknown scenario %q (have %v)", cfg.Scenario, Scenarios())
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logf := cfg.Log
	if logf == nil {
		logf = func(format string, args ...any) { fmt.Printf("chaos: "+format+"\n", args...) }
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	logf("scenario %s seed %d duration %v (re-run: --scenario %s --seed %d)", cfg.Scenario, cfg.Seed, cfg.Duration, cfg.Scenario, cfg.Seed)
	master := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("rmq%05x", master.Uint32()&0xfffff)
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	nw, err := NewNet(prefix, cfg.Nodes, master)
	if err != nil {
		return nil, err
	}
	var procs []*Proc
	defer func() {
		for _, p := range procs {
			p.Stop(5 * time.Second)
			if err := p.unmountDisk(); err != nil {
				logf("%v", err)
			}
		}
		if err := nw.Close(); err != nil {
			logf("cleanup of the test network: %v", err)
		}
	}()
	logf("network %s: bridge in namespace %sh, nodes %v, harness at %s", prefix, prefix, nw.NodeIP, nw.HostIP)

	var join []string
	for _, ip := range nw.NodeIP {
		join = append(join, ip+":9002")
	}
	args := []string{"--bootstrap-expect", fmt.Sprint(cfg.Nodes), "--join", strings.Join(join, ","), "--partitions", fmt.Sprint(cfg.Partitions)}
	if cfg.UnsafeAckBeforeCommit {
		args = append(args, "--unsafe-ack-before-commit")
	}
	if cfg.UnsafeNoSync {
		args = append(args, "--unsafe-no-sync")
	}
	if s := &cfg.Schedule; s.PowerAllAt > cfg.Duration/2 {
		s.PowerAllAt = cfg.Duration / 2 // FAULTS.md: at 150 s of 300
	}
	if hasNemesis(cfg.Scenario, "clock") {
		args = append(args, "--unsafe-test-clock") // serves the clock-offset endpoint (test only)
	}
	diskVictim := int(cfg.Seed % uint64(len(nw.NodeIP)))
	if hasNemesis(cfg.Scenario, "diskfull") {
		args = append(args, diskFlags...)
		cfg.Schedule.DiskKill = cfg.Scenario == "T9-enospc"
	}
	for i := range nw.NodeIP {
		p := newProc(cfg.OutDir, i, nw, args)
		procs = append(procs, p)
		if hasNemesis(cfg.Scenario, "power") {
			if err := p.mountDisk(); err != nil {
				return nil, err
			}
		}
		if hasNemesis(cfg.Scenario, "diskfull") && i == diskVictim {
			if err := p.mountSmallFS(cfg.Schedule.DiskFSBytes); err != nil {
				return nil, err
			}
			p.Args = append(slices.Clone(p.Args), diskVictimFlags(cfg.Scenario)...)
		}
		if err := p.Start(cfg.Bin); err != nil {
			return nil, err
		}
	}
	hist, err := NewHistory(filepath.Join(cfg.OutDir, "history.jsonl"))
	if err != nil {
		return nil, err
	}
	defer hist.Close()
	c := &client{h: hist, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, project: "chaos", nodes: procs}
	if err := waitReady(ctx, c, procs, 60*time.Second); err != nil {
		return nil, err
	}
	queues, err := setupQueues(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := waitLeaders(ctx, c, procs, 1+cfg.Partitions, 60*time.Second); err != nil {
		return nil, err
	}
	logf("cluster ready; queues normal=%s (%d partitions) fifo=%s", queues[0].ID, cfg.Partitions, queues[1].ID)
	startTerms := terms(ctx, c, procs)

	seedFor := master.Uint64()
	var rngMu = make(chan struct{}, 1)
	w := &workload{cfg: cfg.Workload, c: c, queues: queues, stopProduce: make(chan struct{}), stopConsume: make(chan struct{}),
		delayed: make(chan struct{}, 16), rng: func() *rand.Rand {
			rngMu <- struct{}{}
			defer func() { <-rngMu }()
			seedFor++
			return rand.New(rand.NewPCG(cfg.Seed, seedFor))
		}}
	nem := &nemesis{h: hist, c: c, nw: nw, procs: procs, bin: cfg.Bin, rng: rand.New(rand.NewPCG(cfg.Seed, 1)), sched: cfg.Schedule,
		faulty: map[int]string{}, refused: map[int]string{}, dur: cfg.Duration, diskVictim: diskVictim}
	if hasNemesis(cfg.Scenario, "netem") {
		if err := nem.startNetem(); err != nil {
			return nil, err
		}
		m := cfg.Schedule.Netem
		logf("netem on every node-to-node link: delay %v ± %v, loss %g%%, reorder %g%%", m.Delay, m.Jitter, m.LossPct, m.ReorderPct)
	}
	start := time.Now()
	stopWatch := make(chan struct{})
	go watchWallClock(hist, stopWatch)
	defer close(stopWatch)
	w.start(ctx)
	stopNemesis := make(chan struct{})
	nem.run(ctx, cfg.Scenario, stopNemesis)
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	close(stopNemesis)
	nemErr := nem.healAll()
	logf("%.0fs: healed; stopping clients", time.Since(start).Seconds())
	w.stop()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	time.Sleep(cfg.Settle) // FAULTS.md: heal everything, wait, then drain (a schedule, not a synchronisation)
	var left, mismatches, refused []string
	var compared int
	var entries uint64
	live := procs
	if len(nem.refused) > 0 { // T7: a node that refused its corrupted files stays down
		live = nil
		for i, p := range procs {
			if why, ok := nem.refused[i]; ok {
				refused = append(refused, p.ID+": "+why)
			} else {
				live = append(live, p)
			}
		}
	}
	if err := waitReady(ctx, c, live, 60*time.Second); err != nil {
		// Kept as the run's result, not an error of the harness: a negative
		// control can leave nodes that no longer start.
		left = []string{"not ready after the final heal, nothing drained: " + err.Error()}
		logf("%s", left[0])
	} else {
		left = w.drain(ctx, cfg.DrainTimeout)
		logf("%.0fs: drained (left: %v)", time.Since(start).Seconds(), left)
		compared, entries, mismatches = compareDigests(ctx, c, live, 60*time.Second)
	}
	elections := 0
	for p, t := range terms(ctx, c, live) {
		if t0, ok := startTerms[p]; ok && t > t0 {
			elections += int(t - t0)
		}
	}

	ops := hist.Ops()
	rep := &Report{Scenario: cfg.Scenario, Seed: cfg.Seed, Nodes: cfg.Nodes, Negative: cfg.UnsafeAckBeforeCommit || cfg.UnsafeNoSync, DurationS: time.Since(start).Seconds(),
		DrainLeft: left, Refused: refused, Elections: elections, ReplicasCompared: compared, RaftEntries: entries, DigestMismatches: mismatches, Dir: cfg.OutDir}
	if nemErr != nil {
		rep.NemesisErrors = strings.Split(nemErr.Error(), "\n")
	}
	ccfg := runCheckConfig(ops, len(left) == 0)
	rep.LeaseEpsMs = ccfg.Eps.Milliseconds()
	rep.Verdict = Check(ops, ccfg)
	rep.Availability = availability(ops, queues)
	var rec []float64
	for _, a := range rep.Availability {
		if !endsFault(a.Fault) {
			rep.Faults++
		}
		if a.ProduceS >= 0 {
			rec = append(rec, a.ProduceS)
		}
	}
	rep.RecoveryP50S, rep.RecoveryP99S = quantile(rec, 0.5), quantile(rec, 0.99)
	b, _ := json.Marshal(rep)
	f, err := os.OpenFile(filepath.Join(cfg.OutDir, "report.json"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err == nil {
		f.Write(append(b, '\n'))
		f.Close()
	}
	if rep.Passed() && !rep.Negative {
		for _, p := range procs { // keep history and logs; a failing run keeps the data directories too
			p.Stop(5 * time.Second)
			fs := p.SmallFS
			if p.unmountDisk() == nil {
				os.RemoveAll(p.DataDir)
				os.RemoveAll(p.DataDir + ".disk")
				if fs != "" {
					os.Remove(fs)
					os.RemoveAll(fs + "-data")
				}
			}
		}
	}
	return rep, nil
}

const maxConsumeCount = 5

// runCheckConfig is what Run checks a run's history with: the workload's
// queues and groups, and the clock slack for the offsets the nemesis
// injected (LeaseEps).
func runCheckConfig(ops []Op, drained bool) CheckConfig {
	return CheckConfig{
		Groups:          map[string][]string{"normal": groupNames[:], "fifo": groupNames[:]},
		FIFO:            map[string]bool{"fifo": true},
		MaxConsumeCount: maxConsumeCount, Eps: LeaseEps(ops), Drained: drained,
	}
}

func setupQueues(ctx context.Context, c *client) ([]queueRef, error) {
	specs := []struct {
		name string
		body map[string]any
	}{
		{"normal", map[string]any{"name": "normal", "redrive_policy": "enable", "max_consume_count": maxConsumeCount}},
		{"fifo", map[string]any{"name": "fifo", "queue_mode": "FIFO", "redrive_policy": "enable", "max_consume_count": maxConsumeCount}},
	}
	var out []queueRef
	for _, s := range specs {
		var q struct{ ID string }
		if err := c.mustJSON(ctx, "POST", "/queues", s.body, &q); err != nil {
			return nil, err
		}
		ref := queueRef{Name: s.name, ID: q.ID, Groups: map[string]string{}}
		for _, g := range groupNames {
			var gs struct {
				Groups []struct{ ID string } `json:"groups"`
			}
			if err := c.mustJSON(ctx, "POST", "/queues/"+q.ID+"/groups", map[string]any{"groups": []map[string]string{{"name": g}}}, &gs); err != nil {
				return nil, err
			}
			if len(gs.Groups) != 1 {
				return nil, fmt.Errorf("chaos: create group %s: %+v", g, gs)
			}
			ref.Groups[g] = gs.Groups[0].ID
		}
		out = append(out, ref)
	}
	return out, nil
}

// poll runs cond every 200 ms until it returns nil, ctx ends or d passes.
func poll(ctx context.Context, d time.Duration, cond func() error) error {
	deadline := time.Now().Add(d)
	for k := 0; ; k++ {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || k > 10_000 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond): // polling a condition against a deadline
		}
	}
}

func waitReady(ctx context.Context, c *client, procs []*Proc, d time.Duration) error {
	return poll(ctx, d, func() error {
		for _, p := range procs {
			if a := c.do(ctx, p, "GET", "/ready", nil, 2*time.Second); a.outcome() != OK {
				return fmt.Errorf("chaos: %s not ready: %s (log %s)", p.ID, a.errText(), p.Log)
			}
		}
		return nil
	})
}

func waitLeaders(ctx context.Context, c *client, procs []*Proc, parts int, d time.Duration) error {
	return poll(ctx, d, func() error {
		st, err := c.status(ctx, procs[0])
		if err != nil {
			return err
		}
		if len(st.Partitions) != parts {
			return fmt.Errorf("chaos: %d partitions listed, want %d", len(st.Partitions), parts)
		}
		for _, p := range st.Partitions {
			if p.Leader == "" {
				return fmt.Errorf("chaos: partition %s has no leader", p.ID)
			}
		}
		return nil
	})
}

// terms is the highest Raft term each partition's replicas report, over the
// nodes that answer.
func terms(ctx context.Context, c *client, procs []*Proc) map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range procs {
		ds, err := c.digests(ctx, p)
		if err != nil {
			continue
		}
		for _, d := range ds {
			out[d.Partition] = max(out[d.Partition], d.Term)
		}
	}
	return out
}

// compareDigests waits until every replica of every partition reports the
// same applied index, then compares their digests. It returns how many
// replicas were compared, the sum over partitions of the highest applied
// index, and the mismatches (or the partitions whose replicas never reached
// one applied index).
func compareDigests(ctx context.Context, c *client, procs []*Proc, d time.Duration) (int, uint64, []string) {
	var compared int
	var entries uint64
	var problems []string
	poll(ctx, d, func() error {
		compared, entries, problems = 0, 0, nil
		byPart := map[string]map[string]replicaDigest{}
		for _, p := range procs {
			ds, err := c.digests(ctx, p)
			if err != nil {
				problems = []string{err.Error()}
				return err
			}
			for _, r := range ds {
				if byPart[r.Partition] == nil {
					byPart[r.Partition] = map[string]replicaDigest{}
				}
				byPart[r.Partition][p.ID] = r
			}
		}
		parts := make([]string, 0, len(byPart))
		for id := range byPart {
			parts = append(parts, id)
		}
		slices.Sort(parts)
		holders := replicaSets(ctx, c, procs)
		var pending error
		for _, id := range parts {
			reps := byPart[id]
			var top uint64
			for _, r := range reps {
				top = max(top, r.AppliedIndex)
			}
			entries += top
			var first *replicaDigest
			for _, p := range procs {
				if set, ok := holders[id]; ok && !slices.Contains(set, p.ID) {
					continue // not a replica of this partition (more nodes than replicas)
				}
				r, ok := reps[p.ID]
				if !ok {
					problems = append(problems, fmt.Sprintf("%s: no replica on %s", id, p.ID))
					pending = errors.New("missing replica")
					continue
				}
				compared++
				if first == nil {
					first = &r
					continue
				}
				if r.AppliedIndex != first.AppliedIndex {
					problems = append(problems, fmt.Sprintf("%s: applied index %d and %d never met", id, first.AppliedIndex, r.AppliedIndex))
					pending = errors.New("applied indexes differ")
				} else if r.Digest != first.Digest {
					problems = append(problems, fmt.Sprintf("%s: DIVERGED at applied index %d: %s on %s, %s on %s", id, r.AppliedIndex, first.Digest[:12], "first", r.Digest[:12], p.ID))
				}
			}
		}
		return pending
	})
	return compared, entries, problems
}

// replicaSets is each partition's replica set as the first node that
// answers lists it (nil when none answers: then every node must hold every
// partition, as on three nodes).
func replicaSets(ctx context.Context, c *client, procs []*Proc) map[string][]string {
	for _, p := range procs {
		st, err := c.status(ctx, p)
		if err != nil {
			continue
		}
		out := map[string][]string{}
		for _, part := range st.Partitions {
			out[part.ID] = part.Replicas
		}
		return out
	}
	return nil
}

// endsFault reports whether a nemesis event ends a fault (a heal, restart or
// resume, timed through the healed node) rather than injecting one.
func endsFault(fault string) bool {
	return strings.HasPrefix(fault, "heal") || fault == "restart" || fault == "resume"
}

// availability measures, for each nemesis event, how long until clients
// succeeded again on what it affected.
func availability(ops []Op, queues []queueRef) []Availability {
	partOf := map[string]string{} // value -> partition id
	queueID := map[string]string{}
	for _, q := range queues {
		queueID[q.Name] = q.ID
	}
	for _, op := range ops {
		if op.Kind == KindProduce && op.Outcome == OK {
			for k, id := range op.IDs {
				if p, _, ok := ParseMessageID(id); ok && k < len(op.Values) {
					partOf[op.Values[k]] = fmt.Sprintf("%s/%d", queueID[op.Queue], p)
				}
			}
		}
	}
	var out []Availability
	for _, ev := range ops {
		if ev.Kind != KindNemesis || ev.Fault == "heal-all" || ev.Fault == "netem" || noteFaults[ev.Fault] { // netem: the whole run, no recovery to time
			continue
		}
		a := Availability{At: float64(ev.Call) / 1e9, Fault: ev.Fault, Targets: ev.Targets, Partitions: ev.Partitions, ProduceS: -1, ConsumeS: -1}
		byNode := endsFault(ev.Fault)
		firstAfter := func(match func(op *Op) []string) float64 {
			need := map[string]bool{}
			if byNode {
				need["node"] = true
			} else {
				for _, p := range ev.Partitions {
					need[p] = true
				}
			}
			if len(need) == 0 {
				return 0
			}
			for i := range ops {
				op := &ops[i]
				if op.Call < ev.Call || op.Outcome != OK {
					continue
				}
				for _, p := range match(op) {
					if need[p] {
						delete(need, p)
						if len(need) == 0 {
							return float64(op.Ret-ev.Call) / 1e9
						}
					}
				}
			}
			return -1
		}
		a.ProduceS = firstAfter(func(op *Op) []string {
			if op.Kind != KindProduce {
				return nil
			}
			if byNode {
				if slices.Contains(ev.Targets, op.Node) {
					return []string{"node"}
				}
				return nil
			}
			var ps []string
			for _, v := range op.Values {
				ps = append(ps, partOf[v])
			}
			return ps
		})
		a.ConsumeS = firstAfter(func(op *Op) []string {
			if op.Kind != KindConsume || op.DLQ || len(op.Deliveries) == 0 {
				return nil
			}
			if byNode {
				if slices.Contains(ev.Targets, op.Node) {
					return []string{"node"}
				}
				return nil
			}
			var ps []string
			for _, d := range op.Deliveries {
				ps = append(ps, partOf[d.Value])
			}
			return ps
		})
		out = append(out, a)
	}
	return out
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}
