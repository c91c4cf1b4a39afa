package partition

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/raft"

	"raftmq/bodystore"
	"raftmq/fsm"
)

// Spec describes one partition replica to run on this node.
type Spec struct {
	ID     string     // "<queue_id>/<index>"
	Policy fsm.Policy // the queue's immutable policy, stamped into every command
	// Servers founds the group when this replica has no state yet. Every
	// founding replica must be given the same list.
	Servers []raft.Server
}

// Replica is this node's member of one queue partition's Raft group: a Node
// running an fsm.FSM. It stamps the leader's clock and the queue policy into
// every command it proposes.
type Replica struct {
	*Node
	spec   Spec
	fsm    *fsm.FSM
	bodies *bodystore.Store // the message bodies, in dir/bodies

	claims *leaseClaims
	gate   *produceGate
}

// OpenReplica starts the replica under dir, its log in dir/raft.db (bolt).
// Host runs replicas on the node's shared log instead.
func OpenReplica(spec Spec, dir string, cfg RaftConfig, trans raft.Transport) (*Replica, error) {
	return openReplica(spec, dir, cfg, trans, openBoltStore(cfg.NoSync))
}

func openReplica(spec Spec, dir string, cfg RaftConfig, trans raft.Transport, open storeOpener) (*Replica, error) {
	dir = filepath.Clean(dir)
	bodies, err := bodystore.Open(filepath.Join(dir, "bodies"), bodystore.Options{SegmentBytes: cfg.BodySegmentBytes, Cache: cfg.BodyCache})
	if err != nil {
		return nil, fmt.Errorf("partition %s: %w", spec.ID, err)
	}
	f := fsm.NewDetachedFSM(spec.ID, cfg.logger(), bodies)
	if cfg.inlineBodies {
		f = fsm.NewFSM(spec.ID, cfg.logger())
	}
	wrap := func(s raft.SnapshotStore) raft.SnapshotStore { return &bodySnapshots{SnapshotStore: s, bodies: bodies} }
	n, err := openNode(spec.ID, dir, cfg, f, trans, spec.Servers, open, wrap)
	if err != nil {
		bodies.Close()
		return nil, err
	}
	return &Replica{Node: n, spec: spec, fsm: f, bodies: bodies, claims: newLeaseClaims(), gate: newProduceGate(cfg.Pacing, nil)}, nil
}

// Close stops the replica's Raft member, then closes its body store (what is
// buffered is written, not synced: the Raft log holds it).
func (r *Replica) Close() error {
	err := r.Node.Close()
	if errors.Is(err, ErrShutdownTimeout) {
		// A Raft goroutine may still apply entries, writing bodies.
		return err
	}
	if cerr := r.bodies.Close(); err == nil {
		err = cerr
	}
	return err
}

// ID is the partition id.
func (r *Replica) ID() string { return r.spec.ID }

// Policy is the queue policy the replica stamps into commands.
func (r *Replica) Policy() fsm.Policy { return r.spec.Policy }

func (r *Replica) header() fsm.Header {
	return fsm.Header{Now: r.Now(), Policy: r.spec.Policy}
}

func (r *Replica) propose(ctx context.Context, cmd fsm.Command) (any, error) {
	switch c := cmd.(type) {
	case *fsm.Lease:
		if r.IsLeader() {
			release, empty, err := r.claims.claim(ctx, c, func() (n int64, exact bool) {
				q := fsm.ReadyQuery{Now: c.Now, DeadLetter: c.DeadLetter, Policy: r.spec.Policy, Tags: c.Tags, Ordered: c.Ordered}
				r.Read(func(s *fsm.State) { n, exact = s.Backlog(c.Group, q) })
				return n, exact
			})
			switch {
			case err != nil:
				return nil, r.notLeader()
			case empty:
				return fsm.LeaseResult{}, nil
			}
			defer release()
		}
		if !c.DeadLetter {
			defer r.gate.enter(c.Group)()
		}
	case *fsm.Ack:
		if !c.DeadLetter {
			defer r.gate.enter(c.Group)()
		}
	case *fsm.Enqueue:
		if r.IsLeader() {
			r.gate.admit(ctx, r.backlog)
		}
	}
	b, err := fsm.Encode(cmd)
	if err != nil {
		return nil, fmt.Errorf("partition %s: encode: %w", r.spec.ID, err)
	}
	res, err := r.Propose(ctx, b)
	if lr, ok := res.(fsm.LeaseResult); ok && err == nil {
		// The state returns deliveries without their bodies: read them
		// here, outside the state's lock.
		if err := r.fsm.FillBodies(lr.Deliveries); err != nil {
			return nil, fmt.Errorf("partition %s: %w", r.spec.ID, err)
		}
	}
	return res, err
}

