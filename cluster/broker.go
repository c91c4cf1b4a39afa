package cluster

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"raftmq/cluster/catalogue"
	"raftmq/fsm"
	"raftmq/partition"
)

// This file holds the broker operations: the catalogue verbs and message
// traffic, as the HTTP layer calls them.

// CreateQueue commits a new queue and starts this node's replicas of its
// partitions before it returns, so that the queue is usable at once.
func (n *Node) CreateQueue(ctx context.Context, project string, spec QueueSpec) (Queue, error) {
	parts := n.cfg.Partitions
	if spec.Mode == ModeFIFO {
		parts = 1
	}
	q := Queue{
		ID: newUUID(), Project: project, Name: spec.Name, Description: spec.Description, Mode: spec.Mode,
		Redrive: spec.Redrive, MaxConsumeCount: spec.MaxConsumeCount, RetentionHours: spec.RetentionHours,
		Created: time.Now().UnixMilli(), Partitions: parts,
	}
	if q.Mode == "" {
		q.Mode = ModeNormal
	}
	if spec.RetentionPolicy != RetentionTime {
		q.RetentionPolicy = spec.RetentionPolicy // the default is kept as "", as before the policy existed
	}
	replicas, addrs := n.place(parts)
	res, err := n.proposeMeta(ctx, &catalogue.Command{Op: catalogue.OpCreateQueue, Queue: &q, Replicas: replicas, Addrs: addrs, Limit: n.cfg.MaxQueuesPerProject})
	if err != nil {
		return Queue{}, err
	}
	n.reconcile()
	return res.Queue, nil
}

// ListQueues returns the project's queues in creation order.
func (n *Node) ListQueues(ctx context.Context, project string) ([]Queue, error) {
	return n.cat.Queues(project), nil
}

// GetQueue returns one queue of the project. A queue this node does not
// know yet may have just been created through another node: it catches up
// with the metadata leader before it answers ErrQueueNotFound.
func (n *Node) GetQueue(ctx context.Context, project, queueID string) (Queue, error) {
	if q, ok := n.cat.Queue(project, queueID); ok {
		return q, nil
	}
	if err := n.syncCatalogue(ctx); err != nil {
		return Queue{}, err
	}
	if q, ok := n.cat.Queue(project, queueID); ok {
		return q, nil
	}
	return Queue{}, ErrQueueNotFound
}

// GetGroup returns the queue that holds group groupID. A group this node
// does not know yet may have just been created through another node: it
// catches up with the metadata leader before it answers ErrGroupNotFound.
func (n *Node) GetGroup(ctx context.Context, project, queueID, groupID string) (Queue, error) {
	if q, ok := n.cat.Queue(project, queueID); ok {
		if _, ok := q.Group(groupID); ok {
			return q, nil
		}
	}
	if err := n.syncCatalogue(ctx); err != nil {
		return Queue{}, err
	}
	q, ok := n.cat.Queue(project, queueID)
	if !ok {
		return Queue{}, ErrQueueNotFound
	}
	if _, ok := q.Group(groupID); !ok {
		return Queue{}, ErrGroupNotFound
	}
	return q, nil
}

// DeleteQueue removes the queue, its groups and its partitions.
func (n *Node) DeleteQueue(ctx context.Context, project, queueID string) error {
	_, err := n.proposeMeta(ctx, &catalogue.Command{Op: catalogue.OpDeleteQueue, Project: project, QueueID: queueID})
	if err != nil {
		return err
	}
	n.reconcile()
	return nil
}

// CreateGroups creates every named group or none.
func (n *Node) CreateGroups(ctx context.Context, project, queueID string, names []string) ([]Group, error) {
	now := time.Now().UnixMilli()
	groups := make([]Group, len(names))
	for i, name := range names {
		groups[i] = Group{ID: "g-" + newUUID(), Name: name, Created: now}
	}
	res, err := n.proposeMeta(ctx, &catalogue.Command{Op: catalogue.OpCreateGroups, Project: project, QueueID: queueID, Groups: groups, Limit: n.cfg.MaxGroupsPerQueue})
	if err != nil {
		return nil, err
	}
	n.registerGroups(ctx, project, queueID, res.Groups)
	return res.Groups, nil
}

