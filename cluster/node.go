package cluster

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/transport"
	"raftmq/partition"
)

// Config configures a node.
type Config struct {
	NodeID        string
	DataDir       string
	HTTPAddr      string // advertised to peers for forwarding
	RaftAddr      string // listen address of the shared Raft listener
	GossipAddr    string
	AdvertiseHost string // host peers use when the listen addresses are 0.0.0.0
	Join          []string
	// BootstrapExpect is how many nodes found a new cluster.
	BootstrapExpect     int
	Partitions          int // partitions of a new non-FIFO queue
	MaxQueuesPerProject int
	MaxGroupsPerQueue   int
	// FastGossip shrinks memberlist's timings (tests on loopback).
	FastGossip bool
	// UnsafeAckBeforeCommit is TEST ONLY, the fault suite's negative control
	// (docs/RELIABILITY.md): Produce answers at once and proposes the
	// messages a moment later in the background, so a crash loses messages
	// whose produce was acknowledged. Never set it in production.
	UnsafeAckBeforeCommit bool
	// ClusterKeys are the cluster's shared secrets (ClusterKeyLen bytes
	// each, at most two): the first is used to send, every one is
	// accepted, so keys roll without downtime. They authenticate and
	// encrypt gossip, every Raft connection and every node-to-node HTTP
	// request. None: open mode, where anyone who reaches the ports can
	// join, speak Raft and call the internal endpoints.
	ClusterKeys [][]byte
	// DeadNodeTimeout is how long a node stays dead (gossip finds it
	// failed) before its replicas are rebuilt on other nodes.
	DeadNodeTimeout time.Duration
	// MoveInterval spaces the metadata leader's replica-set changes
	// (repair, rebalancing, decommission): at most one per interval, and
	// one replica catching up at a time, so client traffic keeps its
	// latency.
	MoveInterval time.Duration
	// RaftHandshakeTimeout bounds an accepted Raft connection's whole
	// handshake (group header and, with a cluster key, authentication).
	RaftHandshakeTimeout time.Duration
	Raft                 partition.RaftConfig
	// Disk is the free-space watermark below which produce is refused.
	Disk   DiskLimits
	Logger *slog.Logger
	// PeerTLS, when not nil, makes node-to-node forwarding dial its peers'
	// HTTP ports over HTTPS and verify them with it (the peers serve HTTPS
	// only: raftmq serve --tls-cert/--tls-key/--tls-ca). Nil: plain HTTP.
	PeerTLS *tls.Config
}

// DefaultConfig returns the defaults of API.md §1.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		NodeID:               host,
		DataDir:              "./data",
		HTTPAddr:             "127.0.0.1:9000",
		RaftAddr:             "127.0.0.1:9001",
		GossipAddr:           "127.0.0.1:9002",
		BootstrapExpect:      1,
		Partitions:           3,
		MaxQueuesPerProject:  30,
		MaxGroupsPerQueue:    3,
		RaftHandshakeTimeout: transport.DefaultHandshakeTimeout,
		DeadNodeTimeout:      5 * time.Minute,
		MoveInterval:         time.Second,
		Raft:                 partition.DefaultRaftConfig(),
		Disk:                 DiskLimits{MinFreeBytes: DefaultDiskMinFreeBytes, MinFreePercent: DefaultDiskMinFreePercent},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.NodeID == "" || len(c.NodeID) > 64:
		return errors.New("cluster: node id must be 1..64 characters")
	case c.DataDir == "":
		return errors.New("cluster: empty data dir")
	case c.BootstrapExpect < 1:
		return errors.New("cluster: bootstrap-expect must be at least 1")
	case c.Partitions < 1 || c.Partitions > 64:
		return errors.New("cluster: partitions must be 1..64")
	case c.MaxQueuesPerProject < 1 || c.MaxGroupsPerQueue < 1:
		return errors.New("cluster: quotas must be at least 1")
	case c.RaftHandshakeTimeout <= 0:
		return errors.New("cluster: raft handshake timeout must be positive")
	case c.DeadNodeTimeout < 0 || c.MoveInterval < 0:
		return errors.New("cluster: dead-node timeout and move interval must not be negative")
	}
	if err := c.Disk.validate(); err != nil {
		return err
	}
	raftCfg := c.Raft
	raftCfg.NodeID = c.NodeID
	if err := raftCfg.Validate(); err != nil {
		return err
	}
	_, err := transport.NewKeyring(c.ClusterKeys)
	return err
}

