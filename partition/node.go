package partition

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"

	"raftmq/bodystore"
)

// logCacheEntries is how many of the newest log entries each group keeps in
// memory for replication (MaxAppendEntries is at most 1024, so one batch
// of small entries always fits); logCacheBytes bounds their size.
const logCacheEntries = 1024

// newRaft is raft.NewRaft, except that a corrupt log entry or stable value
// met while it reads the stores (it panics on some) comes back as an error
// matching ErrCorrupt.
func newRaft(rc *raft.Config, f raft.FSM, logs raft.LogStore, store openedStore, snaps raft.SnapshotStore, trans raft.Transport) (r *raft.Raft, err error) {
	found := func() *CorruptError {
		if store.found == nil {
			return nil
		}
		return store.found()
	}
	defer func() {
		if p := recover(); p != nil {
			if e := found(); e != nil {
				r, err = nil, e
				return
			}
			panic(p)
		}
	}()
	r, err = raft.NewRaft(rc, f, logs, store, snaps, trans)
	if e := found(); err != nil && e != nil {
		return nil, fmt.Errorf("%w (%v)", e, err)
	}
	return r, err
}

// boltOptions tunes the bolt log store for an append-and-truncate workload:
// the freelist is rebuilt on open instead of written on every commit (one
// page write fewer per fsync), kept as a hash map (truncation frees many
// pages at once), and the first mapping is large enough that a busy log
// rarely remaps (a remap blocks every reader and writer).
func boltOptions() *bbolt.Options {
	return &bbolt.Options{
		Timeout:         time.Second,
		NoFreelistSync:  true,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: 64 << 20,
	}
}

// RaftConfig holds the Raft settings shared by every group of a node.
type RaftConfig struct {
	NodeID string
	// Timings; zero values take hashicorp/raft's defaults (1 s, 1 s, 500 ms).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// MaxAppendEntries bounds entries per AppendEntries RPC and, with
	// BatchApplyCh, how many concurrent proposals share one disk write.
	MaxAppendEntries  int
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// ApplyTimeout bounds the wait for a proposal to be accepted by Raft.
	ApplyTimeout time.Duration
	// LeaderWait is how long a proposal waits for an election in progress (or a
	// new leader's barrier) to finish before it reports ErrNotLeader.
	LeaderWait time.Duration
	// NoSync skips fsync in the log store. Only for the fault suite's
	// negative control: acknowledged writes can be lost.
	NoSync bool
	// BodySegmentBytes is the size of a partition's body store segments
	// (space is reclaimed a whole segment at a time); 0 takes
	// bodystore.DefaultSegmentBytes.
	BodySegmentBytes int64
	// BodyCache, when set, is the node's cache of message bodies, shared by
	// every partition's body store (bodystore.Cache); nil caches nothing.
	BodyCache *bodystore.Cache
	// LogStore is the partitions' log engine: LogStoreWAL (default),
	// LogStoreBolt or LogStoreRaftWAL. The metadata group always uses bolt.
	LogStore string
	// Pacing shares a partition leader's pipeline between producers and
	// busy consumers (see Pacing); the zero value turns it off.
	Pacing Pacing
	// SyncObserver, when set, is told how long each fdatasync of the shared
	// log took.
	SyncObserver func(time.Duration)
	// WALSegmentSize is the shared log's segment size (0: 64 MiB).
	WALSegmentSize int64
	// OnLogFailure, when set, is called once when the shared log stops
	// accepting writes (a failed write or fdatasync, wal.Options.OnFail):
	// the node should stop so that its groups fail over.
	OnLogFailure func(error)
	// RaftLog, when set, receives hashicorp/raft's own log lines in hclog's
	// format instead of Logger (tests discard them).
	RaftLog io.Writer
	Logger  *slog.Logger
	// Clock stamps proposals; defaults to time.Now.
	Clock func() time.Time

	// inlineBodies runs partitions as versions before the body store did:
	// bodies in the state and in its snapshots (tests of the upgrade).
	inlineBodies bool
}

// DefaultRaftConfig returns the production settings.
func DefaultRaftConfig() RaftConfig {
	return RaftConfig{
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		MaxAppendEntries:   512,
		SnapshotThreshold:  16384,
		// Checked every 5 to 10 s: a partition's snapshot holds metadata
		// only (a few MB for a million messages, and Apply waits for
		// microseconds), so taking one soon after SnapshotThreshold
		// entries is cheap, and it bounds the log that a restart replays
		// and the log's disk space.
		SnapshotInterval: 5 * time.Second,
		TrailingLogs:     10240,
		ApplyTimeout:     10 * time.Second,
		LeaderWait:       4 * time.Second,
		Pacing:           DefaultPacing(),
	}
}