// registerGroups makes new groups of a queue with the acked retention
// policy known to each of its partitions (an Ack without items creates a
// group's state, at the oldest retained message), so that from then on no
// message leaves before they have acknowledged it. Best effort, like
// DeleteGroup's Forget: a partition that misses it learns of a group at its
// first consume, and until then may let go of messages the group has not
// seen, which API.md allows for a group created later.
func (n *Node) registerGroups(ctx context.Context, project, queueID string, groups []Group) {
	q, err := n.GetQueue(ctx, project, queueID)
	if err != nil || q.RetentionPolicy != RetentionAcked {
		return
	}
	for i := range q.Partitions {
		for _, g := range groups {
			if _, err := n.partitionCall(ctx, q, i, &fsm.Ack{Group: fsm.GroupID(g.ID)}); err != nil {
				n.log.Warn("registering new group", "partition", catalogue.PartitionID(q.ID, i), "group", g.ID, "err", err)
			}
		}
	}
}

// DeleteGroup removes a group, then drops its progress and dead letters from
// the queue's partitions (best effort: a partition that misses the Forget
// keeps state nobody can reach any more).
func (n *Node) DeleteGroup(ctx context.Context, project, queueID, groupID string) error {
	q, err := n.GetQueue(ctx, project, queueID)
	if err != nil {
		return err
	}
	if _, err := n.proposeMeta(ctx, &catalogue.Command{Op: catalogue.OpDeleteGroup, Project: project, QueueID: queueID, GroupID: groupID}); err != nil {
		return err
	}
	for i := range q.Partitions {
		if _, err := n.partitionCall(ctx, q, i, &fsm.Forget{Group: fsm.GroupID(groupID)}); err != nil {
			n.log.Warn("forgetting deleted group", "partition", catalogue.PartitionID(q.ID, i), "group", groupID, "err", err)
		}
	}
	return nil
}

// QueueStats sums the queue's counters over its partitions, each read from
// its leader (partitionStats).
func (n *Node) QueueStats(ctx context.Context, q Queue) (QueueStats, error) {
	as, err := n.allPartitionStats(ctx, q, "")
	if err != nil {
		return QueueStats{}, err
	}
	var st QueueStats
	for _, a := range as {
		st.Produced += a.Produced
	}
	return st, nil
}

// GroupStats sums a group's counters over the queue's partitions, each read
// from its leader (partitionStats).
func (n *Node) GroupStats(ctx context.Context, q Queue, groupID string) (fsm.GroupStats, error) {
	as, err := n.allPartitionStats(ctx, q, groupID)
	if err != nil {
		return fsm.GroupStats{}, err
	}
	var sum fsm.GroupStats
	for _, a := range as {
		g := a.Group
		sum.Produced += g.Produced
		sum.Consumed += g.Consumed
		sum.Available += g.Available
		sum.ProducedDeadLetters += g.ProducedDeadLetters
		sum.AvailableDeadLetters += g.AvailableDeadLetters
	}
	return sum, nil
}