// Node is one raftmq node: its membership in the gossip pool, its member of
// the metadata group, its partition replicas, and the Raft listener they
// share. It implements the broker operations the HTTP layer needs.
type Node struct {
	cfg     Config
	log     *slog.Logger
	mux     *transport.Mux
	raftL   net.Listener
	cat     *catalogue.Catalogue
	meta    *partition.Node
	host    *partition.Host
	members *membership
	peers   peers
	keys    *transport.Keyring // the cluster keys; nil in open mode
	// openKeys is, in open mode, the handler key as a keyring, made once
	// the catalogue holds the key (node-to-node requests are sealed with it).
	openKeys    atomic.Pointer[transport.Keyring]
	replay      *transport.ReplayCache
	rpcRefusals transport.LogLimiter

	rr atomic.Uint64 // round-robin cursor for produce and consume
	// leaders caches, for partitions this node holds no replica of, the
	// node that last carried out a forwarded step (partition id → node id).
	leaders sync.Map
	// consumePasses counts the passes consumes made over their queue's
	// partitions: how often long polls woke up.
	consumePasses atomic.Uint64
	caughtUp      atomic.Bool // the catalogue has caught up with the leader's once

	reconcileMu sync.Mutex
	// unwanted holds, per local replica the catalogue no longer places
	// here, when that was first seen (reconcile; under reconcileMu).
	unwanted map[string]time.Time
	// moves is the metadata leader's record of replicas it added and that
	// are still catching up (repair.go).
	moves     moveTracker
	started   time.Time
	left      chan struct{} // closed once this node has been removed: the process may exit
	leaveOnce sync.Once
	inc       string // this data directory's incarnation
	fresh     bool   // the data directory was empty at start: wait to be admitted (identity.go)
	stop      chan struct{}
	failed    chan struct{} // closed by fail: the node must stop
	disk      *diskGuard
	failErr   error
	failOnce  sync.Once
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// nodeIdentity is kept in the data directory so that a node restarted on it
// keeps its identity.
type nodeIdentity struct {
	NodeID string `json:"node_id"`
	// Inc is drawn once, when the data directory is created (older
	// directories get one at their next start).
	Inc string `json:"inc,omitempty"`
}

// Open starts the node. ln, when not nil, is used as the Raft listener
// instead of listening on cfg.RaftAddr.
func Open(cfg Config, ln net.Listener) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Raft.NodeID = cfg.NodeID
	cfg.Raft.Logger = log
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: data dir: %w", err)
	}
	fresh := freshDataDir(cfg.DataDir)
	inc, err := checkIdentity(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	if fresh {
		log.Info("empty data directory: a new incarnation; this node holds no replica until the cluster admits it", "inc", inc)
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.RaftAddr); err != nil {
			return nil, fmt.Errorf("cluster: raft listener: %w", err)
		}
	}
	adv, err := advertiseAddr(ln.Addr().String(), cfg.AdvertiseHost)
	if err != nil {
		ln.Close()
		return nil, err
	}
	httpAdv, err := advertiseAddr(cfg.HTTPAddr, cfg.AdvertiseHost)
	if err != nil {
		ln.Close()
		return nil, err
	}
	keys, err := transport.NewKeyring(cfg.ClusterKeys)
	if err != nil {
		ln.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, raftL: ln, keys: keys, replay: transport.NewReplayCache(time.Now(), transport.MaxReplayCache), cat: catalogue.New(log), stop: make(chan struct{}), failed: make(chan struct{}),
		unwanted: map[string]time.Time{}, started: time.Now(), left: make(chan struct{}), inc: inc, fresh: fresh}
	if n.cfg.DeadNodeTimeout == 0 {
		n.cfg.DeadNodeTimeout = 5 * time.Minute
	}
	if n.cfg.MoveInterval == 0 {
		n.cfg.MoveInterval = time.Second
	}
	n.peers.tls = cfg.PeerTLS
	n.peers.dial = max(n.electionTimeout(), minPeerDial)
	n.cfg.RaftAddr = adv.String()
	n.cfg.HTTPAddr = httpAdv.String()
	n.members, err = startMembership(membershipConfig{
		Self:       memberMeta{ID: cfg.NodeID, HTTPAddr: n.cfg.HTTPAddr, RaftAddr: n.cfg.RaftAddr, Inc: inc, RaftInc: true},
		GossipAddr: cfg.GossipAddr, Advertise: cfg.AdvertiseHost, DataDir: cfg.DataDir,
		Fast: cfg.FastGossip, Keys: keys, Log: log,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	n.mux, err = transport.NewMux(ln, transport.MuxConfig{Advertise: adv, ClusterKeys: cfg.ClusterKeys, HandshakeTimeout: cfg.RaftHandshakeTimeout, Incarnation: inc, Logger: log})
	if err != nil {
		n.members.Leave()
		ln.Close()
		return nil, err
	}

	metaTrans, err := n.transport("meta")
	if err != nil {
		n.members.Leave()
		n.mux.Close()
		return nil, err
	}
	var servers []raft.Server
	if cfg.BootstrapExpect == 1 {
		servers = []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(n.cfg.RaftAddr)}}
	}
	n.meta, err = partition.OpenNode("meta", filepath.Join(cfg.DataDir, "meta"), cfg.Raft, n.cat, metaTrans, servers)
	if err != nil {
		n.members.Leave()
		n.mux.Close()
		return nil, err
	}
	hostCfg := cfg.Raft
	hostCfg.OnLogFailure = func(err error) { n.fail(fmt.Errorf("cluster: the partitions' log cannot write: %w", err)) }
	n.host, err = partition.NewHost(filepath.Join(cfg.DataDir, "partitions"), hostCfg, n.transport)
	if err != nil {
		n.meta.Close()
		n.members.Leave()
		n.mux.Close()
		return nil, err
	}
	n.disk = newDiskGuard(cfg.Disk, cfg.DataDir)
	if _, err := n.disk.check(); err != nil {
		log.Warn("reading free disk space", "dir", cfg.DataDir, "err", err)
	}
	n.members.SetDiskLow(n.disk.low.Load())
	n.wg.Add(11)
	go n.diskLoop()
	go n.repairLoop()
	go n.replicaSetLoop()
	go n.leaveLoop()
	go n.catchUpLoop()
	go n.reconcileLoop()
	go n.keyLoop()
	go n.joinLoop()
	go n.bootstrapLoop()
	go n.metaMembersLoop()
	go n.balanceLoop()
	return n, nil
}

