package httpapi

import (
	"context"
	"fmt"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
)

// parseQueueSpec validates a create-queue body against API.md. Checks run
// field by field in the order name, description, queue_mode,
// redrive_policy, max_consume_count, retention_hours, retention_policy; the
// first failure is the answer.
func parseQueueSpec(body []byte) (cluster.QueueSpec, error) {
	o, err := parseObject(body)
	if err != nil {
		return cluster.QueueSpec{}, err
	}
	var spec cluster.QueueSpec

	name, _, err := o.stringField("name")
	if err != nil {
		return cluster.QueueSpec{}, err
	}
	if err := checkQueueName(name); err != nil {
		return cluster.QueueSpec{}, err
	}
	spec.Name = name

	desc, _, err := o.stringField("description")
	if err != nil {
		return cluster.QueueSpec{}, err
	}
	if err := checkDescription(desc); err != nil {
		return cluster.QueueSpec{}, err
	}
	spec.Description = desc

	mode, _, err := o.stringField("queue_mode")
	if err != nil {
		return cluster.QueueSpec{}, err
	}
	switch m := cluster.QueueMode(mode); m {
	case "":
		spec.Mode = cluster.ModeNormal
	case cluster.ModeNormal, cluster.ModeFIFO, cluster.ModeKafkaHA, cluster.ModeKafkaHT:
		spec.Mode = m
	default:
		return cluster.QueueSpec{}, malformed("queue_mode must be NORMAL, FIFO, KAFKA_HA or KAFKA_HT")
	}

	redrive, _, err := o.stringField("redrive_policy")
	if err != nil {
		return cluster.QueueSpec{}, err
	}
	switch redrive {
	case "", "disable":
	case "enable":
		if spec.Mode.Kafka() {
			return cluster.QueueSpec{}, malformed("redrive_policy enable is not available for %s queues", spec.Mode)
		}
		spec.Redrive = true
	default:
		return cluster.QueueSpec{}, malformed("redrive_policy must be enable or disable")
	}

	// max_consume_count is checked whenever it is sent, and kept only with
	// redrive (the catalogue holds 0 otherwise).
	mcc, present, err := o.intField("max_consume_count", minConsumeCount, maxConsumeCount, codeMaxConsumeCount)
	if err != nil {
		return cluster.QueueSpec{}, err
	}
	if spec.Redrive {
		if !present {
			return cluster.QueueSpec{}, badRequest(codeMaxConsumeCount, "max_consume_count is required when redrive_policy is enable")
		}
		spec.MaxConsumeCount = mcc
	}

	if !absent(o["retention_hours"]) && !spec.Mode.Kafka() {
		return cluster.QueueSpec{}, badRequest(codeRetentionMode, "retention_hours is only for KAFKA_HA and KAFKA_HT queues")
	}
	rh, _, err := o.intField("retention_hours", minRetentionHours, maxRetentionHours, codeRetentionRange)
	if err != nil {
		return cluster.QueueSpec{}, err
	}
	spec.RetentionHours = rh

	rp, err := parseRetentionPolicy(o)
	if err != nil {
		return cluster.QueueSpec{}, err
	}
	spec.RetentionPolicy = rp
	return spec, nil
}

// parseRetentionPolicy reads retention_policy, a raftmq extension: "time"
// (the default, also when absent: "") or "acked". Any other value, of any
// JSON type, is refused with its own code.
func parseRetentionPolicy(o jsonObject) (cluster.RetentionPolicy, error) {
	if absent(o["retention_policy"]) {
		return "", nil
	}
	v, _, err := o.stringField("retention_policy")
	if rp := cluster.RetentionPolicy(v); err == nil && (rp == cluster.RetentionTime || rp == cluster.RetentionAcked) {
		return rp, nil
	}
	return "", badRequest(codeRetentionPolicy, "retention_policy must be time or acked")
}

// queueJSON is a queue as DMS shows it.
type queueJSON struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	Description      string  `json:"description"`
	QueueMode        string  `json:"queue_mode"`
	Created          int64   `json:"created"`
	EffDate          int64   `json:"eff_date"`
	Reservation      int     `json:"reservation"` // retention in minutes
	MaxMsgSizeByte   int     `json:"max_msg_size_byte"`
	ProducedMessages int64   `json:"produced_messages"`
	GroupCount       int     `json:"group_count"`
	RetentionPolicy  string  `json:"retention_policy"` // raftmq extension: time or acked
	RedrivePolicy    *string `json:"redrive_policy,omitempty"`
	MaxConsumeCount  *int    `json:"max_consume_count,omitempty"`
}

// retentionPolicy is q's retention_policy as the API shows it ("time" for a
// queue created without one).
func retentionPolicy(q cluster.Queue) string {
	if q.RetentionPolicy == cluster.RetentionAcked {
		return string(cluster.RetentionAcked)
	}
	return string(cluster.RetentionTime)
}

func redrivePolicy(q cluster.Queue) string {
	if q.Redrive {
		return "enable"
	}
	return "disable"
}