// allPartitionStats reads every partition's counters at once; it fails when
// one partition cannot be read.
func (n *Node) allPartitionStats(ctx context.Context, q Queue, group string) ([]statsAnswer, error) {
	out := make([]statsAnswer, q.Partitions)
	errs := make([]error, q.Partitions)
	var wg sync.WaitGroup
	for i := range q.Partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = n.partitionStats(ctx, q, i, group)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// partitionStats reads a partition's counters from its leader, after the
// leader confirmed it still leads (partition.Node.VerifyLeader): a
// linearizable read, so a read that starts after a produce or an ack was
// answered counts it. A follower's state may lag by the entries in flight,
// so followers are never read: while no leader can be reached the answer is
// ErrUnavailable.
func (n *Node) partitionStats(ctx context.Context, q Queue, i int, group string) (statsAnswer, error) {
	pid := catalogue.PartitionID(q.ID, i)
	var a statsAnswer
	err := n.onPartitionLeader(ctx, q, i, func(r *partition.Replica, target string) error {
		if r != nil {
			var err error
			a, err = leaderStats(ctx, r, group)
			return err
		}
		body, _ := json.Marshal(statsRequest{Partition: pid, Group: group, Leader: true})
		var view leaderView
		if lr, ok := n.host.Get(pid); ok {
			view = lr
		}
		// A read changes nothing: any failure may be retried, and a leader
		// that does not answer within readAttempt is asked no longer.
		rctx, cancel := context.WithTimeout(ctx, n.readAttempt())
		defer cancel()
		return retryable(n.callWatched(rctx, target, rpcStats, body, &a, watchOf(view)))
	})
	if err != nil {
		return statsAnswer{}, unavailable(err)
	}
	return a, nil
}

// leaderStats reads r's counters once r confirmed it leads.
func leaderStats(ctx context.Context, r *partition.Replica, group string) (statsAnswer, error) {
	var a statsAnswer
	if err := r.VerifyLeader(ctx); err != nil {
		return a, err
	}
	now := r.Now()
	r.Read(func(s *fsm.State) {
		a.Produced = s.Produced()
		a.Group = s.StatsAt(fsm.GroupID(group), now)
	})
	return a, nil
}

// Produce stores msgs in one partition, so that a request's messages are
// stored all or none. The partition is chosen by the first message's
// sharding key when it has one (the same key always lands on the same
// partition, which ordered consumption needs), round-robin otherwise.
func (n *Node) Produce(ctx context.Context, q Queue, msgs []fsm.Message) ([]MessageRef, error) {
	var i int
	if len(msgs) > 0 && msgs[0].Key != "" {
		i = keyPartition(msgs[0].Key, q.Partitions)
	} else {
		i = n.pickPartition(q)
	}
	if err := n.admitProduce(q, i); err != nil {
		return nil, err
	}
	if n.cfg.UnsafeAckBeforeCommit {
		return n.unsafeProduce(q, i, msgs), nil
	}
	out, err := n.partitionCall(ctx, q, i, &fsm.Enqueue{Messages: msgs})
	if err != nil {
		return nil, err
	}
	res, ok := out.(fsm.EnqueueResult)
	if !ok {
		return nil, fmt.Errorf("cluster: unexpected result %T", out)
	}
	refs := make([]MessageRef, res.Count)
	for k := range refs {
		refs[k] = MessageRef{Partition: i, Offset: res.FirstOffset + uint64(k)}
	}
	return refs, nil
}

// unsafeAckDelay is how long UnsafeAckBeforeCommit holds acknowledged
// messages in memory before proposing them: the window in which a crash loses
// them.
const unsafeAckDelay = time.Second

// unsafeProduce is the negative control of the fault suite (Config.
// UnsafeAckBeforeCommit, test only): it acknowledges msgs before they are
// proposed, and proposes them unsafeAckDelay later. The offsets it returns
// are placeholders.
func (n *Node) unsafeProduce(q Queue, i int, msgs []fsm.Message) []MessageRef {
	own := make([]fsm.Message, len(msgs)) // the request's buffers are reused once we answer
	for k, m := range msgs {
		own[k] = m
		own[k].Body, own[k].Attributes, own[k].Props = bytes.Clone(m.Body), bytes.Clone(m.Attributes), bytes.Clone(m.Props)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		select {
		case <-time.After(unsafeAckDelay):
		case <-n.stop:
			return // dropped: acknowledged, never stored
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Raft.ApplyTimeout)
		defer cancel()
		if _, err := n.partitionCall(ctx, q, i, &fsm.Enqueue{Messages: own}); err != nil {
			n.log.Warn("unsafe-ack-before-commit: acknowledged messages not stored", "partition", catalogue.PartitionID(q.ID, i), "count", len(own), "err", err)
		}
	}()
	return make([]MessageRef, len(msgs))
}

// ReplicaDigest is one local replica's applied index and state digest, for
// the fault suite's replica-divergence check (GET /v1/digests).
type ReplicaDigest struct {
	Partition    string `json:"partition"`
	AppliedIndex uint64 `json:"applied_index"`
	Digest       string `json:"digest"` // hex sha256 of the state snapshot at AppliedIndex
	Term         uint64 `json:"term"`   // the replica's Raft term: the fault suite counts elections with it
}

// Digests returns the applied index and state digest of every partition
// replica on this node, sorted by partition.
func (n *Node) Digests() []ReplicaDigest {
	out := []ReplicaDigest{}
	for _, id := range n.host.IDs() {
		r, ok := n.host.Get(id)
		if !ok {
			continue
		}
		idx, d := r.Digest()
		out = append(out, ReplicaDigest{Partition: id, AppliedIndex: idx, Digest: hex.EncodeToString(d[:]), Term: r.Term()})
	}
	return out
}

// Consume leases up to req.Max messages from the queue's partitions, starting
// at a rotating partition. With nothing ready it waits until a partition
// changes, a lease expires, or req.WaitMs passes.
//
// Readiness is read from the local replica, leader or follower, while it
// knows its leader: a partition whose local state shows nothing ready and no
// expired lease is not asked to lease, so an empty long poll writes nothing
// to any log. A partition with no local replica, or whose local replica knows
// no leader (an election, or this node no longer hears its group, so its
// state may be stale), is always asked, and polled while waiting; but not
// once the request holds messages or another partition could not be reached,
// so that one election does not hold up what is ready elsewhere.
func (n *Node) Consume(ctx context.Context, q Queue, groupID string, req ConsumeRequest) ([]Delivery, error) {
	deadline := time.Now().Add(time.Duration(req.WaitMs) * time.Millisecond)
	start := int(n.rr.Add(1) % uint64(q.Partitions))
	g := fsm.GroupID(groupID)
	rq := fsm.ReadyQuery{DeadLetter: req.DeadLetter, Tags: req.Tags, Ordered: req.Ordered}
	// A lease that found something ready but returned nothing still made
	// progress (it settled filtered messages or set aside delayed ones), and
	// may have made later messages reachable: look again at once, a few
	// times, rather than wait.
	again := 0
	// declined[i] is the latest lease expiry that looked past here while
	// the leader of partition i, asked to lease, found nothing: the leader's
	// clock is behind this node's. Expiries up to it are left to the
	// leader's housekeeping, whose settling wakes this poll (Changed);
	// asking again before that would only write empty leases.
	declined := map[int]int64{}
	for {
		n.consumePasses.Add(1)
		waits := make([]<-chan struct{}, 0, q.Partitions)
		poll := false
		var out []Delivery
		var lastErr error
		var wakeAt time.Time // the nearest lease expiry or due time, on this host's clock
		emptyLease := false
		budget, left := req.MaxBytes, req.Max
		for _, i := range n.consumeOrder(q, start) {
			r, isLocal := n.host.Get(catalogue.PartitionID(q.ID, i))
			known := isLocal && r.Leader() != ""
			if isLocal && !known && (len(out) > 0 || lastErr != nil) {
				continue
			}
			readyNow, expired := false, int64(0)
			if known {
				waits = append(waits, r.Changed()) // taken before looking: no lost wake-up
				now := r.Now()                     // the stamp clock, which lease expiries are in
				taken := time.Now()
				r.Read(func(s *fsm.State) {
					q := rq
					q.Now, q.Policy = now, r.Policy()
					readyNow = s.Ready(g, q)
					wake := func(at int64, ok, lease bool) {
						switch {
						case !ok:
						case at > now:
							if w := taken.Add(time.Duration(at-now) * time.Millisecond); wakeAt.IsZero() || w.Before(wakeAt) {
								wakeAt = w
							}
						case lease && at <= declined[i]:
							// left to the leader's housekeeping (see declined)
						case lease:
							expired = at
						default:
							readyNow = true
						}
					}
					at, ok := s.NextExpiry(g, req.DeadLetter)
					wake(at, ok, true)
					if !req.DeadLetter {
						at, ok = s.NextDue(g) // delayed messages: wake when the first is due
						wake(at, ok, false)
					}
				})
				if !readyNow && expired == 0 {
					continue
				}
			} else {
				poll = true
			}
			res, err := n.partitionCall(ctx, q, i, &fsm.Lease{Group: g, Max: left, MaxBytes: budget, AckWaitMs: req.AckWaitMs,
				DeadLetter: req.DeadLetter, Tags: req.Tags, Ordered: req.Ordered})
			if err != nil {
				lastErr = err
				continue
			}
			lr, _ := res.(fsm.LeaseResult)
			if len(lr.Deliveries) == 0 && known {
				if readyNow {
					emptyLease = true
				} else {
					declined[i] = expired
				}
			}
			for _, d := range lr.Deliveries {
				out = append(out, Delivery{Partition: i, Delivery: d})
				budget -= d.Message.Size()
				left--
			}
			if left == 0 || budget <= 0 {
				break
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if lastErr != nil {
			// A partition that could not lease may hold ready messages: say
			// so (503, retry) rather than answer "nothing there".
			return nil, lastErr
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return []Delivery{}, nil
		}
		if emptyLease && again < 3 {
			again++
			continue
		}
		again = 0
		if !wakeAt.IsZero() {
			wait = min(wait, max(time.Until(wakeAt), time.Millisecond))
		}
		if poll || len(waits) == 0 {
			wait = min(wait, remotePollInterval)
			waits = append(waits, nil)
		}
		if !waitAny(ctx, waits, wait) {
			return []Delivery{}, nil
		}
	}
}

// consumeOrder is the order in which a consume visits q's partitions: those
// this node leads first (they lease without a forwarding hop, and the ack
// that follows will be local too), then those whose leader it knows or that
// it holds no replica of, then those whose local replica knows no leader
// (asking them may wait for an election); each part rotated by start so
// that consumers spread over partitions.
func (n *Node) consumeOrder(q Queue, start int) []int {
	tier := func(i int) int {
		r, ok := n.host.Get(catalogue.PartitionID(q.ID, i))
		switch {
		case !ok:
			return 1
		case r.IsLeader():
			return 0
		case r.Leader() != "":
			return 1
		}
		return 2
	}
	order := make([]int, 0, q.Partitions)
	tiers := make([]int, q.Partitions)
	for i := range tiers {
		tiers[i] = tier(i)
	}
	for t := range 3 {
		for k := range q.Partitions {
			if i := (start + k) % q.Partitions; tiers[i] == t {
				order = append(order, i)
			}
		}
	}
	return order
}

// keyPartition maps a sharding key to a partition: FNV-1a, modulo the
// partition count. Part of the produce contract (a key's messages stay in
// one partition): never change it for existing queues.
func keyPartition(key string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(partitions))
}

// QueueByName returns the project's queue with that name. A queue this node
// does not know yet may have just been created through another node: it
// catches up with the metadata leader before it answers ErrQueueNotFound.
func (n *Node) QueueByName(ctx context.Context, project, name string) (Queue, error) {
	find := func() (Queue, bool) {
		for _, q := range n.cat.Queues(project) {
			if q.Name == name {
				return q, true
			}
		}
		return Queue{}, false
	}
	if q, ok := find(); ok {
		return q, nil
	}
	if err := n.syncCatalogue(ctx); err != nil {
		return Queue{}, err
	}
	if q, ok := find(); ok {
		return q, nil
	}
	return Queue{}, ErrQueueNotFound
}

// EnsureGroup returns the queue's group with that name, creating it when it
// does not exist (the RocketMQ door creates groups on first use). A group
// created meanwhile through another node is found after catching up with the
// metadata leader. Over the quota it returns ErrGroupQuota.
func (n *Node) EnsureGroup(ctx context.Context, q Queue, name string) (Queue, Group, error) {
	find := func(q Queue) (Group, bool) {
		for _, g := range q.Groups {
			if g.Name == name {
				return g, true
			}
		}
		return Group{}, false
	}
	if g, ok := find(q); ok {
		return q, g, nil
	}
	_, err := n.CreateGroups(ctx, q.Project, q.ID, []string{name})
	if err != nil && !errors.Is(err, ErrGroupExists) {
		return q, Group{}, err
	}
	if err := n.syncCatalogue(ctx); err != nil {
		return q, Group{}, err
	}
	q2, ok := n.cat.Queue(q.Project, q.ID)
	if !ok {
		return q, Group{}, ErrQueueNotFound
	}
	if g, ok := find(q2); ok {
		return q2, g, nil
	}
	return q2, Group{}, ErrGroupNotFound
}

// remotePollInterval is how often a long poll looks again at partitions this
// node holds no replica of (it gets no change signal from them).
const remotePollInterval = 250 * time.Millisecond

// waitAny waits until one channel is closed (true), or d passes or ctx ends (false
// only for ctx). A timeout returns true so the caller looks again.
func waitAny(ctx context.Context, chans []<-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	done := make(chan struct{})
	defer close(done)
	woke := make(chan struct{}, 1)
	for _, c := range chans[1:] {
		go func() {
			select {
			case <-c:
				select {
				case woke <- struct{}{}:
				default:
				}
			case <-done:
			}
		}()
	}
	select {
	case <-chans[0]:
	case <-woke:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// Ack applies an ordered ack: consecutive entries of one partition go to that
// partition as one command, in request order. After the first failure every
// later entry is sent as released, so its live delivery is redelivered now.
// A run whose partition could not be reached fails its entries with reason
// "unavailable"; a run whose outcome is unknown makes the whole ack
// ErrUnavailable.
func (n *Node) Ack(ctx context.Context, q Queue, groupID string, deadLetter bool, entries []AckEntry) (AckOutcome, error) {
	out := AckOutcome{FailureIndex: -1}
	stopped := false
	fail := func(idx int, reason string) {
		if !stopped {
			stopped = true
			out.FailureIndex = idx
			out.Reason = reason
		}
	}
	for i := 0; i < len(entries); {
		if p := entries[i].Partition; p < 0 || p >= q.Partitions {
			entries[i].Invalid = "handler_invalid" // signed by us, yet names no partition of this queue
		}
		if entries[i].Invalid != "" {
			fail(i, entries[i].Invalid)
			i++
			continue
		}
		j := i + 1
		for j < len(entries) && entries[j].Invalid == "" && entries[j].Partition == entries[i].Partition {
			j++
		}
		items := make([]fsm.AckItem, 0, j-i)
		for _, e := range entries[i:j] {
			items = append(items, e.Item)
		}
		res, err := n.ackRun(ctx, q, entries[i].Partition, fsm.Ack{Group: fsm.GroupID(groupID), DeadLetter: deadLetter, Items: items, Released: stopped})
		switch {
		case err != nil && (i == 0 || !notApplied(err)):
			// Nothing to report yet, or a run whose outcome is unknown (its
			// leader lost leadership after appending it, or the answer was
			// lost): it may have been applied, so its entries cannot be
			// reported as failed. The whole request is unavailable (503):
			// a client that sends it again finds which handlers are spent.
			return AckOutcome{}, unavailable(err)
		case err != nil:
			fail(i, "unavailable")
		case !stopped:
			out.Success += res.Success
			if res.Fail > 0 {
				fail(i+res.Success, reasonName(res.Reason))
			}
		}
		i = j
	}
	out.Fail = len(entries) - out.Success
	return out, nil
}

// notApplied reports whether a partitionCall error says for sure that the
// command was not applied: no leader could be found, or none could be
// reached.
func notApplied(err error) bool {
	var nl *partition.NotLeaderError
	return errors.Is(err, errNotSent) || errors.As(err, &nl)
}

func (n *Node) ackRun(ctx context.Context, q Queue, part int, a fsm.Ack) (fsm.AckResult, error) {
	res, err := n.partitionCall(ctx, q, part, &a)
	if err != nil {
		return fsm.AckResult{}, err
	}
	ar, ok := res.(fsm.AckResult)
	if !ok {
		return fsm.AckResult{}, fmt.Errorf("cluster: unexpected result %T", res)
	}
	return ar, nil
}

// reasonName is the API.md name of an ack failure reason.
func reasonName(r fsm.Reason) string {
	switch r {
	case fsm.ReasonStatusFail:
		return "status_fail"
	case fsm.ReasonExpired:
		return "handler_expired"
	case fsm.ReasonAlreadyAcked:
		return "already_acknowledged"
	case fsm.ReasonSuperseded:
		return "superseded"
	case fsm.ReasonReleased:
		return "status_fail"
	}
	return "handler_invalid"
}