// backlog is group id's ready backlog in the normal lane, as pacing reads it.
func (r *Replica) backlog(id fsm.GroupID) (n int64, exact bool) {
	q := fsm.ReadyQuery{Now: r.Now(), Policy: r.spec.Policy}
	r.Read(func(s *fsm.State) { n, exact = s.Backlog(id, q) })
	return n, exact
}

func result[T fsm.Result](r *Replica, resp any) (T, error) {
	res, ok := resp.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("partition %s: unexpected result %T", r.spec.ID, resp)
	}
	return res, nil
}

// Do stamps the leader's clock and the queue policy into cmd, proposes it and
// returns its result. It is how commands forwarded from other nodes are
// applied; the typed methods below are shorthands.
func (r *Replica) Do(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	*cmd.Hdr() = r.header()
	resp, err := r.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	res, ok := resp.(fsm.Result)
	if !ok {
		return nil, fmt.Errorf("partition %s: unexpected result %T", r.spec.ID, resp)
	}
	return res, nil
}

// Enqueue appends msgs; on success every message is committed on a majority
// of the group's replicas.
func (r *Replica) Enqueue(ctx context.Context, msgs []fsm.Message) (fsm.EnqueueResult, error) {
	resp, err := r.propose(ctx, &fsm.Enqueue{Header: r.header(), Messages: msgs})
	if err != nil {
		return fsm.EnqueueResult{}, err
	}
	return result[fsm.EnqueueResult](r, resp)
}

// Lease leases ready messages to a group.
func (r *Replica) Lease(ctx context.Context, l fsm.Lease) (fsm.LeaseResult, error) {
	l.Header = r.header()
	resp, err := r.propose(ctx, &l)
	if err != nil {
		return fsm.LeaseResult{}, err
	}
	return result[fsm.LeaseResult](r, resp)
}

// Ack applies an ordered ack.
func (r *Replica) Ack(ctx context.Context, a fsm.Ack) (fsm.AckResult, error) {
	a.Header = r.header()
	resp, err := r.propose(ctx, &a)
	if err != nil {
		return fsm.AckResult{}, err
	}
	return result[fsm.AckResult](r, resp)
}

// Tick settles expired leases and applies retention.
func (r *Replica) Tick(ctx context.Context) (fsm.TickResult, error) {
	resp, err := r.propose(ctx, &fsm.Tick{Header: r.header()})
	if err != nil {
		return fsm.TickResult{}, err
	}
	return result[fsm.TickResult](r, resp)
}

// Forget drops a deleted group's state.
func (r *Replica) Forget(ctx context.Context, g fsm.GroupID) error {
	_, err := r.propose(ctx, &fsm.Forget{Header: r.header(), Group: g})
	return err
}

// Read runs fn on this replica's state under a read lock. On a follower the
// state may lag the leader's.
func (r *Replica) Read(fn func(s *fsm.State)) { r.fsm.Read(fn) }

// Changed returns a channel closed when the state next changes in a way that
// may make messages ready.
func (r *Replica) Changed() <-chan struct{} { return r.fsm.Changed() }

// Digest is the sha256 of the replica's state snapshot and the applied index
// it was taken at.
func (r *Replica) Digest() (uint64, [32]byte) {
	// One read lock: taking a second one inside the first could wait behind
	// Apply's pending write lock forever.
	return r.fsm.Digest()
}