// Validate checks the settings.
func (c RaftConfig) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("partition: raft config: empty node id")
	case c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024:
		return errors.New("partition: raft config: MaxAppendEntries must be 1..1024")
	case c.ApplyTimeout <= 0 || c.LeaderWait < 0:
		return errors.New("partition: raft config: ApplyTimeout and LeaderWait must be positive")
	case c.Pacing.Backlog < 0 || c.Pacing.BusyGap < 0 || (c.Pacing.Backlog > 0 && c.Pacing.MaxHold <= 0):
		return errors.New("partition: raft config: pacing needs a backlog and busy gap ≥ 0 and, when on, a positive MaxHold")
	case c.WALSegmentSize != 0 && (c.WALSegmentSize < 64<<10 || c.WALSegmentSize > 1<<30):
		return errors.New("partition: raft config: the shared log's segment size must be 64 KiB..1 GiB")
	case c.LogStore != "" && c.LogStore != LogStoreWAL && c.LogStore != LogStoreBolt && c.LogStore != LogStoreRaftWAL:
		return fmt.Errorf("partition: raft config: unknown log store %q (wal, bolt or raftwal)", c.LogStore)
	}
	return nil
}

func (c RaftConfig) clock() time.Time {
	if c.Clock != nil {
		return c.Clock()
	}
	return time.Now()
}

func (c RaftConfig) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Node is this node's member of one Raft group: the raft.Raft instance, its
// bbolt log and stable store, and its file snapshot store. It knows nothing of
// what the group's state machine holds; Replica (queue partitions) and the
// cluster's metadata group build on it.
type Node struct {
	name  string
	cfg   RaftConfig
	raft  *raft.Raft
	store openedStore
	trans *guardedTransport
	log   *slog.Logger

	// ready is true while this node leads the group and has applied every
	// entry of earlier terms (its Barrier returned): only then it serves.
	ready    atomic.Bool
	gen      atomic.Uint64
	notifyCh chan bool
	obsCh    chan raft.Observation
	observer *raft.Observer

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every leadership change
	done    chan struct{}
	wg      sync.WaitGroup
	closed  atomic.Bool
}

// OpenNode starts this node's member of the group name, keeping its state in
// dir (its log in dir/raft.db, a bolt file). When dir holds no Raft state
// and servers is not empty, the group is bootstrapped with exactly those
// servers (every founding member must be given the same list).
func OpenNode(name, dir string, cfg RaftConfig, fsm raft.FSM, trans raft.Transport, servers []raft.Server) (*Node, error) {
	return openNode(name, dir, cfg, fsm, trans, servers, openBoltStore(cfg.NoSync), nil)
}

// openNode is OpenNode with the group's log store opened by open, and its
// file snapshot store wrapped by wrapSnaps when that is not nil.
func openNode(name, dir string, cfg RaftConfig, fsm raft.FSM, trans raft.Transport, servers []raft.Server, open storeOpener, wrapSnaps func(raft.SnapshotStore) raft.SnapshotStore) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("partition %s: %w", name, err)
	}
	hl := cfg.hclogger(name)

	store, err := open(name, dir)
	if err != nil {
		return nil, fmt.Errorf("partition %s: open log store: %w", name, err)
	}
	fileSnaps, err := openSnapshotStore(dir, hl)
	if err != nil {
		store.release()
		return nil, fmt.Errorf("partition %s: open snapshot store: %w", name, err)
	}
	var snaps raft.SnapshotStore = fileSnaps
	if wrapSnaps != nil {
		snaps = wrapSnaps(fileSnaps)
	}

	n := &Node{
		name: name, cfg: cfg, store: store, trans: guardTransport(trans), log: cfg.logger().With("group", name),
		notifyCh: make(chan bool, 8), obsCh: make(chan raft.Observation, 16),
		changed: make(chan struct{}), done: make(chan struct{}),
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	if cfg.CommitTimeout > 0 {
		rc.CommitTimeout = cfg.CommitTimeout
	}
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	rc.NotifyCh = n.notifyCh
	rc.Logger = hl
	rc.NoLegacyTelemetry = true

	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		store.release()
		return nil, fmt.Errorf("partition %s: %w", name, err)
	}
	// Replication reads back the entries the leader has just written: serve
	// those from memory rather than from the log (a read and decode each).
	logs := newLogCache(store, logCacheEntries, logCacheBytes)
	r, err := newRaft(rc, fsm, logs, store, snaps, n.trans)
	if err != nil {
		store.release()
		return nil, fmt.Errorf("partition %s: start raft: %w", name, err)
	}
	n.raft = r
	n.observer = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(n.observer)
	n.wg.Add(1)
	go n.watchLeadership()

	if !existing && len(servers) > 0 {
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			n.Close()
			return nil, fmt.Errorf("partition %s: bootstrap: %w", name, err)
		}
	}
	return n, nil
}

