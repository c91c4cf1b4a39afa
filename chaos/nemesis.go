package chaos

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Schedule is a nemesis timing, scaled for the host. The defaults are
// FAULTS.md's.
type Schedule struct {
	KillEvery     time.Duration // T1: kill -9 a partition leader's node
	KillDown      time.Duration // T1: restart it this long after
	IsolateEvery  time.Duration // T2
	IsolateFor    time.Duration
	PauseEvery    time.Duration // T3: SIGSTOP
	PauseFor      time.Duration
	Netem         Netem         // T4: every node-to-node link, the whole run
	DeafEvery     time.Duration // T4: a leader node deaf to Raft packets
	DeafFor       time.Duration
	DeafMinBytes  int           // T4: packets of at least this many bytes are dropped
	ClockEvery    time.Duration // T8: shift a leader node's clock
	ClockFor      time.Duration
	ClockSkew     time.Duration // T8: the offset, + and - in turn
	PowerEvery    time.Duration // T6: a power loss on a leader's node (kill -9, unsynced writes dropped)
	PowerDown     time.Duration // T6: restart it this long after
	PowerAllAt    time.Duration // T6: one coordinated power loss of every node, this long into the run
	CorruptAt     []float64     // T7: when to corrupt a stopped node's files, as fractions of the run
	CorruptDown   time.Duration // T7: how long the node stays stopped
	ReplaceEvery  time.Duration // T5: remove a follower, wipe it, add it back
	DiskEvery     time.Duration // T9: fill the small file system of one node
	DiskLowFor    time.Duration // T9: first to DiskLowLeave free bytes (below the watermark)
	DiskLowLeave  uint64
	DiskFullFor   time.Duration // T9: then to the last byte, then free it
	DiskFSBytes   int64         // T9: the size of that node's file system
	DiskKill      bool          // T9-enospc: kill -9 the node before freeing, restart it after
	FirstFaultGap time.Duration // quiet time before the first fault
}

// DefaultSchedule is FAULTS.md's: kill every 10 s for 5 s, isolate every
// 60 s for 20 s, pause every 45 s for 5 s; netem 50 ms ± 20 ms, 2% loss, 5%
// reordering, and a deaf leader (packets > 100 bytes) every 60 s for 15 s;
// a ±2 s clock offset every 60 s for 30 s; a power loss every 30 s and a
// coordinated one at 150 s; corruption at 60 s and 180 s of 300.
func DefaultSchedule() Schedule {
	return Schedule{KillEvery: 10 * time.Second, KillDown: 5 * time.Second, IsolateEvery: 60 * time.Second,
		IsolateFor: 20 * time.Second, PauseEvery: 45 * time.Second, PauseFor: 5 * time.Second,
		Netem:     Netem{Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond, LossPct: 2, ReorderPct: 5},
		DeafEvery: 60 * time.Second, DeafFor: 15 * time.Second, DeafMinBytes: 101,
		ClockEvery: 60 * time.Second, ClockFor: 30 * time.Second, ClockSkew: 2 * time.Second,
		PowerEvery: 30 * time.Second, PowerDown: 5 * time.Second, PowerAllAt: 150 * time.Second,
		CorruptAt: []float64{0.2, 0.6}, CorruptDown: 2 * time.Second, ReplaceEvery: 60 * time.Second,
		DiskEvery: 40 * time.Second, DiskLowFor: 10 * time.Second, DiskLowLeave: 64 << 20, DiskFullFor: 15 * time.Second, DiskFSBytes: 1 << 30,
		FirstFaultGap: 5 * time.Second}
}

// Scenarios by name and the nemeses each runs. `make chaos` runs T0-T3 by
// default; T4, T4-deaf, T6, T7 and T8 are selected by name. T4-deaf is not a
// FAULTS.md scenario: it is T4's deaf leader without netem, for hosts whose
// kernel has no sch_netem (where T4 itself fails).
var scenarioNemeses = map[string][]string{
	"T0":        nil,
	"T1":        {"kill"},
	"T2":        {"partition"},
	"T3":        {"kill", "partition", "pause"},
	"T4":        {"netem", "deaf"},
	"T4-deaf":   {"deaf"},
	"T5":        {"replace"},
	"T6":        {"power", "power-all"},
	"T7":        {"corrupt"},
	"T8":        {"clock"},
	"T9":        {"diskfull"},
	"T9-enospc": {"diskfull"},
}

