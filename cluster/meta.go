package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/transport"
	"raftmq/partition"
)

// addressBook resolves Raft server ids to the addresses gossip reports, so a
// node that comes back on another address is still reached.
type addressBook struct{ n *Node }

func (a addressBook) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if string(id) == a.n.cfg.NodeID {
		return raft.ServerAddress(a.n.cfg.RaftAddr), nil
	}
	if m, ok := a.n.members.Member(string(id)); ok && m.RaftAddr != "" {
		return a.n.peerAddr(string(id), m.RaftAddr), nil
	}
	return "", fmt.Errorf("cluster: no address for node %s", id)
}

// every runs fn now and then whenever one of the channels from chans fires or
// interval passes, until the node stops. fn returns false to stop early.
func (n *Node) every(interval time.Duration, chans func() []<-chan struct{}, fn func() bool) {
	defer n.wg.Done()
	for {
		var cs []<-chan struct{}
		if chans != nil {
			cs = chans()
		}
		if !fn() {
			return
		}
		t := time.NewTimer(interval)
		wake := make(chan struct{})
		done := make(chan struct{})
		for _, c := range cs {
			go func() {
				select {
				case <-c:
					select {
					case wake <- struct{}{}:
					case <-done:
					}
				case <-done:
				}
			}()
		}
		select {
		case <-n.stop:
			t.Stop()
			close(done)
			return
		case <-t.C:
		case <-wake:
			t.Stop()
		}
		close(done)
	}
}

// joinLoop joins the gossip pool through --join and the peers remembered from
// an earlier run, and keeps trying while this node sees no other member.
func (n *Node) joinLoop() {
	n.every(time.Second, nil, func() bool {
		if len(n.members.Members()) > 1 {
			return true
		}
		self := n.members.addr
		var addrs []string
		for _, a := range slices.Concat(n.cfg.Join, n.members.knownPeers()) {
			// Joining oneself is useless and can block memberlist's push-pull.
			if a != self && a != n.cfg.GossipAddr && !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			return true
		}
		if _, err := n.members.Join(addrs); err != nil {
			n.log.Debug("gossip join", "err", err)
		}
		return true
	})
}

// bootstrapLoop founds the metadata group when --bootstrap-expect nodes are
// seen and none of them belongs to a cluster yet: the node with the lowest id
// among the first N bootstraps with exactly those N (as Consul's
// bootstrap_expect). Every other node waits to be added by the leader.
func (n *Node) bootstrapLoop() {
	n.every(time.Second, func() []<-chan struct{} { return []<-chan struct{}{n.members.Changed(), n.meta.LeadershipChanged()} }, func() bool {
		if n.meta.Leader() != "" || n.hasMetaState() {
			n.members.SetJoined()
			return n.meta.Leader() == "" // keep watching until a leader is seen
		}
		if n.cfg.BootstrapExpect <= 1 {
			return true
		}
		var alive []Member
		for _, m := range n.members.Members() {
			if m.ID != n.cfg.NodeID && m.Joined {
				return true // a cluster exists: wait to be added
			}
			if m.Alive && m.RaftAddr != "" {
				alive = append(alive, m)
			}
		}
		if len(alive) < n.cfg.BootstrapExpect {
			return true
		}
		founders := alive[:n.cfg.BootstrapExpect]
		if founders[0].ID != n.cfg.NodeID {
			return true
		}
		servers := make([]raft.Server, len(founders))
		for i, m := range founders {
			servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: transport.WithInc(m.RaftAddr, raftInc(m))}
		}
		n.log.Info("bootstrapping the metadata group", "servers", len(servers))
		if err := n.meta.Bootstrap(servers); err != nil {
			n.log.Error("bootstrap", "err", err)
		}
		return true
	})
}

func (n *Node) hasMetaState() bool {
	servers, err := n.meta.Configuration()
	return err == nil && len(servers) > 0
}

// keyLoop makes sure the catalogue holds a handler key: the first metadata
// leader draws one and commits it; every node then signs with the same key.
func (n *Node) keyLoop() {
	n.every(time.Second, func() []<-chan struct{} { return []<-chan struct{}{n.meta.LeadershipChanged()} }, func() bool {
		if n.cat.Key() != nil {
			return false
		}
		if !n.meta.IsLeader() {
			return true
		}
		key := make([]byte, 32)
		rand.Read(key)
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Raft.ApplyTimeout)
		defer cancel()
		if _, err := n.proposeMetaLocal(ctx, &catalogue.Command{Op: catalogue.OpSetKey, Key: key}); err != nil {
			n.log.Warn("setting the handler key failed; retrying", "err", err)
		}
		return true
	})
}

// proposeMeta commits a catalogue command through the metadata leader: here
// when this node leads, else forwarded in one hop (untilLeader's loop).
func (n *Node) proposeMeta(ctx context.Context, cmd *catalogue.Command) (catalogue.Result, error) {
	if err := cmd.Validate(); err != nil {
		return catalogue.Result{}, err
	}
	var res catalogue.Result
	err := n.untilLeader(ctx, n.meta.LeadershipChanged, func(t leaderTry) (string, error) {
		leader := n.metaTarget(t)
		var err error
		switch {
		case leader == n.cfg.NodeID:
			if res, err = n.proposeMetaLocal(ctx, cmd); err == nil {
				n.reconcile()
			}
		case leader != "":
			res, err = n.forwardMeta(ctx, leader, cmd)
		default:
			err = fmt.Errorf("%w: no metadata leader", errNoLeaderYet)
		}
		return leader, err
	})
	return res, err
}