func writeFileSync(p string, b []byte) error {
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("cluster: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cluster: %w", err)
	}
	return f.Close()
}

// advertiseAddr turns a listen address into the one peers dial.
func advertiseAddr(listen, host string) (net.Addr, error) {
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if host != "" {
		h = host
	} else if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		return nil, fmt.Errorf("cluster: listening on %s needs --advertise-host", listen)
	}
	return net.ResolveTCPAddr("tcp", net.JoinHostPort(h, p))
}

func (n *Node) transport(group string) (raft.Transport, error) {
	l, err := n.mux.Layer(group)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		ServerAddressProvider: addressBook{n},
		Stream:                l,
		MaxPool:               3,
		Timeout:               10 * time.Second,
		Logger:                n.transportLogger(group),
	}), nil
}

// raftLog is where hashicorp/raft's own log lines go.
func (n *Node) raftLog() io.Writer {
	if n.cfg.Raft.RaftLog != nil {
		return n.cfg.Raft.RaftLog
	}
	return os.Stderr
}

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// RaftAddr is the advertised address of the shared Raft listener.
func (n *Node) RaftAddr() string { return n.cfg.RaftAddr }

// unavailable marks a Raft-level failure as ErrUnavailable, keeping the cause.
func unavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Handoff transfers the leadership of every group this node leads to
// another voter (best effort; a single-node group keeps it).
func (n *Node) Handoff() {
	n.host.TransferLeadership()
	_ = n.meta.TransferLeadership()
}

// Close stops the node: it hands off leadership first, then stops every group.
// Failed is closed when the node found it cannot go on safely (a replica's
// stored Raft state is corrupt, or its log failed a write or fdatasync);
// Err then says why. The process should stop:
// a node that refuses to run cannot vote on, or serve, state its disk
// changed.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err is why Failed closed, or nil.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}

func (n *Node) fail(err error) {
	n.failOnce.Do(func() {
		n.failErr = err
		n.log.Error("stopping: this node cannot run safely", "err", err)
		close(n.failed)
	})
}

func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.Handoff()
		close(n.stop)
		n.wg.Wait()
		// The partitions and the metadata group stop at once: each may
		// wait up to partition.ShutdownWait for peers that are gone.
		hostErr := make(chan error, 1)
		go func() { hostErr <- n.host.Close() }()
		metaErr := n.meta.Close()
		err = errors.Join(<-hostErr, metaErr, n.mux.Close())
		n.members.Leave()
	})
	return err
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
