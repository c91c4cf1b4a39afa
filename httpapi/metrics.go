package httpapi

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"raftmq/cluster"
)

// MetricsPath serves the Prometheus text format when Config.Registry is set.
const MetricsPath = "/metrics"

// MetricsSource is what /metrics reads from the cluster at each scrape;
// *cluster.Node implements it. A broker that does not (tests) gets only the
// HTTP and message counters.
type MetricsSource interface {
	PartitionMetrics() []cluster.PartitionMetrics
	RaftMetrics() []cluster.RaftMetrics
	NodeStates() map[string]int
}

// metrics holds the series the HTTP layer records itself and the handler of
// GET /metrics.
type metrics struct {
	serve     fasthttp.RequestHandler
	duration  *prometheus.HistogramVec
	delivered *prometheus.CounterVec
	acked     *prometheus.CounterVec
	series    seriesCap
}

// maxMessageSeries bounds the (project, queue, group) label sets of the
// delivered and acked counters. Queues and groups come and go and a
// counter's series outlives them, so without a bound a client creating and
// deleting queues would grow the registry, and every scrape, for ever.
// Beyond it a new label set is counted under project, queue and group
// "_other".
const maxMessageSeries = 10000

// otherSeries is the label value of the label sets beyond the bound.
const otherSeries = "_other"

// seriesCap admits label sets up to max and folds the rest into one.
type seriesCap struct {
	mu   sync.Mutex
	max  int
	seen map[[3]string]struct{}
}

func (c *seriesCap) labels(project, queue, group string) (string, string, string) {
	k := [3]string{project, queue, group}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[k]; ok {
		return project, queue, group
	}
	if len(c.seen) >= c.max {
		return otherSeries, otherSeries, otherSeries
	}
	c.seen[k] = struct{}{}
	return project, queue, group
}

// newMetrics registers raftmq's families on reg. src may be nil.
func newMetrics(reg *prometheus.Registry, src MetricsSource) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "raftmq_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by door (dms, rocketmq, node), operation and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"door", "op", "code"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftmq_messages_delivered_total",
			Help: "Messages this node handed to consumers (both doors, dead letters included).",
		}, []string{"project", "queue", "group"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftmq_messages_acked_total",
			Help: "Acknowledgements this node applied, by outcome (success or fail).",
		}, []string{"project", "queue", "group", "status"}),
		series: seriesCap{max: maxMessageSeries, seen: map[[3]string]struct{}{}},
	}
	cs := []prometheus.Collector{m.duration, m.delivered, m.acked}
	if src != nil {
		cs = append(cs, &clusterCollector{src: src})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.serve = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return m, nil
}

// observe records one answered request.
func (m *metrics) observe(rc *fasthttp.RequestCtx, start time.Time) {
	door, op := classify(string(rc.Method()), string(rc.Path()), rc.QueryArgs().Peek("trans"))
	m.duration.WithLabelValues(door, op, strconv.Itoa(rc.Response.StatusCode())).Observe(time.Since(start).Seconds())
}

// countingBroker counts deliveries and acknowledgements on their way
// through the broker, whichever door asked.
type countingBroker struct {
	Broker
	m *metrics
}

func groupName(q cluster.Queue, id string) string {
	if g, ok := q.Group(id); ok {
		return g.Name
	}
	return id
}

func (b countingBroker) Consume(ctx context.Context, q cluster.Queue, groupID string, req cluster.ConsumeRequest) ([]cluster.Delivery, error) {
	ds, err := b.Broker.Consume(ctx, q, groupID, req)
	if len(ds) > 0 {
		p, qn, g := b.m.series.labels(q.Project, q.Name, groupName(q, groupID))
		b.m.delivered.WithLabelValues(p, qn, g).Add(float64(len(ds)))
	}
	return ds, err
}

func (b countingBroker) Ack(ctx context.Context, q cluster.Queue, groupID string, deadLetter bool, entries []cluster.AckEntry) (cluster.AckOutcome, error) {
	out, err := b.Broker.Ack(ctx, q, groupID, deadLetter, entries)
	if err == nil {
		p, qn, g := b.m.series.labels(q.Project, q.Name, groupName(q, groupID))
		if out.Success > 0 {
			b.m.acked.WithLabelValues(p, qn, g, "success").Add(float64(out.Success))
		}
		if out.Fail > 0 {
			b.m.acked.WithLabelValues(p, qn, g, "fail").Add(float64(out.Fail))
		}
	}
	return out, err
}

