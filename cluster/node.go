package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"raftmq/fsm"
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
	Raft                partition.RaftConfig
	Logger              *slog.Logger
}

// DefaultConfig returns the defaults of API.md §1.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		NodeID:              host,
		DataDir:             "./data",
		HTTPAddr:            "127.0.0.1:9000",
		RaftAddr:            "127.0.0.1:9001",
		GossipAddr:          "127.0.0.1:9002",
		BootstrapExpect:     1,
		Partitions:          3,
		MaxQueuesPerProject: 30,
		MaxGroupsPerQueue:   3,
		Raft:                partition.DefaultRaftConfig(),
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
	}
	return nil
}

// Node is one raftmq node: the metadata group member, this node's partition
// replicas, and the Raft listener they share. It implements the broker
// operations the HTTP layer needs.
type Node struct {
	cfg   Config
	log   *slog.Logger
	mux   *Mux
	raftL net.Listener
	cat   *Catalogue
	meta  *partition.Node
	host  *partition.Host

	rr atomic.Uint64 // round-robin cursor for produce and consume

	reconcileMu sync.Mutex
	stop        chan struct{}
	wg          sync.WaitGroup
	closeOnce   sync.Once
}

// nodeIdentity is kept in the data directory so that a node restarted on it
// keeps its identity.
type nodeIdentity struct {
	NodeID string `json:"node_id"`
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
	if err := checkIdentity(cfg.DataDir, cfg.NodeID); err != nil {
		return nil, err
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
	n := &Node{cfg: cfg, log: log, raftL: ln, cat: newCatalogue(log), stop: make(chan struct{})}
	n.mux = NewMux(ln, adv, log)
	n.cfg.RaftAddr = adv.String()

	metaTrans, err := n.transport("meta")
	if err != nil {
		n.mux.Close()
		return nil, err
	}
	var servers []raft.Server
	if cfg.BootstrapExpect == 1 {
		servers = []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(n.cfg.RaftAddr)}}
	}
	n.meta, err = partition.OpenNode("meta", filepath.Join(cfg.DataDir, "meta"), cfg.Raft, n.cat, metaTrans, servers)
	if err != nil {
		n.mux.Close()
		return nil, err
	}
	n.host, err = partition.NewHost(filepath.Join(cfg.DataDir, "partitions"), cfg.Raft, n.transport)
	if err != nil {
		n.meta.Close()
		n.mux.Close()
		return nil, err
	}
	n.wg.Add(2)
	go n.reconcileLoop()
	go n.keyLoop()
	return n, nil
}

func checkIdentity(dir, id string) error {
	p := filepath.Join(dir, "node.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		b, _ = json.Marshal(nodeIdentity{NodeID: id})
		return writeFileSync(p, b)
	}
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	var ni nodeIdentity
	if err := json.Unmarshal(b, &ni); err != nil {
		return fmt.Errorf("cluster: %s: %w", p, err)
	}
	if ni.NodeID != id {
		return fmt.Errorf("cluster: data dir %s belongs to node %q, not %q", dir, ni.NodeID, id)
	}
	return nil
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
		Stream:  l,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hclog.New(&hclog.LoggerOptions{Name: "raft-net " + group, Level: hclog.Error, Output: os.Stderr}),
	}), nil
}

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// RaftAddr is the advertised address of the shared Raft listener.
func (n *Node) RaftAddr() string { return n.cfg.RaftAddr }

