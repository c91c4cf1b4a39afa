package cluster

import (
	"context"
	"fmt"
	"time"

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
	res, err := n.proposeMeta(ctx, &metaCommand{Op: opCreateQueue, Queue: &q, Replicas: n.place(parts), Limit: n.cfg.MaxQueuesPerProject})
	if err != nil {
		return Queue{}, err
	}
	n.reconcile()
	return res.Queue, nil
}

// place chooses the replica set of each of a new queue's partitions.
func (n *Node) place(parts int) [][]string {
	out := make([][]string, parts)
	for i := range out {
		out[i] = []string{n.cfg.NodeID}
	}
	return out
}

// ListQueues returns the project's queues in creation order.
func (n *Node) ListQueues(ctx context.Context, project string) ([]Queue, error) {
	return n.cat.queues(project), nil
}

// GetQueue returns one queue of the project.
func (n *Node) GetQueue(ctx context.Context, project, queueID string) (Queue, error) {
	q, ok := n.cat.queue(project, queueID)
	if !ok {
		return Queue{}, ErrQueueNotFound
	}
	return q, nil
}

// DeleteQueue removes the queue, its groups and its partitions.
func (n *Node) DeleteQueue(ctx context.Context, project, queueID string) error {
	_, err := n.proposeMeta(ctx, &metaCommand{Op: opDeleteQueue, Project: project, QueueID: queueID})
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
	res, err := n.proposeMeta(ctx, &metaCommand{Op: opCreateGroups, Project: project, QueueID: queueID, Groups: groups, Limit: n.cfg.MaxGroupsPerQueue})
	if err != nil {
		return nil, err
	}
	return res.Groups, nil
}

// DeleteGroup removes a group, then drops its progress and dead letters from
// the queue's partitions (best effort: a partition that misses the Forget
// keeps state nobody can reach any more).
func (n *Node) DeleteGroup(ctx context.Context, project, queueID, groupID string) error {
	q, ok := n.cat.queue(project, queueID)
	if !ok {
		return ErrQueueNotFound
	}
	if _, err := n.proposeMeta(ctx, &metaCommand{Op: opDeleteGroup, Project: project, QueueID: queueID, GroupID: groupID}); err != nil {
		return err
	}
	for i := range q.Partitions {
		if r, err := n.replica(q, i); err == nil {
			if err := r.Forget(ctx, fsm.GroupID(groupID)); err != nil {
				n.log.Warn("forgetting deleted group", "partition", r.ID(), "group", groupID, "err", err)
			}
		}
	}
	return nil
}

// QueueStats sums the queue's counters over its partitions.
func (n *Node) QueueStats(ctx context.Context, q Queue) (QueueStats, error) {
	var st QueueStats
	for i := range q.Partitions {
		r, err := n.replica(q, i)
		if err != nil {
			return QueueStats{}, err
		}
		r.Read(func(s *fsm.State) { st.Produced += s.Produced() })
	}
	return st, nil
}

// GroupStats sums a group's counters over the queue's partitions.
func (n *Node) GroupStats(ctx context.Context, q Queue, groupID string) (fsm.GroupStats, error) {
	var sum fsm.GroupStats
	for i := range q.Partitions {
		r, err := n.replica(q, i)
		if err != nil {
			return fsm.GroupStats{}, err
		}
		r.Read(func(s *fsm.State) {
			g := s.Stats(fsm.GroupID(groupID))
			sum.Produced += g.Produced
			sum.Consumed += g.Consumed
			sum.Available += g.Available
			sum.ProducedDeadLetters += g.ProducedDeadLetters
			sum.AvailableDeadLetters += g.AvailableDeadLetters
		})
	}
	return sum, nil
}

// Produce stores msgs in one partition, chosen round-robin, so that a
// request's messages are stored all or none.
func (n *Node) Produce(ctx context.Context, q Queue, msgs []fsm.Message) ([]MessageRef, error) {
	i := int(n.rr.Add(1) % uint64(q.Partitions))
	r, err := n.replica(q, i)
	if err != nil {
		return nil, err
	}
	res, err := r.Enqueue(ctx, msgs)
	if err != nil {
		return nil, unavailable(err)
	}
	refs := make([]MessageRef, res.Count)
	for k := range refs {
		refs[k] = MessageRef{Partition: i, Offset: res.FirstOffset + uint64(k)}
	}
	return refs, nil
}

// Consume leases up to req.Max messages from the queue's partitions, starting
// at a rotating partition. With nothing ready it waits until a partition
// changes, a lease expires, or req.WaitMs passes.
func (n *Node) Consume(ctx context.Context, q Queue, groupID string, req ConsumeRequest) ([]Delivery, error) {
	deadline := time.Now().Add(time.Duration(req.WaitMs) * time.Millisecond)
	start := int(n.rr.Add(1) % uint64(q.Partitions))
	g := fsm.GroupID(groupID)
	for {
		replicas := make([]*partition.Replica, q.Partitions)
		waits := make([]<-chan struct{}, 0, q.Partitions)
		for i := range q.Partitions {
			r, err := n.replica(q, i)
			if err != nil {
				return nil, err
			}
			replicas[i] = r
			waits = append(waits, r.Changed()) // taken before looking: no lost wake-up
		}
		var out []Delivery
		var lastErr error
		failed := 0
		nextExpiry := int64(0)
		budget, left := req.MaxBytes, req.Max
		for k := range q.Partitions {
			i := (start + k) % q.Partitions
			r := replicas[i]
			now := r.Now()
			var ready bool
			r.Read(func(s *fsm.State) {
				ready = s.HasReady(g, req.DeadLetter, r.Policy())
				if exp, ok := s.NextExpiry(g, req.DeadLetter); ok {
					if exp <= now {
						ready = true
					} else if nextExpiry == 0 || exp < nextExpiry {
						nextExpiry = exp
					}
				}
			})
			if !ready {
				continue
			}
			res, err := r.Lease(ctx, fsm.Lease{Group: g, Max: left, MaxBytes: budget, AckWaitMs: req.AckWaitMs, DeadLetter: req.DeadLetter})
			if err != nil {
				failed++
				lastErr = err
				continue
			}
			for _, d := range res.Deliveries {
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
		if failed > 0 {
			// A partition that could not lease may hold ready messages: say so
			// (503, retry) rather than answer "nothing there".
			return nil, unavailable(lastErr)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return []Delivery{}, nil
		}
		if nextExpiry > 0 {
			if d := time.Until(time.UnixMilli(nextExpiry)); d < wait {
				wait = max(d, time.Millisecond)
			}
		}
		if !waitAny(ctx, waits, wait) {
			return []Delivery{}, nil
		}
	}
}

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
		case err != nil && i == 0:
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

func (n *Node) ackRun(ctx context.Context, q Queue, part int, a fsm.Ack) (fsm.AckResult, error) {
	if part < 0 || part >= q.Partitions {
		return fsm.AckResult{}, fmt.Errorf("cluster: partition %d of queue %s out of range", part, q.ID)
	}
	r, err := n.replica(q, part)
	if err != nil {
		return fsm.AckResult{}, err
	}
	return r.Ack(ctx, a)
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
