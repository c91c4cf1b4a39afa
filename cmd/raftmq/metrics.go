package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"raftmq/bodystore"
)

// setupMetrics gives the node its own Prometheus registry (never the
// library's global one): the Go runtime and process collectors, the log
// store's fsync histogram fed by every Raft group, the body cache's
// counters, and, through
// httpapi.Config.Registry, the broker's families served on /metrics.
func (m *Main) setupMetrics() error {
	reg := prometheus.NewRegistry()
	fsync := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "raftmq_log_fsync_duration_seconds",
		Help:    "Time of one durable write of a Raft log (all groups of this node).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100 µs .. 3.3 s
	})
	free := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "raftmq_disk_free_bytes",
		Help: "Free space of the data directory's file system, read once a second.",
	}, func() float64 {
		if m.node == nil {
			return 0
		}
		return float64(m.node.DiskFree())
	})
	low := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "raftmq_disk_low",
		Help: "1 while free space is below the watermark (--disk-min-free, --disk-min-free-percent): produce to this node's partitions is refused.",
	}, func() float64 {
		if m.node != nil && m.node.DiskLow() {
			return 1
		}
		return 0
	})
	cs := []prometheus.Collector{fsync, free, low, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	for _, c := range append(cs, bodyCacheMetrics(m.Cluster.Raft.BodyCache)...) {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	m.Cluster.Raft.SyncObserver = func(d time.Duration) { fsync.Observe(d.Seconds()) }
	m.HTTP.Registry = reg
	return nil
}

// bodyCacheMetrics reads the node's body cache (nil when it is off: the
// families are then served at zero).
func bodyCacheMetrics(c *bodystore.Cache) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "raftmq_body_cache_hits_total",
			Help: "Message bodies read for deliveries from the body cache (all partitions of this node).",
		}, func() float64 { return float64(c.Stats().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "raftmq_body_cache_misses_total",
			Help: "Message bodies read for deliveries from disk because the body cache did not hold them.",
		}, func() float64 { return float64(c.Stats().Misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "raftmq_body_cache_bytes",
			Help: "Memory the body cache holds, bodies and per-entry overhead (at most --body-cache-bytes).",
		}, func() float64 { return float64(c.Stats().Bytes) }),
	}
}