// hasNemesis reports whether scenario runs the nemesis kind.
func hasNemesis(scenario, kind string) bool { return slices.Contains(scenarioNemeses[scenario], kind) }

// Scenarios lists the scenario names this package runs.
func Scenarios() []string {
	names := make([]string, 0, len(scenarioNemeses))
	for n := range scenarioNemeses {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// noteFaults are nemesis ops that describe an earlier fault (what a power
// loss undid, how a corrupted node came back): not faults to time.
var noteFaults = map[string]bool{"disk-full": true, "crashed": true, "power-lost": true, "refused": true, "recovered": true, "corrupt-skipped": true, "wall-clock-shift": true}

// partitionShapes are T2's rotating shapes, adapted to three nodes: FAULTS.md's
// "majorities ring" needs five nodes; on three, "bridge" cuts only the n1-n3
// link so that n2 still sees both.
var partitionShapes = []string{"random-halves", "isolate-leader", "bridge", "isolate-follower"}

// nemesis injects faults and records each as a nemesis op.
type nemesis struct {
	h     *History
	c     *client
	nw    *Net
	procs []*Proc
	bin   string
	rng   *rand.Rand
	sched Schedule

	mu     sync.Mutex // one fault decision at a time; guards faulty
	faulty map[int]string
	// refused: nodes that would not start again after a corruption (T7), with
	// the end of their log. They stay down; the final phase leaves them out.
	refused map[int]string
	dur     time.Duration // the fault phase, for schedules given as fractions of it
	// diskVictim is T9's node with the small file system.
	diskVictim int
	// replacements counts T5's replacements: every second one skips the
	// removal.
	replacements int
	wg           sync.WaitGroup
	errs         []error
}

func (n *nemesis) record(fault string, targets []int, parts []string) {
	n.recordOp(Op{Fault: fault}, targets, parts)
}

// recordOp records op (Fault and any fault detail set) as a nemesis op on
// targets, now.
func (n *nemesis) recordOp(op Op, targets []int, parts []string) {
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = n.procs[t].ID
	}
	now := n.h.Now()
	op.Kind, op.Proc, op.Targets, op.Partitions, op.Call, op.Ret, op.Outcome = KindNemesis, "nemesis", ids, parts, now, now, OK
	n.h.Add(op)
	detail := ""
	if op.OffsetMs != 0 {
		detail = fmt.Sprintf(" offset %+dms", op.OffsetMs)
	}
	if op.Detail != "" {
		detail += ": " + op.Detail
	}
	fmt.Printf("chaos: %7.1fs nemesis %s%s %v %v\n", float64(now)/1e9, op.Fault, detail, ids, parts)
}

func (n *nemesis) fail(err error) {
	n.mu.Lock()
	n.errs = append(n.errs, err)
	n.mu.Unlock()
}

// leaders returns partition -> leader node index, as some live node sees it.
func (n *nemesis) leaders(ctx context.Context) map[string]int {
	out := map[string]int{}
	for _, i := range n.rng.Perm(len(n.procs)) {
		if !n.procs[i].Running() || n.faulty[i] != "" {
			continue
		}
		st, err := n.c.status(ctx, n.procs[i])
		if err != nil {
			continue
		}
		for _, p := range st.Partitions {
			for j, pr := range n.procs {
				if pr.ID == p.Leader {
					out[p.ID] = j
				}
			}
		}
		return out
	}
	return out
}

func ledBy(leaders map[string]int, node int) []string {
	var parts []string
	for p, l := range leaders {
		if l == node {
			parts = append(parts, p)
		}
	}
	slices.Sort(parts)
	return parts
}

// run starts the scenario's nemeses until stop closes.
func (n *nemesis) run(ctx context.Context, scenario string, stop chan struct{}) {
	for _, kind := range scenarioNemeses[scenario] {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			switch kind {
			case "kill":
				n.loop(stop, n.sched.KillEvery, func() { n.kill(ctx, stop) })
			case "partition":
				shape := 0
				n.loop(stop, n.sched.IsolateEvery, func() { n.partition(ctx, stop, partitionShapes[shape%len(partitionShapes)]); shape++ })
			case "pause":
				n.loop(stop, n.sched.PauseEvery, func() { n.pause(stop) })
			case "deaf":
				n.loop(stop, n.sched.DeafEvery, func() { n.deaf(ctx, stop) })
			case "clock":
				sign := time.Duration(1)
				n.loop(stop, n.sched.ClockEvery, func() { n.clock(ctx, stop, sign*n.sched.ClockSkew); sign = -sign })
			case "power":
				n.loop(stop, n.sched.PowerEvery, func() { n.powerLoss(ctx, stop) })
			case "power-all":
				n.powerLossAll(stop)
			case "corrupt":
				n.corruptions(ctx, stop)
			case "replace":
				n.loop(stop, n.sched.ReplaceEvery, func() { n.replace(ctx) })
			case "diskfull":
				n.loop(stop, n.sched.DiskEvery, func() { n.diskFull(ctx, stop) })
			case "netem":
				// Set up by startNetem before the workload, for the whole run.
			}
		}()
	}
}