// Descriptions of the series read from the cluster at each scrape.
var (
	descMessages = prometheus.NewDesc("raftmq_queue_messages",
		"Messages of a group in a partition this node leads, by state (ready, inflight, deadletter).",
		[]string{"project", "queue", "group", "partition", "state"}, nil)
	descOldest = prometheus.NewDesc("raftmq_queue_oldest_ready_age_seconds",
		"Age of the oldest message ready for a group in a partition this node leads (0 when none).",
		[]string{"project", "queue", "group", "partition"}, nil)
	descProduced = prometheus.NewDesc("raftmq_messages_produced_total",
		"Messages ever produced to the partitions of a queue this node leads.",
		[]string{"project", "queue"}, nil)
	descDeadLettered = prometheus.NewDesc("raftmq_messages_deadlettered_total",
		"Messages ever dead-lettered by a group, in the partitions of the queue this node leads.",
		[]string{"project", "queue", "group"}, nil)
	descLeader = prometheus.NewDesc("raftmq_raft_leader",
		"1 when this node leads the Raft group, else 0.", []string{"group"}, nil)
	descTerm = prometheus.NewDesc("raftmq_raft_term",
		"Current Raft term of this node's member of the group.", []string{"group"}, nil)
	descCommit = prometheus.NewDesc("raftmq_raft_commit_index",
		"Highest log index this member knows committed.", []string{"group"}, nil)
	descApplied = prometheus.NewDesc("raftmq_raft_applied_index",
		"Highest log index this member applied.", []string{"group"}, nil)
	descNodes = prometheus.NewDesc("raftmq_cluster_nodes",
		"Nodes of the cluster as this node sees them, by state.", []string{"state"}, nil)
)

// clusterCollector turns the cluster's figures into series at scrape time.
type clusterCollector struct{ src MetricsSource }

// Describe implements prometheus.Collector.
func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descOldest, descProduced, descDeadLettered, descLeader, descTerm, descCommit, descApplied, descNodes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectQueues(ch, time.Now())
	for _, r := range c.src.RaftMetrics() {
		leader := 0.0
		if r.Leader {
			leader = 1
		}
		ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leader, r.Group)
		ch <- prometheus.MustNewConstMetric(descTerm, prometheus.GaugeValue, float64(r.Term), r.Group)
		ch <- prometheus.MustNewConstMetric(descCommit, prometheus.GaugeValue, float64(r.CommitIndex), r.Group)
		ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(r.AppliedIndex), r.Group)
	}
	for state, n := range c.src.NodeStates() {
		ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(n), state)
	}
}

// collectQueues writes the per-partition series, and the per-queue
// counters summed over the partitions this node leads.
func (c *clusterCollector) collectQueues(ch chan<- prometheus.Metric, now time.Time) {
	type qk struct{ project, queue string }
	type gk struct{ project, queue, group string }
	produced := map[qk]float64{}
	deadLettered := map[gk]float64{}
	for _, p := range c.src.PartitionMetrics() {
		part := strconv.Itoa(p.Partition)
		produced[qk{p.Project, p.Queue}] += float64(p.Produced)
		for _, g := range p.Groups {
			deadLettered[gk{p.Project, p.Queue, g.Group}] += float64(g.DeadLettered)
			for state, v := range map[string]int64{"ready": g.Ready, "inflight": g.InFlight, "deadletter": g.DeadLetters} {
				ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(v), p.Project, p.Queue, g.Group, part, state)
			}
			age := 0.0
			if g.OldestReadyAt > 0 {
				age = max(now.Sub(time.UnixMilli(g.OldestReadyAt)).Seconds(), 0)
			}
			ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, p.Project, p.Queue, g.Group, part)
		}
	}
	for k, v := range produced {
		ch <- prometheus.MustNewConstMetric(descProduced, prometheus.CounterValue, v, k.project, k.queue)
	}
	for k, v := range deadLettered {
		ch <- prometheus.MustNewConstMetric(descDeadLettered, prometheus.CounterValue, v, k.project, k.queue, k.group)
	}
}

// enableMetrics registers the families on reg and counts deliveries and
// acknowledgements through the broker. A nil reg leaves metrics off.
func (s *Server) enableMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	src, _ := s.broker.(MetricsSource)
	m, err := newMetrics(reg, src)
	if err != nil {
		return fmt.Errorf("httpapi: metrics: %w", err)
	}
	s.metrics = m
	s.broker = countingBroker{Broker: s.broker, m: m}
	return nil
}

// serveMetrics answers GET /metrics.
func (s *Server) serveMetrics(rc *fasthttp.RequestCtx) error {
	s.metrics.serve(rc)
	return nil
}