// metaTarget is the node a catalogue request goes to: the hinted leader,
// else the one this node's member of the metadata group knows, unless that
// is the node that has just failed to answer.
func (n *Node) metaTarget(t leaderTry) string {
	if t.hint != "" && t.hint != n.cfg.NodeID {
		return t.hint
	}
	if l := n.meta.Leader(); l != t.avoid {
		return l
	}
	return ""
}

// forwardMeta sends a catalogue command to the metadata leader, then makes
// this node's catalogue catch up, so that the caller's next request through
// this node sees what it just created.
func (n *Node) forwardMeta(ctx context.Context, leader string, cmd *catalogue.Command) (catalogue.Result, error) {
	b, err := json.Marshal(cmd)
	if err != nil {
		return catalogue.Result{}, err
	}
	var a metaAnswer
	if err := n.callWatched(ctx, leader, rpcMeta, b, &a, n.meta); err != nil {
		return catalogue.Result{}, err
	}
	_ = n.syncCatalogue(ctx)
	return catalogue.Result{Queue: a.Queue, Groups: a.Groups}, nil
}

// proposeMetaLocal proposes on this node's member of the metadata group.
func (n *Node) proposeMetaLocal(ctx context.Context, cmd *catalogue.Command) (catalogue.Result, error) {
	if err := cmd.Validate(); err != nil {
		return catalogue.Result{}, err
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return catalogue.Result{}, fmt.Errorf("cluster: encode %s: %w", cmd.Op, err)
	}
	resp, err := n.meta.Propose(ctx, b)
	if err != nil {
		var nl *partition.NotLeaderError
		if errors.As(err, &nl) {
			return catalogue.Result{}, err
		}
		return catalogue.Result{}, unavailable(err)
	}
	res, ok := resp.(catalogue.Result)
	if !ok {
		return catalogue.Result{}, fmt.Errorf("cluster: unexpected catalogue result %T", resp)
	}
	return res, res.Err
}

// syncCatalogue waits until this node has applied everything the metadata
// leader had applied when asked. A node that does not know a queue yet calls
// it before answering 404; when the leader cannot be asked it returns
// ErrUnavailable, never a guess.
func (n *Node) syncCatalogue(ctx context.Context) error {
	var idx uint64
	local := false
	err := n.untilLeader(ctx, n.meta.LeadershipChanged, func(t leaderTry) (string, error) {
		leader := n.metaTarget(t)
		switch {
		case leader == n.cfg.NodeID && n.meta.IsLeader():
			local = true // a serving leader has applied every committed entry
			return leader, nil
		case leader != "" && leader != n.cfg.NodeID:
			// The question changes nothing: any failure may be retried,
			// and a leader silent for a read attempt is asked no longer.
			rctx, cancel := context.WithTimeout(ctx, n.readAttempt())
			defer cancel()
			return leader, retryable(n.call(rctx, leader, rpcMetaIndex, nil, &idx))
		}
		return leader, fmt.Errorf("%w: no serving metadata leader", errNoLeaderYet)
	})
	if err != nil || local {
		return err
	}
	return n.waitCatalogue(ctx, idx)
}

// waitCatalogue waits up to 2 s until the local catalogue has applied idx,
// then reconciles the local replicas.
func (n *Node) waitCatalogue(ctx context.Context, idx uint64) error {
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		ch := n.cat.Changed()
		if n.cat.AppliedIndex() >= idx {
			break
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("%w: catalogue not caught up", ErrUnavailable)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
	n.reconcile()
	return nil
}

// catchUpLoop marks the node caught up once its catalogue has applied what
// the metadata leader had when the node started (or it leads): only then it
// reports ready, so a restarted node never answers from a stale catalogue.
func (n *Node) catchUpLoop() {
	n.every(500*time.Millisecond, func() []<-chan struct{} { return []<-chan struct{}{n.meta.LeadershipChanged()} }, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Raft.LeaderWait)
		defer cancel()
		if n.syncCatalogue(ctx) == nil {
			n.caughtUp.Store(true)
			return false
		}
		return true
	})
}

// Ready reports whether the node can serve its requests: it has caught up
// with the catalogue, holds the handler key and was admitted under its
// incarnation (identity.go), and the metadata group and
// every partition the catalogue places on this node have a leader this node
// knows (itself only once it serves). While a group is electing, requests
// that need it would wait or answer 503, so the node says so.
func (n *Node) Ready() bool {
	if !n.caughtUp.Load() || n.cat.Key() == nil || !n.admitted() || !n.knowsLeader(n.meta) {
		return false
	}
	for _, p := range n.cat.Placements() {
		if !slices.Contains(p.Replicas, n.cfg.NodeID) {
			continue
		}
		r, ok := n.host.Get(p.ID)
		if !ok || !n.knowsLeader(r.Node) {
			return false
		}
	}
	return true
}

// knowsLeader reports whether this node's member of a group knows a leader
// that serves: another node, or this one once its barrier has completed.
func (n *Node) knowsLeader(g *partition.Node) bool {
	l := g.Leader()
	return l != "" && (l != n.cfg.NodeID || g.IsLeader())
}

// HandlerKey is the cluster-wide handler signing key.
func (n *Node) HandlerKey() ([]byte, bool) {
	k := n.cat.Key()
	return k, k != nil
}

// MaxQueuesPerProject is the queue quota.
func (n *Node) MaxQueuesPerProject() int { return n.cfg.MaxQueuesPerProject }
