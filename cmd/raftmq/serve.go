package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"raftmq/bodystore"
	"raftmq/cluster"
	"raftmq/httpapi"
	"raftmq/logging"
	"raftmq/partition"
)

// shutdownTimeout bounds a graceful stop (API.md: exit within 30 s).
const shutdownTimeout = 25 * time.Second

// unsafeAckFlag makes produce answer before commit: the negative control of
// the fault suite (docs/RELIABILITY.md). It is not listed by -h.
const unsafeAckFlag = "unsafe-ack-before-commit"

// unsafeClockFlag serves httpapi.ClockOffsetPath, which shifts the clock the
// node stamps into commands: the fault suite's clock nemesis (scenario T8).
// It is not listed by -h.
const unsafeClockFlag = "unsafe-test-clock"

// unsafeNoSyncFlag turns fsync off in every Raft log store: the negative
// control of the power-loss scenario (T6), which must then report loss.
const unsafeNoSyncFlag = "unsafe-no-sync"

// defaultBodyCacheBytes is --body-cache-bytes unless given: enough for the
// newest bodies of a busy node's partitions and a read-ahead per consumer.
const defaultBodyCacheBytes = 64 << 20

// maxBodyCacheBytes bounds --body-cache-bytes: a larger budget is a typo,
// not a machine's memory.
const maxBodyCacheBytes = 1 << 40

// Main is one `raftmq serve` process: flags, the cluster node and the HTTP
// server. End-to-end tests start nodes the same way.
type Main struct {
	Cluster     cluster.Config
	HTTP        httpapi.Config
	Credentials string
	TLS         tlsFiles
	// ClusterKeyFiles are the --cluster-key files; ParseFlags loads them
	// into Cluster.ClusterKeys.
	ClusterKeyFiles []string
	// PprofAddr, when set, serves net/http/pprof there (opt-in; bind it to
	// loopback: profiles reveal internals).
	PprofAddr string
	// GCPercent is the garbage collector's target (debug.SetGCPercent); the
	// GOGC environment variable, when set, wins. Message bodies are not on
	// the heap (they are in each partition's body store); the heap is mostly
	// long-lived message metadata (about 32 bytes a retained message) and
	// short-lived request buffers. 200 lets it grow to three times what is
	// live between collections: fewer collections than Go's 100, and a
	// backlog of a million messages stays within 300 MiB of memory, which
	// 400 does not.
	GCPercent int
	// BodyCacheBytes is the budget of the node's cache of message bodies,
	// shared by every partition (bodystore.Cache); 0 turns it off.
	BodyCacheBytes uint64
	// Log is --log-level and --log-format; Logger, when set (tests), wins.
	Log    logging.Config
	Logger *slog.Logger

	node *cluster.Node
	srv  *httpapi.Server
}

// NewMain returns a Main with the defaults of API.md §1.
func NewMain() *Main {
	return &Main{Cluster: cluster.DefaultConfig(), HTTP: httpapi.DefaultConfig(), GCPercent: 200, BodyCacheBytes: defaultBodyCacheBytes}
}

