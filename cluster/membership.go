package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"raftmq/cluster/placement"
	"raftmq/cluster/transport"
	"raftmq/logging"
)

// memberMeta is what a node gossips about itself (memberlist node metadata).
type memberMeta struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http"`
	RaftAddr string `json:"raft"`
	// Joined is true once the node belongs to a metadata group (it has Raft
	// state, or it has seen a leader). A node that sees a joined member never
	// bootstraps a new cluster.
	Joined bool `json:"joined,omitempty"`
	// Inc is the incarnation of the node's data directory, drawn when it
	// was created: a node that comes back empty under an old id has a new
	// one, so it is a new member even if its id was removed.
	Inc string `json:"inc,omitempty"`
	// RaftInc is true when the node's Raft listener refuses connections
	// meant for another incarnation (identity.go): only then do peers
	// address it with its incarnation.
	RaftInc bool `json:"raft_inc,omitempty"`
	// DiskLow is true while the node's data directory is below its
	// free-space watermark: produce to its partitions is refused.
	DiskLow bool `json:"disk_low,omitempty"`
}

// Member is a node as gossip reports it (placement.Member).
type Member = placement.Member

// membership tracks the cluster's nodes through memberlist gossip. It keeps
// the last known addresses of nodes that left, so that Raft can still reach
// them when they come back on the same addresses.
type membership struct {
	self   memberMeta
	log    *slog.Logger
	ml     *memberlist.Memberlist
	addr   string // this node's advertised gossip address, host:port
	peersF string // file of known peers' gossip addresses, for rejoining after a restart

	mu      sync.RWMutex
	members map[string]Member
	joined  bool
	diskLow bool
	changed chan struct{}
}

// deadNodeReclaim is how long a node must have been dead before its id may
// come back from another address.
const deadNodeReclaim = 5 * time.Second

// membershipConfig holds what starting gossip needs.
type membershipConfig struct {
	Self       memberMeta
	GossipAddr string // bind address
	Advertise  string // host peers use; "" = the bind host
	DataDir    string
	Fast       bool // shrink gossip timings (tests)
	// Keys encrypt and authenticate every gossip message (memberlist's
	// keyring: AES-GCM, the first key sends, each is tried on receipt);
	// nil: gossip is open.
	Keys *transport.Keyring
	Log  *slog.Logger
}

func startMembership(cfg membershipConfig) (*membership, error) {
	host, portS, err := net.SplitHostPort(cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip address: %w", err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip port: %w", err)
	}
	m := &membership{self: cfg.Self, log: cfg.Log, members: map[string]Member{}, changed: make(chan struct{}),
		peersF: filepath.Join(cfg.DataDir, "peers.json")}
	mc := memberlist.DefaultLANConfig()
	if cfg.Fast {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.GossipInterval = 50 * time.Millisecond
		mc.PushPullInterval = 2 * time.Second
	}
	mc.Name = cfg.Self.ID
	// A node id that comes back on other addresses (a replaced machine, a
	// wiped node started elsewhere) is let in once the old one is dead.
	mc.DeadNodeReclaimTime = deadNodeReclaim
	mc.BindAddr = host
	mc.BindPort = port
	mc.AdvertisePort = port
	if port == 0 {
		// An ephemeral port (tests): memberlist advertises the bound address.
	} else if cfg.Advertise != "" {
		// memberlist wants an IP; a container's host name resolves to one.
		ip := net.ParseIP(cfg.Advertise)
		if ip == nil {
			a, err := net.ResolveIPAddr("ip4", cfg.Advertise)
			if err != nil {
				return nil, fmt.Errorf("cluster: advertise host %q: %w", cfg.Advertise, err)
			}
			ip = a.IP
		}
		mc.AdvertiseAddr = ip.String()
	} else if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		mc.AdvertiseAddr = host
	}
	if cfg.Keys != nil {
		kr, err := memberlist.NewKeyring(cfg.Keys.Secrets(), cfg.Keys.Primary().Secret)
		if err != nil {
			return nil, fmt.Errorf("cluster: gossip transport.Keyring: %w", err)
		}
		// A message that is not sealed with one of the keys is dropped,
		// so a node without the key can neither join nor be heard.
		mc.Keyring = kr
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	}
	mc.Delegate = m
	mc.Events = m
	// memberlist's lines go to the node's log, except the refusals of
	// unsealed gossip, which gossipRefusals reports in one rate-limited line.
	var refusals *gossipRefusals
	if cfg.Keys != nil {
		refusals = &gossipRefusals{log: cfg.Log}
	}
	mc.Logger = log.New(memberlistLog{refusals: refusals, rest: logging.NewWriter(cfg.Log, "memberlist")}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip: %w", err)
	}
	m.ml = ml
	m.addr = ml.LocalNode().Address() // read once: the node struct is memberlist's, unlocked
	return m, nil
}

// NodeMeta is memberlist's Delegate hook: our metadata, as JSON.
func (m *membership) NodeMeta(limit int) []byte {
	m.mu.RLock()
	meta := m.self
	meta.Joined = m.joined
	meta.DiskLow = m.diskLow
	m.mu.RUnlock()
	b, _ := json.Marshal(meta)
	if len(b) > limit {
		return nil
	}
	return b
}

func (m *membership) NotifyMsg([]byte)                           {}
func (m *membership) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (m *membership) LocalState(join bool) []byte                { return nil }
func (m *membership) MergeRemoteState(buf []byte, join bool)     {}