// watchLeadership keeps ready and changed up to date. A new leader serves only
// after its Barrier: entries of earlier terms must be applied before it
// answers anything from its state.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case isLeader := <-n.notifyCh:
			g := n.gen.Add(1)
			n.ready.Store(false)
			if isLeader {
				n.wg.Add(1)
				go n.barrier(g)
			}
			n.broadcast()
		case <-n.obsCh:
			n.broadcast()
		}
	}
}

func (n *Node) barrier(g uint64) {
	defer n.wg.Done()
	for n.gen.Load() == g && !n.closed.Load() {
		err := n.await(context.Background(), n.raft.Barrier(n.cfg.ApplyTimeout))
		if errors.Is(err, ErrClosed) {
			return
		}
		if err == nil {
			if n.gen.Load() == g && n.raft.State() == raft.Leader {
				n.ready.Store(true)
				n.broadcast()
			}
			return
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			return
		}
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			// Leadership ended; a new term notifies again. But if this node
			// leads still (or again, without a notification this goroutine
			// saw), giving up would leave it leader and never ready.
			if n.raft.State() != raft.Leader {
				return
			}
		}
		n.log.Warn("leader barrier failed, retrying", "err", err)
		select {
		case <-n.done:
			return
		case <-time.After(barrierRetry):
		}
	}
}

// barrierRetry is the pause before a leader tries its Barrier again.
const barrierRetry = 100 * time.Millisecond

func (n *Node) broadcast() {
	n.mu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// LeadershipChanged returns a channel closed at the next leadership change
// (of this group, as this node sees it).
func (n *Node) LeadershipChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

// IsLeader reports whether this node leads the group and serves it.
func (n *Node) IsLeader() bool { return n.ready.Load() && n.raft.State() == raft.Leader }

// Leader returns the current leader's node id, "" during an election.
func (n *Node) Leader() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// AppliedIndex is the index of the last entry applied to the state machine.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// Term is the replica's current Raft term: it grows by one with every
// election any member of the group starts (pre-votes do not count).
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// Now is the proposing leader's clock, in unix ms.
func (n *Node) Now() int64 { return n.cfg.clock().UnixMilli() }

// Propose replicates data and returns the state machine's response once the
// entry is applied here. It waits up to LeaderWait for an election in progress,
// and for a leadership transfer (which refuses new entries before they are
// appended, so they are safe to send again).
func (n *Node) Propose(ctx context.Context, data []byte) (any, error) {
	var transferUntil time.Time
	for {
		if err := n.awaitLeadership(ctx); err != nil {
			return nil, err
		}
		ch := n.LeadershipChanged()
		timeout := n.cfg.ApplyTimeout
		if dl, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(dl))
		}
		if timeout <= 0 {
			return nil, fmt.Errorf("partition %s: %w", n.name, context.DeadlineExceeded)
		}
		f := n.raft.Apply(data, timeout)
		switch err := n.await(ctx, f); {
		case errors.Is(err, ErrClosed), errors.Is(err, errAbandoned):
			// Handed to Raft, then the node closed or the caller gave up:
			// the entry may still commit.
			return nil, fmt.Errorf("partition %s: %v: %w", n.name, err, ErrOutcomeUnknown)
		case err == nil:
			return f.Response(), nil
		case errors.Is(err, raft.ErrLeadershipTransferInProgress):
			// Not appended. Wait for the transfer to end, then look again.
			// A transfer that fails (its target died, or could not catch
			// up within an election timeout) changes no leadership and
			// signals nothing: look again every transferPoll, for up to
			// LeaderWait in all.
			if transferUntil.IsZero() {
				transferUntil = time.Now().Add(n.cfg.LeaderWait)
			}
			if time.Now().After(transferUntil) {
				return nil, n.notLeader()
			}
			select {
			case <-ch:
			case <-time.After(transferPoll):
			case <-ctx.Done():
				return nil, n.notLeader()
			}
		case errors.Is(err, raft.ErrNotLeader):
			return nil, n.notLeader()
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, fmt.Errorf("partition %s: apply: %w", n.name, err)
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
			return nil, fmt.Errorf("partition %s: %v: %w", n.name, err, ErrOutcomeUnknown)
		default:
			return nil, fmt.Errorf("partition %s: apply: %w", n.name, err)
		}
	}
}

// transferPoll is how often a proposal refused during a leadership transfer
// looks again.
const transferPoll = 50 * time.Millisecond

// errAbandoned reports that the caller stopped waiting for a future.
var errAbandoned = errors.New("partition: stopped waiting")

// await waits for f like f.Error(), but returns ErrClosed once the node
// closes and errAbandoned when ctx ends. hashicorp/raft can leave a future
// that was handed in during Shutdown unanswered; nothing here may wait on
// one forever.
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.done:
		return ErrClosed
	case <-ctx.Done():
		return errAbandoned
	}
}