// ParseFlags reads flags from args; a flag not given on the command line is
// taken from RAFTMQ_<FLAG_IN_CAPS> when getenv returns one.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("raftmq serve", flag.ContinueOnError)
	c := &m.Cluster
	var join string
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "stable node identity")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "everything the node keeps")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "client and node-to-node HTTP address")
	fs.StringVar(&c.RaftAddr, "raft-addr", c.RaftAddr, "address of all Raft groups of this node")
	fs.StringVar(&c.GossipAddr, "gossip-addr", c.GossipAddr, "memberlist address, TCP and UDP")
	fs.StringVar(&c.AdvertiseHost, "advertise-host", "", "address other nodes use, when binding 0.0.0.0")
	fs.StringVar(&join, "join", "", "gossip addresses of nodes already in the cluster, comma separated")
	fs.IntVar(&c.BootstrapExpect, "bootstrap-expect", c.BootstrapExpect, "form a new cluster once N nodes are seen")
	fs.IntVar(&c.Partitions, "partitions", c.Partitions, "partitions of a new NORMAL queue")
	fs.Int64Var(&c.Raft.Pacing.Backlog, "pacing-backlog", c.Raft.Pacing.Backlog, "producer pacing: while a consumer group of a partition is busy (a lease or ack in Raft, or one ended less than 20 ms ago) and its ready backlog is at least this, produces to that partition wait until that is no longer so; 0 turns pacing off")
	fs.DurationVar(&c.Raft.Pacing.MaxHold, "pacing-max-hold", c.Raft.Pacing.MaxHold, "producer pacing: the longest one produce waits")
	fs.StringVar(&c.Raft.LogStore, "log-store", partition.LogStoreWAL, "partition log engine: wal (one shared log per node), bolt (a raft-boltdb file per partition) or raftwal (hashicorp/raft-wal per partition)")
	fs.StringVar(&m.Credentials, "credentials", "", "access keys of both doors and admin (*) keys (docs/SECURITY.md); without it authentication is off")
	keyFiles := (*clusterKeyFiles)(&m.ClusterKeyFiles)
	fs.Var(keyFiles, "cluster-key", "file of the cluster's shared key (raftmq keygen); give it twice to roll keys: the first sends, both are accepted. Without it node-to-node traffic is open")
	fs.DurationVar(&c.DeadNodeTimeout, "dead-node-timeout", c.DeadNodeTimeout, "how long a node stays dead before its replicas are rebuilt on other nodes (a Go duration)")
	fs.IntVar(&c.MaxQueuesPerProject, "max-queues-per-project", c.MaxQueuesPerProject, "queue quota per project")
	fs.IntVar(&c.MaxGroupsPerQueue, "max-groups-per-queue", c.MaxGroupsPerQueue, "consumer group quota per queue")
	fs.IntVar(&m.HTTP.MaxWaitingConsumers, "max-waiting-consumers", m.HTTP.MaxWaitingConsumers, "long polls waiting at once on this node")
	fs.Var((*byteSize)(&c.Disk.MinFreeBytes), "disk-min-free", "refuse produce (507) while the data directory's file system has less free space than this (KiB, MiB, GiB suffixes)")
	walSegment := byteSize(64 << 20)
	fs.Var(&walSegment, "wal-segment-size", "segment size of the partitions' shared log, 64KiB..1GiB (each segment is preallocated; a spare is kept ready)")
	fs.Var((*byteSize)(&m.BodyCacheBytes), "body-cache-bytes", "memory for the node's cache of message bodies, shared by all its partitions: the newest bodies written and those read ahead for consumers (KiB, MiB, GiB suffixes); 0 turns it off")
	fs.Float64Var(&c.Disk.MinFreePercent, "disk-min-free-percent", c.Disk.MinFreePercent, "refuse produce while free space is under this percentage of the file system (the larger of the two watermarks applies)")
	fs.IntVar(&m.HTTP.MaxConns, "max-conns", m.HTTP.MaxConns, "connections open at once on the HTTP port")
	fs.IntVar(&m.HTTP.MaxConnsPerIP, "max-conns-per-ip", m.HTTP.MaxConnsPerIP, "connections open at once from one IP on the HTTP port")
	fs.StringVar(&m.TLS.cert, "tls-cert", "", "PEM certificate (chain): serve the whole HTTP port over HTTPS only")
	fs.StringVar(&m.TLS.key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&m.TLS.ca, "tls-ca", "", "PEM CA bundle to verify peers' HTTPS (default: the system pool and this node's own certificate)")
	fs.StringVar(&m.PprofAddr, "pprof", "", "serve net/http/pprof on this address (off by default)")
	fs.IntVar(&m.GCPercent, "gc-percent", m.GCPercent, "garbage collection target percentage; GOGC, when set, wins")
	fs.StringVar(&m.Log.Level, "log-level", "info", "least severe log level written: debug, info, warn or error")
	fs.StringVar(&m.Log.Format, "log-format", "text", "log line format: text or json")
	// Test only, and left out of -h: the fault suite's negative control.
	fs.BoolVar(&c.UnsafeAckBeforeCommit, unsafeAckFlag, false, "TEST ONLY: answer produce before the messages are committed (loses acknowledged messages)")
	fs.BoolVar(&c.Raft.NoSync, unsafeNoSyncFlag, false, "TEST ONLY: never fsync the Raft logs (a power loss then loses acknowledged messages)")
	var testClock bool
	fs.BoolVar(&testClock, unsafeClockFlag, false, "TEST ONLY: serve "+httpapi.ClockOffsetPath+", which shifts the clock stamped into commands")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: raftmq serve [flags]\n\nEvery flag can also be set as RAFTMQ_<FLAG_IN_CAPS>.\n\nFlags:")
		printFlags(fs, unsafeAckFlag, unsafeClockFlag, unsafeNoSyncFlag)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || envErr != nil {
			return
		}
		key := "RAFTMQ_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(key); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", key, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	c.Raft.WALSegmentSize = int64(walSegment)
	if testClock {
		clk := newOffsetClock(time.Now)
		c.Raft.Clock = clk.Now
		m.HTTP.ClockControl = clk
	}
	keys, err := loadClusterKeys(m.ClusterKeyFiles)
	if err != nil {
		return err
	}
	c.ClusterKeys = keys
	if join != "" {
		for _, a := range strings.Split(join, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Join = append(c.Join, a)
			}
		}
	}
	if err := m.TLS.check(); err != nil {
		return err
	}
	if m.BodyCacheBytes > maxBodyCacheBytes {
		return fmt.Errorf("--body-cache-bytes %d is over 1TiB", m.BodyCacheBytes)
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := m.Log.Validate(); err != nil {
		return err
	}
	return m.HTTP.Validate()
}