// loop runs fault every period after the first gap, at most 10,000 times.
func (n *nemesis) loop(stop chan struct{}, period time.Duration, fault func()) {
	if sleepOr(stop, n.sched.FirstFaultGap) {
		return
	}
	next := time.Now()
	for k := 0; k < 10_000; k++ {
		fault()
		next = next.Add(period)
		if sleepOr(stop, time.Until(next)) {
			return
		}
	}
}

func (n *nemesis) pick(ctx context.Context) (int, []string, bool) {
	leaders := n.leaders(ctx)
	parts := make([]string, 0, len(leaders))
	for p := range leaders {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	n.rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	for _, p := range parts {
		if v := leaders[p]; n.faulty[v] == "" && n.procs[v].Running() {
			return v, ledBy(leaders, v), true
		}
	}
	return 0, nil, false
}

// kill: kill -9 the node leading a random partition, restart it KillDown later.
func (n *nemesis) kill(ctx context.Context, stop chan struct{}) {
	n.onLeaderNode(ctx, stop, Op{Fault: "kill"}, n.sched.KillDown,
		func(v int) error { return n.procs[v].Signal(syscall.SIGKILL) },
		n.restart)
}

// onLeaderNode injects one fault on the node leading a random partition: it
// marks the node faulty, records op, calls inject, and after hold (or stop)
// calls heal, which clears the mark. inject and heal run with mu held; an
// inject error is kept for the run's report.
func (n *nemesis) onLeaderNode(ctx context.Context, stop chan struct{}, op Op, hold time.Duration, inject func(v int) error, heal func(v int)) {
	n.mu.Lock()
	v, parts, ok := n.pick(ctx)
	if !ok {
		n.mu.Unlock()
		return
	}
	n.faulty[v] = op.Fault
	n.recordOp(op, []int{v}, parts)
	if err := inject(v); err != nil {
		n.errs = append(n.errs, err)
	}
	n.mu.Unlock()
	sleepOr(stop, hold)
	n.mu.Lock()
	defer n.mu.Unlock()
	heal(v)
}

func (n *nemesis) restart(v int) {
	if err := n.procs[v].Start(n.bin); err != nil {
		n.errs = append(n.errs, err)
	}
	delete(n.faulty, v)
	n.record("restart", []int{v}, nil)
}

// partition cuts the network in one of partitionShapes for IsolateFor.
func (n *nemesis) partition(ctx context.Context, stop chan struct{}, shape string) {
	n.mu.Lock()
	leaders := n.leaders(ctx)
	count := make([]int, len(n.procs))
	for _, l := range leaders {
		count[l]++
	}
	var victims []int
	for i := range n.procs {
		if n.faulty[i] == "" {
			victims = append(victims, i)
		}
	}
	if len(victims) == 0 {
		n.mu.Unlock()
		return
	}
	v := victims[n.rng.IntN(len(victims))]
	switch shape {
	case "isolate-leader":
		for _, i := range victims {
			if count[i] > count[v] {
				v = i
			}
		}
	case "isolate-follower":
		for _, i := range victims {
			if count[i] < count[v] {
				v = i
			}
		}
	}
	var err error
	targets := []int{v}
	if shape == "bridge" && n.faulty[0] == "" && n.faulty[len(n.procs)-1] == "" {
		targets = []int{0, len(n.procs) - 1}
		err = n.nw.Cut(0, len(n.procs)-1)
	} else {
		err = n.nw.Isolate(v)
	}
	for _, t := range targets {
		n.faulty[t] = "partitioned"
	}
	var parts []string
	for _, t := range targets {
		parts = append(parts, ledBy(leaders, t)...)
	}
	n.record("partition:"+shape, targets, parts)
	if err != nil {
		n.errs = append(n.errs, err)
	}
	n.mu.Unlock()
	sleepOr(stop, n.sched.IsolateFor)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.nw.Heal(); err != nil {
		n.errs = append(n.errs, err)
	}
	for _, t := range targets {
		delete(n.faulty, t)
	}
	n.record("heal", targets, nil)
}

// pause SIGSTOPs a random healthy node for PauseFor.
func (n *nemesis) pause(stop chan struct{}) {
	n.mu.Lock()
	var victims []int
	for i, p := range n.procs {
		if n.faulty[i] == "" && p.Running() {
			victims = append(victims, i)
		}
	}
	if len(victims) == 0 {
		n.mu.Unlock()
		return
	}
	v := victims[n.rng.IntN(len(victims))]
	leaders := n.leaders(context.Background())
	n.faulty[v] = "paused"
	n.record("pause", []int{v}, ledBy(leaders, v))
	if err := n.procs[v].Signal(syscall.SIGSTOP); err != nil {
		n.errs = append(n.errs, err)
	}
	n.mu.Unlock()
	sleepOr(stop, n.sched.PauseFor)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.procs[v].Running() {
		n.procs[v].Signal(syscall.SIGCONT)
	}
	delete(n.faulty, v)
	n.record("resume", []int{v}, nil)
}

// startNetem slows every node-to-node link for the rest of the run (T4). Its
// error, tc's own message, ends the run: a T4 without netem is not T4.
func (n *nemesis) startNetem() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	all := make([]int, len(n.procs))
	for i := range all {
		all[i] = i
	}
	n.record("netem", all, nil)
	if err := n.nw.Netem(n.sched.Netem); err != nil {
		return fmt.Errorf("chaos: T4 needs tc netem (kernel module sch_netem) and it failed: %w", err)
	}
	return nil
}