// awaitLeadership returns nil once this node serves as leader, a
// *NotLeaderError when another node leads, and waits while nobody does.
func (n *Node) awaitLeadership(ctx context.Context) error {
	if n.closed.Load() {
		return ErrClosed
	}
	var timer *time.Timer
	for {
		ch := n.LeadershipChanged()
		if n.IsLeader() {
			return nil
		}
		leader := n.Leader()
		if leader != "" && leader != n.cfg.NodeID {
			return n.notLeader()
		}
		if timer == nil {
			timer = time.NewTimer(n.cfg.LeaderWait)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			return n.notLeader()
		case <-ctx.Done():
			return n.notLeader()
		case <-n.done:
			return ErrClosed
		}
	}
}

func (n *Node) notLeader() error {
	leader := n.Leader()
	if leader == n.cfg.NodeID {
		leader = "" // we are leader but not yet serving: say election in progress
	}
	return &NotLeaderError{Group: n.name, LeaderID: leader}
}

// Bootstrap founds the group with exactly servers, unless it has state
// already (then it does nothing).
func (n *Node) Bootstrap(servers []raft.Server) error {
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("partition %s: bootstrap: %w", n.name, err)
	}
	return nil
}

// Configuration returns the group's current servers.
func (n *Node) Configuration() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := n.await(context.Background(), f); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

// ConfigurationCommitted is Configuration, and whether that configuration
// is committed (applied here): a leader's latest one may not be yet, and a
// later leader may not have it.
func (n *Node) ConfigurationCommitted() ([]raft.Server, bool, error) {
	f := n.raft.GetConfiguration()
	if err := n.await(context.Background(), f); err != nil {
		return nil, false, err
	}
	return f.Configuration().Servers, f.Index() <= n.raft.AppliedIndex(), nil
}

// AddVoter adds or updates a voting member; only the leader can.
func (n *Node) AddVoter(id, addr string) error {
	return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, n.cfg.ApplyTimeout).Error()
}

// AddNonvoter adds a member that receives the log but does not vote (or
// leaves a voter as it is); only the leader can.
func (n *Node) AddNonvoter(id, addr string) error {
	return n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, n.cfg.ApplyTimeout).Error()
}

// DemoteVoter makes a voter a non-voter; only the leader can.
func (n *Node) DemoteVoter(id string) error {
	return n.raft.DemoteVoter(raft.ServerID(id), 0, n.cfg.ApplyTimeout).Error()
}

// LastIndex is the index of the last entry in this member's log.
func (n *Node) LastIndex() uint64 { return n.raft.LastIndex() }

// TransferLeadershipTo hands leadership to the given voter, if this node leads.
func (n *Node) TransferLeadershipTo(id, addr string) error {
	if n.raft.State() != raft.Leader {
		return nil
	}
	return n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr)).Error()
}

// RemoveServer removes a member; only the leader can.
func (n *Node) RemoveServer(id string) error {
	return n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout).Error()
}

// TransferLeadership hands leadership to another voter, if this node leads.
func (n *Node) TransferLeadership() error {
	if n.raft.State() != raft.Leader {
		return nil
	}
	return n.raft.LeadershipTransfer().Error()
}

// Close stops the group member and closes its stores. It does not hand off
// leadership; call TransferLeadership first for a graceful stop.
//
// hashicorp/raft's Shutdown waits for every goroutine of the group, and one
// may be blocked in an RPC to a peer that never answers (up to the
// transport's timeout, again for each such peer); Close waits for it at
// most ShutdownWait and then returns ErrShutdownTimeout, leaving the store
// open (a goroutine still running may write to it) for the process to exit.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := n.awaitShutdown()
	n.raft.DeregisterObserver(n.observer)
	close(n.done)
	n.wg.Wait()
	n.trans.shut()
	n.trans.Close()
	if errors.Is(err, ErrShutdownTimeout) {
		return err
	}
	if n.store.close != nil {
		if cerr := n.store.close(); err == nil {
			err = cerr
		}
	}
	return err
}

// ShutdownWait bounds how long Close waits for hashicorp/raft to stop.
const ShutdownWait = 5 * time.Second

// ErrShutdownTimeout reports that a group's Raft did not stop within
// ShutdownWait; its store was left open.
var ErrShutdownTimeout = errors.New("partition: raft did not stop in time")

func (n *Node) awaitShutdown() error {
	done := make(chan error, 1)
	f := n.raft.Shutdown()
	go func() { done <- f.Error() }()
	t := time.NewTimer(ShutdownWait)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("partition %s: %w (%v)", n.name, ErrShutdownTimeout, ShutdownWait)
	}
}