// Run starts the node and serves until ctx ends, then shuts down gracefully:
// leadership is handed off, in-flight requests finish.
func (m *Main) Run(ctx context.Context) error {
	log := m.Logger
	if log == nil {
		var err error
		if log, err = logging.New(os.Stderr, m.Log); err != nil {
			return err
		}
	}
	m.Cluster.Logger = log
	m.HTTP.Logger = log
	if os.Getenv("GOGC") == "" && m.GCPercent > 0 {
		debug.SetGCPercent(m.GCPercent)
	}
	if m.Credentials == "" {
		log.Warn("AUTHENTICATION IS OFF (no --credentials file): anyone who reaches the HTTP port can create, read, consume and delete queues of every project through both doors and read /v1/cluster and /v1/digests; see docs/SECURITY.md",
			"http_addr", m.Cluster.HTTPAddr)
	} else {
		creds, err := httpapi.LoadCredentials(m.Credentials)
		if err != nil {
			return err
		}
		m.HTTP.Credentials = creds
		log.Info("authentication on", "credentials", m.Credentials, "access_keys", creds.Len())
	}
	if len(m.Cluster.ClusterKeys) == 0 {
		log.Warn("WARNING: no --cluster-key: node-to-node traffic is open; anyone who reaches the gossip, Raft or HTTP port can join the cluster, change its state and read its messages")
	} else {
		log.Info("cluster key on: gossip, Raft and node-to-node requests are authenticated and encrypted", "keys", len(m.Cluster.ClusterKeys))
	}

	if m.TLS.enabled() {
		server, client, err := m.TLS.load()
		if err != nil {
			return err
		}
		m.HTTP.TLS, m.Cluster.PeerTLS = server, client
		log.Info("HTTPS only on the HTTP port", "cert", m.TLS.cert, "ca", m.TLS.ca)
	} else {
		log.Warn("no --tls-cert: the HTTP port is plain HTTP; signatures hold but bodies and bearer tokens travel in clear")
	}

	if m.PprofAddr != "" {
		pl, err := net.Listen("tcp", m.PprofAddr)
		if err != nil {
			return fmt.Errorf("pprof listener: %w", err)
		}
		defer pl.Close()
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go http.Serve(pl, mux)
		log.Info("pprof listening", "addr", pl.Addr().String())
	}
	m.Cluster.Raft.BodyCache = bodystore.NewCache(int64(m.BodyCacheBytes))
	if err := m.setupMetrics(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	httpLn, err := net.Listen("tcp", m.Cluster.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	m.Cluster.HTTPAddr = httpLn.Addr().String()
	node, err := cluster.Open(m.Cluster, nil)
	if err != nil {
		httpLn.Close()
		return err
	}
	m.node = node
	srv, err := httpapi.New(m.HTTP, node)
	if err != nil {
		httpLn.Close()
		node.Close()
		return err
	}
	m.srv = srv
	if m.Cluster.UnsafeAckBeforeCommit {
		log.Warn("--" + unsafeAckFlag + " is set: produce answers before commit and acknowledged messages can be lost (test only)")
	}
	if m.Cluster.Raft.NoSync {
		log.Warn("--" + unsafeNoSyncFlag + " is set: Raft logs are never fsynced and a power loss loses acknowledged messages (test only)")
	}
	if m.HTTP.ClockControl != nil {
		log.Warn("--" + unsafeClockFlag + " is set: POST " + httpapi.ClockOffsetPath + "?ms=N shifts the clock this node stamps into leases and expiry (test only)")
	}
	log.Info("raftmq node started", "node_id", node.ID(), "http", m.Cluster.HTTPAddr, "raft", node.RaftAddr(), "data_dir", m.Cluster.DataDir)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(httpLn) }()
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		node.Close()
		return fmt.Errorf("http server: %w", err)
	case <-node.Left():
		log.Info("this node was decommissioned and left the cluster; stopping")
	case <-node.Failed():
		stopWithin(log, shutdownTimeout, func(sctx context.Context) error {
			return errors.Join(srv.Shutdown(sctx), node.Close())
		})
		return node.Err()
	}
	log.Info("shutting down")
	// Hand off leadership while still serving, so forwarded and retried
	// requests find the new leaders, then drain HTTP, then stop Raft.
	if stopWithin(log, shutdownTimeout, func(sctx context.Context) error {
		node.Handoff()
		return errors.Join(srv.Shutdown(sctx), node.Close())
	}) {
		log.Info("raftmq node stopped")
	}
	return nil
}

// stopWithin runs stop and waits for it at most d; it reports whether stop
// finished without error. A node that lost its quorum can keep hashicorp/raft
// busy with elections and RPCs to dead peers far longer than an
// orchestrator waits before SIGKILL; past d the process exits anyway, as a
// kill would: everything acknowledged is already on disk. The process exits
// 0 either way, since the state on disk is safe whatever did not close.
func stopWithin(log *slog.Logger, d time.Duration, stop func(context.Context) error) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stop(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("shutdown incomplete", "err", err)
			return false
		}
		return true
	case <-ctx.Done():
		log.Warn("shutdown did not finish in time; exiting anyway", "bound", d)
		return false
	}
}