// deaf drops, for DeafFor, the Raft packets of DeafMinBytes or more that
// reach the node leading a random partition (T4's deaf leader): it can
// still send heartbeats but hears no answer and no request.
func (n *nemesis) deaf(ctx context.Context, stop chan struct{}) {
	n.onLeaderNode(ctx, stop, Op{Fault: "deaf"}, n.sched.DeafFor,
		func(v int) error { return n.nw.Deafen(v, raftPort, n.sched.DeafMinBytes) },
		func(v int) {
			if err := n.nw.Hear(v); err != nil {
				n.errs = append(n.errs, err)
			}
			delete(n.faulty, v)
			n.record("heal-deaf", []int{v}, nil)
		})
}

// clock shifts the clock of the node leading a random partition by offset
// for ClockFor, then resets it (T8). The op is recorded, with its offset,
// before the request: a request whose answer is lost may still have
// shifted the clock, and the checkers' slack (LeaseEps) must cover it.
func (n *nemesis) clock(ctx context.Context, stop chan struct{}, offset time.Duration) {
	n.onLeaderNode(ctx, stop, Op{Fault: "clock", OffsetMs: offset.Milliseconds()}, n.sched.ClockFor,
		func(v int) error { return n.c.setClockOffset(ctx, n.procs[v], offset) },
		func(v int) { n.resetClock(ctx, v) })
}

// resetClock sets node v's clock offset back to 0, retrying for up to 10 s.
// The caller holds mu.
func (n *nemesis) resetClock(ctx context.Context, v int) {
	err := poll(ctx, 10*time.Second, func() error { return n.c.setClockOffset(ctx, n.procs[v], 0) })
	if err != nil {
		n.errs = append(n.errs, fmt.Errorf("chaos: reset the clock of %s: %w", n.procs[v].ID, err))
	}
	delete(n.faulty, v)
	n.record("heal-clock", []int{v}, nil)
}

// powerLoss cuts the power of the node leading a random partition: kill -9,
// then every write it had not fsynced is undone and the last one torn
// (powerfs); it restarts PowerDown later.
func (n *nemesis) powerLoss(ctx context.Context, stop chan struct{}) {
	n.onLeaderNode(ctx, stop, Op{Fault: "power-loss"}, n.sched.PowerDown, n.cutPower, n.restart)
}