// keyLoop makes sure the catalogue holds a handler key: the first metadata
// leader draws one and commits it; every node then signs with the same key.
func (n *Node) keyLoop() {
	defer n.wg.Done()
	for {
		ch := n.meta.LeadershipChanged()
		if n.cat.key() != nil {
			return
		}
		if n.meta.IsLeader() {
			key := make([]byte, 32)
			rand.Read(key)
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Raft.ApplyTimeout)
			_, err := n.proposeMeta(ctx, &metaCommand{Op: opSetKey, Key: key})
			cancel()
			if err == nil {
				return
			}
			n.log.Warn("setting the handler key failed; retrying", "err", err)
		}
		select {
		case <-ch:
		case <-n.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

// reconcileLoop starts and stops local replicas as the catalogue changes.
func (n *Node) reconcileLoop() {
	defer n.wg.Done()
	for {
		ch := n.cat.Changed()
		n.reconcile()
		select {
		case <-ch:
		case <-n.stop:
			return
		}
	}
}

// reconcile makes the local replicas match the catalogue's placements.
func (n *Node) reconcile() {
	n.reconcileMu.Lock()
	defer n.reconcileMu.Unlock()
	want := map[string]bool{}
	for _, p := range n.cat.placements() {
		if !slices.Contains(p.Replicas, n.cfg.NodeID) {
			continue
		}
		want[p.ID] = true
		if _, ok := n.host.Get(p.ID); ok {
			continue
		}
		servers := make([]raft.Server, 0, len(p.Replicas))
		for _, id := range p.Replicas {
			addr := n.raftAddrOf(id)
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(addr)})
		}
		if _, err := n.host.Ensure(partition.Spec{ID: p.ID, Policy: p.Queue.Policy(), Servers: servers}); err != nil {
			n.log.Error("starting partition replica", "partition", p.ID, "err", err)
		}
	}
	for _, id := range n.host.IDs() {
		if !want[id] {
			if err := n.host.Remove(id); err != nil {
				n.log.Error("removing partition replica", "partition", id, "err", err)
			}
		}
	}
}

// raftAddrOf returns a node's Raft address. A single-node cluster only knows
// itself; membership (gossip) fills in the others.
func (n *Node) raftAddrOf(id string) string {
	if id == n.cfg.NodeID {
		return n.cfg.RaftAddr
	}
	return ""
}

func (n *Node) proposeMeta(ctx context.Context, cmd *metaCommand) (metaResult, error) {
	b, err := json.Marshal(cmd)
	if err != nil {
		return metaResult{}, fmt.Errorf("cluster: encode %s: %w", cmd.Op, err)
	}
	resp, err := n.meta.Propose(ctx, b)
	if err != nil {
		return metaResult{}, unavailable(err)
	}
	res, ok := resp.(metaResult)
	if !ok {
		return metaResult{}, fmt.Errorf("cluster: unexpected catalogue result %T", resp)
	}
	return res, res.Err
}

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
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.Handoff()
		close(n.stop)
		n.wg.Wait()
		err = errors.Join(n.host.Close(), n.meta.Close(), n.mux.Close())
	})
	return err
}

// Ready reports whether the node has a metadata leader and the handler key.
func (n *Node) Ready() bool {
	return n.meta.Leader() != "" && n.cat.key() != nil
}

// HandlerKey is the cluster-wide handler signing key.
func (n *Node) HandlerKey() ([]byte, bool) {
	k := n.cat.key()
	return k, k != nil
}

// MaxQueuesPerProject is the queue quota.
func (n *Node) MaxQueuesPerProject() int { return n.cfg.MaxQueuesPerProject }

// Status describes the cluster as this node sees it.
func (n *Node) Status() Status {
	st := Status{NodeID: n.cfg.NodeID, MetaLeader: n.meta.Leader()}
	st.Nodes = []NodeInfo{{ID: n.cfg.NodeID, HTTPAddr: n.cfg.HTTPAddr, RaftAddr: n.cfg.RaftAddr, GossipAddr: n.cfg.GossipAddr, Alive: true}}
	for _, p := range n.cat.placements() {
		pi := PartitionInfo{ID: p.ID, QueueID: p.Queue.ID, Replicas: p.Replicas}
		if r, ok := n.host.Get(p.ID); ok {
			pi.Leader = r.Leader()
		}
		st.Partitions = append(st.Partitions, pi)
	}
	if st.Partitions == nil {
		st.Partitions = []PartitionInfo{}
	}
	return st
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// replica returns the local replica of a queue's partition i.
func (n *Node) replica(q Queue, i int) (*partition.Replica, error) {
	r, ok := n.host.Get(PartitionID(q.ID, i))
	if !ok {
		return nil, fmt.Errorf("%w: partition %s not hosted here", ErrUnavailable, PartitionID(q.ID, i))
	}
	return r, nil
}

var _ = fsm.MaxLeaseBytes