// toQueueJSON renders q. With deadLetter it adds redrive_policy and
// max_consume_count (0 when redrive is off).
func toQueueJSON(q cluster.Queue, st cluster.QueueStats, deadLetter bool) queueJSON {
	j := queueJSON{
		ID:               q.ID,
		Name:             q.Name,
		Description:      q.Description,
		QueueMode:        string(q.Mode),
		Created:          q.Created,
		EffDate:          q.Created,
		Reservation:      defaultRetentionMinutes,
		MaxMsgSizeByte:   maxMessageBytes,
		ProducedMessages: st.Produced,
		GroupCount:       len(q.Groups),
		RetentionPolicy:  retentionPolicy(q),
	}
	if q.RetentionHours > 0 {
		j.Reservation = q.RetentionHours * 60
	}
	if deadLetter {
		rp, mcc := redrivePolicy(q), q.MaxConsumeCount
		j.RedrivePolicy, j.MaxConsumeCount = &rp, &mcc
	}
	return j
}

func (s *Server) createQueue(rc *fasthttp.RequestCtx, p pathParams) error {
	spec, err := parseQueueSpec(rc.PostBody())
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	q, err := s.broker.CreateQueue(ctx, p.project, spec)
	if err != nil {
		return err
	}
	s.writeJSON(rc, fasthttp.StatusCreated, struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}{q.ID, q.Name})
	return nil
}

func (s *Server) listQueues(rc *fasthttp.RequestCtx, p pathParams) error {
	dl, err := queryBool(rc.QueryArgs(), "include_deadletter")
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	qs, err := s.broker.ListQueues(ctx, p.project)
	if err != nil {
		return err
	}
	out := struct {
		Total  int         `json:"total"`
		Queues []queueJSON `json:"queues"`
	}{Total: len(qs), Queues: make([]queueJSON, 0, len(qs))}
	for _, q := range qs {
		st, err := s.broker.QueueStats(ctx, q)
		if err != nil {
			return fmt.Errorf("queue %s stats: %w", q.ID, err)
		}
		out.Queues = append(out.Queues, toQueueJSON(q, st, dl))
	}
	s.writeJSON(rc, fasthttp.StatusOK, out)
	return nil
}

func (s *Server) getQueue(rc *fasthttp.RequestCtx, p pathParams) error {
	dl, err := queryBool(rc.QueryArgs(), "include_deadletter")
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	q, err := s.lookupQueue(ctx, p)
	if err != nil {
		return err
	}
	st, err := s.broker.QueueStats(ctx, q)
	if err != nil {
		return err
	}
	s.writeJSON(rc, fasthttp.StatusOK, toQueueJSON(q, st, dl))
	return nil
}

func (s *Server) deleteQueue(rc *fasthttp.RequestCtx, p pathParams) error {
	if _, ok := parseUUID(p.queue); !ok {
		return errQueueNotFound
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	if err := s.broker.DeleteQueue(ctx, p.project, p.queue); err != nil {
		return err
	}
	rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// quotas answers GET /v1.0/{project_id}/quotas/dms.
func (s *Server) quotas(rc *fasthttp.RequestCtx, p pathParams) error {
	ctx, cancel := s.requestContext(0)
	defer cancel()
	qs, err := s.broker.ListQueues(ctx, p.project)
	if err != nil {
		return err
	}
	limit := s.broker.MaxQueuesPerProject()
	type resource struct {
		Type  string `json:"type"`
		Quota int    `json:"quota"`
		Used  int    `json:"used"`
		Min   int    `json:"min"`
		Max   int    `json:"max"`
	}
	var out struct {
		Quotas struct {
			Resources []resource `json:"resources"`
		} `json:"quotas"`
	}
	out.Quotas.Resources = []resource{{Type: "queue", Quota: limit, Used: len(qs), Min: 0, Max: limit}}
	s.writeJSON(rc, fasthttp.StatusOK, out)
	return nil
}

// lookupQueue finds the queue of the path. An id that is not a UUID cannot
// name a queue and is not found without asking the broker.
func (s *Server) lookupQueue(ctx context.Context, p pathParams) (cluster.Queue, error) {
	if _, ok := parseUUID(p.queue); !ok {
		return cluster.Queue{}, errQueueNotFound
	}
	return s.broker.GetQueue(ctx, p.project, p.queue)
}

// lookupGroup finds the group of the path in q; it returns the group's
// UUID as handlers carry it.
func (s *Server) lookupGroup(ctx context.Context, q cluster.Queue, id string) (cluster.Queue, cluster.Group, [16]byte, error) {
	u, ok := parseGroupID(id)
	if !ok {
		return q, cluster.Group{}, u, errGroupNotFound
	}
	if g, ok := q.Group(id); ok {
		return q, g, u, nil
	}
	// This node may not have applied the group's creation yet: the broker
	// asks the metadata leader before it says the group does not exist.
	q, err := s.broker.GetGroup(ctx, q.Project, q.ID, id)
	if err != nil {
		return q, cluster.Group{}, u, err
	}
	g, ok := q.Group(id)
	if !ok {
		return q, cluster.Group{}, u, errGroupNotFound
	}
	return q, g, u, nil
}