// cutPower kills node v and drops its unsynced writes. Callers hold mu.
func (n *nemesis) cutPower(v int) error {
	p := n.procs[v]
	if p.Disk == nil {
		return fmt.Errorf("chaos: %s has no power-loss disk", p.ID)
	}
	if err := p.Disk.Cut(); err != nil {
		return err
	}
	return n.restorePower(v)
}

// restorePower kills node v, whose disk is cut, and records what the power
// loss undid. Callers hold mu.
func (n *nemesis) restorePower(v int) error {
	p := n.procs[v]
	var killErr error
	if p.Running() { // a node that crashed already still loses what it had not synced
		killErr = p.Signal(syscall.SIGKILL)
	}
	loss, err := p.Disk.Restore(n.rng) // also after a failed kill: the disk must not stay cut
	err = errors.Join(killErr, err)
	n.recordOp(Op{Fault: "power-lost", Detail: fmt.Sprintf("%d files rolled back, %d pages restored, %d bytes cut, last write torn at %d of %d bytes",
		loss.Files, loss.Pages, loss.Truncated, loss.TornBytes, loss.TornOf)}, []int{v}, nil)
	return err
}

// powerLossAll cuts the power of every node at once, PowerAllAt into the
// run (waiting up to 30 s for a single-node fault to end first), and
// restarts them all PowerDown later.
func (n *nemesis) powerLossAll(stop chan struct{}) {
	if sleepOr(stop, n.sched.PowerAllAt) {
		return
	}
	for k := 0; ; k++ {
		n.mu.Lock()
		if len(n.faulty) == 0 {
			break
		}
		n.mu.Unlock()
		if k >= 300 || sleepOr(stop, 100*time.Millisecond) { // polling the other nemesis's mark, bounded
			return
		}
	}
	all := make([]int, len(n.procs))
	for i := range n.procs {
		all[i] = i
	}
	var parts []string
	for p := range n.leaders(context.Background()) {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for i := range n.procs {
		n.faulty[i] = "power-loss-all"
	}
	n.record("power-loss-all", all, parts)
	// One instant for all three disks, then the processes die.
	for _, v := range all {
		if err := n.procs[v].Disk.Cut(); err != nil {
			n.errs = append(n.errs, err)
		}
	}
	for _, v := range all {
		if err := n.restorePower(v); err != nil {
			n.errs = append(n.errs, err)
		}
	}
	n.mu.Unlock()
	sleepOr(stop, n.sched.PowerDown)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, v := range all {
		n.restart(v)
	}
}

// healAll ends every fault: waits for the nemeses, removes every iptables
// rule and qdisc, resumes paused nodes and restarts dead ones.
func (n *nemesis) healAll() error {
	n.wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.nw.Restore(); err != nil {
		n.errs = append(n.errs, err)
	}
	for i, p := range n.procs {
		if p.Running() {
			p.Signal(syscall.SIGCONT)
		} else if _, ok := n.refused[i]; !ok {
			n.restart(i)
		}
	}
	n.record("heal-all", nil, nil)
	return joinErrs(n.errs)
}

// corruptions is T7: at each CorruptAt fraction of the fault phase it
// corrupts one stopped node's files and starts it again.
func (n *nemesis) corruptions(ctx context.Context, stop chan struct{}) {
	start := time.Now()
	for _, f := range n.sched.CorruptAt {
		if sleepOr(stop, time.Until(start.Add(time.Duration(f*float64(n.dur))))) {
			return
		}
		n.corrupt(ctx)
	}
}

// corrupt stops a random node (only while every node is healthy: at most one
// faulty node), flips two bits of one of its Raft files or truncates a log
// store, starts it again and watches for 30 s: it must either serve again
// ("recovered") or refuse to start ("refused", which keeps it down for the
// rest of the run).
func (n *nemesis) corrupt(ctx context.Context) {
	n.mu.Lock()
	for i, p := range n.procs {
		if n.faulty[i] != "" || !p.Running() {
			n.recordOp(Op{Fault: "corrupt-skipped", Detail: "a node is faulty already"}, nil, nil)
			n.mu.Unlock()
			return
		}
	}
	v := n.rng.IntN(len(n.procs))
	p := n.procs[v]
	n.faulty[v] = "corrupt"
	parts := ledBy(n.leaders(ctx), v)
	p.Stop(10 * time.Second)
	detail, err := corruptFiles(p.DataDir, n.rng)
	n.recordOp(Op{Fault: "corrupt", Detail: detail}, []int{v}, parts)
	if err != nil {
		n.errs = append(n.errs, err)
	}
	n.mu.Unlock()
	time.Sleep(n.sched.CorruptDown) // the node's down time, a schedule
	n.mu.Lock()
	if err := p.Start(n.bin); err != nil {
		n.errs = append(n.errs, err)
	}
	n.record("restart", []int{v}, nil)
	n.mu.Unlock()

	outcome, why := "recovered", ""
	deadline := time.Now().Add(30 * time.Second)
	for k := 0; ; k++ {
		if !p.Running() {
			outcome, why = "refused", logTail(p.Log)
			break
		}
		if a := n.c.do(ctx, p, "GET", "/ready", nil, 2*time.Second); a.outcome() == OK {
			break
		}
		if time.Now().After(deadline) || k > 1000 {
			outcome, why = "refused", "running but not ready within 30 s: "+logTail(p.Log)
			p.Stop(5 * time.Second)
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the node against a deadline
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if outcome == "refused" {
		n.refused[v] = why
	} else {
		delete(n.faulty, v)
	}
	n.recordOp(Op{Fault: outcome, Detail: why}, []int{v}, nil)
}

// corruptFiles damages dir's Raft state the way a disk can: two flipped bits
// at random offsets of a random log store (a raft.db, or a segment of the
// shared log) or snapshot file, or (one time in three) a log store's tail
// cut off. It says what it did.
func corruptFiles(dir string, rng *rand.Rand) (string, error) {
	var files, stores []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		switch {
		case d.Name() == "raft.db", strings.HasSuffix(d.Name(), ".wal"):
			stores = append(stores, p)
			files = append(files, p)
		case d.Name() == "state.bin", d.Name() == "meta.json":
			files = append(files, p)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("chaos: no Raft files under %s: %v", dir, err)
	}
	slices.Sort(files)
	slices.Sort(stores)
	rel := func(p string) string { r, _ := filepath.Rel(dir, p); return r }
	if rng.IntN(3) == 0 && len(stores) > 0 {
		p := stores[rng.IntN(len(stores))]
		size, err := dataSize(p)
		if err != nil {
			return "", err
		}
		cut := 1 + rng.Int64N(max(size/4, 1))
		return fmt.Sprintf("truncated %s from %d to %d bytes", rel(p), size, size-cut), os.Truncate(p, max(size-cut, 0))
	}
	p := files[rng.IntN(len(files))]
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size, err := dataSize(p)
	if err != nil || size == 0 {
		return "", fmt.Errorf("chaos: %s: empty or unreadable: %v", p, err)
	}
	var done []string
	for range 2 {
		off, bit := rng.Int64N(size), byte(1)<<rng.IntN(8)
		b := []byte{0}
		if _, err := f.ReadAt(b, off); err != nil {
			return "", err
		}
		b[0] ^= bit
		if _, err := f.WriteAt(b, off); err != nil {
			return "", err
		}
		done = append(done, fmt.Sprintf("offset %d bit %d", off, bits.TrailingZeros8(bit)))
	}
	return fmt.Sprintf("flipped 2 bits of %s (%d bytes of data): %s", rel(p), size, strings.Join(done, ", ")), f.Sync()
}

// dataSize is the length of the file at p without its trailing zeros: a
// shared-log segment is zero-filled ahead of use, and damage to zeros no
// write has reached yet tests nothing.
func dataSize(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return int64(n), nil
}

// logTail says why a node's last incarnation ended: the last line of its log
// that names a panic, a fatal runtime error or a checksum (a crash dump can
// be long, so the whole log is searched), else the last error line of its
// tail, else its last line.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	pick := ""
	for i := len(lines) - 1; i >= 0 && pick == ""; i-- {
		l := lines[i]
		if strings.Contains(l, "checksum") || strings.Contains(l, "is corrupt") || strings.HasPrefix(l, "panic:") ||
			strings.HasPrefix(l, "fatal error") || strings.HasPrefix(l, "[signal ") {
			pick = l
		}
	}
	for i := len(lines) - 1; i >= max(0, len(lines)-50) && pick == ""; i-- {
		if strings.Contains(lines[i], "error") || strings.Contains(lines[i], "ERROR") {
			pick = lines[i]
		}
	}
	if pick == "" {
		pick = lines[len(lines)-1]
	}
	return pick[:min(len(pick), 400)]
}