// NotifyJoin, NotifyLeave and NotifyUpdate are memberlist's EventDelegate hooks.
func (m *membership) NotifyJoin(n *memberlist.Node)   { m.update(n, true) }
func (m *membership) NotifyUpdate(n *memberlist.Node) { m.update(n, true) }
func (m *membership) NotifyLeave(n *memberlist.Node)  { m.update(n, false) }

func (m *membership) update(n *memberlist.Node, alive bool) {
	var meta memberMeta
	if err := json.Unmarshal(n.Meta, &meta); err != nil || meta.ID == "" || meta.ID != n.Name {
		m.log.Warn("gossip: ignoring node with bad metadata", "node", n.Name)
		return
	}
	mem := Member{ID: meta.ID, HTTPAddr: meta.HTTPAddr, RaftAddr: meta.RaftAddr, GossipAddr: n.Address(), Alive: alive, Joined: meta.Joined, Inc: meta.Inc, RaftInc: meta.RaftInc, DiskLow: meta.DiskLow}
	m.mu.Lock()
	old, had := m.members[mem.ID]
	switch {
	case alive:
	case had && !old.Alive:
		mem.DownSince = old.DownSince
	default:
		mem.DownSince = time.Now()
	}
	m.members[mem.ID] = mem
	if !had || old != mem {
		close(m.changed)
		m.changed = make(chan struct{})
	}
	m.mu.Unlock()
	if !had || old.GossipAddr != mem.GossipAddr {
		m.savePeers()
	}
}

// Changed returns a channel closed at the next membership change.
func (m *membership) Changed() <-chan struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.changed
}

// Members returns every node seen, sorted by id.
func (m *membership) Members() []Member {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, mem)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Member returns one node.
func (m *membership) Member(id string) (Member, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mem, ok := m.members[id]
	return mem, ok
}

// SetJoined marks this node as part of a metadata group and gossips it.
func (m *membership) SetJoined() {
	m.mu.Lock()
	if m.joined {
		m.mu.Unlock()
		return
	}
	m.joined = true
	m.mu.Unlock()
	if err := m.ml.UpdateNode(5 * time.Second); err != nil {
		m.log.Warn("gossip: update", "err", err)
	}
}

// SetDiskLow gossips whether this node is below its free-space watermark.
func (m *membership) SetDiskLow(low bool) {
	m.mu.Lock()
	if m.diskLow == low {
		m.mu.Unlock()
		return
	}
	m.diskLow = low
	m.mu.Unlock()
	if err := m.ml.UpdateNode(5 * time.Second); err != nil {
		m.log.Warn("gossip: update", "err", err)
	}
}

// Join contacts the given gossip addresses; it reports how many answered.
func (m *membership) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	return m.ml.Join(addrs)
}

// knownPeers returns the gossip addresses saved by an earlier run.
func (m *membership) knownPeers() []string {
	b, err := os.ReadFile(m.peersF)
	if err != nil {
		return nil
	}
	var addrs []string
	if json.Unmarshal(b, &addrs) != nil {
		return nil
	}
	return addrs
}

// savePeers adds the members' gossip addresses to the peers file. It never
// drops an address: a node that is down now may come back on it.
func (m *membership) savePeers() {
	addrs := m.knownPeers()
	for _, mem := range m.Members() {
		if mem.GossipAddr != "" && mem.ID != m.self.ID && !slices.Contains(addrs, mem.GossipAddr) {
			addrs = append(addrs, mem.GossipAddr)
		}
	}
	b, _ := json.Marshal(addrs)
	// Synced before the rename: otherwise a power loss can leave the new name
	// on an empty file, and the node forgets every peer it knew.
	tmp := m.peersF + ".tmp"
	if err := writeFileSync(tmp, b); err == nil {
		_ = os.Rename(tmp, m.peersF)
	}
}

// Leave announces departure and stops gossip.
func (m *membership) Leave() {
	_ = m.ml.Leave(2 * time.Second)
	_ = m.ml.Shutdown()
}

// gossipRefusals reads memberlist's log (otherwise discarded: it is chatty)
// for the messages it dropped because they were not sealed with one of this
// node's keys, and logs those as warnings, at most one per interval (transport.LogLimiter):
// a node with the wrong key, or none, otherwise fails to join in silence.
type gossipRefusals struct {
	log     *slog.Logger
	limiter transport.LogLimiter
}

func (g *gossipRefusals) Write(p []byte) (int, error) {
	line := string(p)
	if !isGossipRefusal(line) {
		return len(p), nil
	}
	if ok, n := g.limiter.Allow(); ok {
		g.log.Warn("gossip: refused a message not sealed with this node's cluster key (a node without the key, or with another)",
			"memberlist", strings.TrimSpace(line), "refused", n)
	}
	return len(p), nil
}

// isGossipRefusal reports a memberlist log line about a message that was not
// sealed with this node's key.
func isGossipRefusal(line string) bool {
	return strings.Contains(line, "ecrypt") || strings.Contains(line, "not encrypted") || strings.Contains(line, "encryption is not configured")
}

// memberlistLog routes memberlist's log lines: refusals of unsealed gossip to
// refusals (when the node has a cluster key), everything else to rest.
type memberlistLog struct {
	refusals *gossipRefusals
	rest     io.Writer
}

func (w memberlistLog) Write(p []byte) (int, error) {
	if w.refusals != nil && isGossipRefusal(string(p)) {
		return w.refusals.Write(p)
	}
	return w.rest.Write(p)
}
