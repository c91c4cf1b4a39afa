package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/raft"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/placement"
	"raftmq/cluster/transport"
)

// A node's Raft identity is its node id and the incarnation of its data
// directory, a random id drawn when the directory is first used and kept in
// it for good. A node whose data directory was wiped forgot its Raft log and
// votes: were it let back into its groups under the old identity, a leader
// would count its acknowledgements toward quorum, and a later failure could
// lose committed entries. So every Raft connection names the incarnation it
// is meant for (the address a peer's server id resolves to carries it), and
// the Mux closes a connection meant for another; the metadata leader,
// seeing a member alive with an incarnation other than the one the
// catalogue recorded, removes the old identity the way DELETE
// /v1/cluster/nodes/{id} does and admits the new one once no replica set
// and no Raft configuration names the old one any more. An empty
// incarnation, recorded or named in a connection, matches any: data
// directories and peers from before incarnations were checked.

// identityFile holds the data directory's owner and incarnation (nodeIdentity).
const identityFile = "node.json"

// ErrBadIdentity is a data directory whose identity file cannot be read: the
// node refuses to start rather than draw a new identity over data that has
// one.
var ErrBadIdentity = errors.New("cluster: unreadable identity file")

// checkIdentity makes sure the data directory belongs to node id and
// returns its incarnation, recording both when the directory is new, or the
// incarnation alone when an older directory has none.
func checkIdentity(dir, id string) (string, error) {
	p := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		ni := nodeIdentity{NodeID: id, Inc: newUUID()}
		return ni.Inc, writeIdentity(p, ni)
	}
	if err != nil {
		return "", fmt.Errorf("%w %s: %w", ErrBadIdentity, p, err)
	}
	var ni nodeIdentity
	if err := json.Unmarshal(b, &ni); err != nil || ni.NodeID == "" {
		return "", fmt.Errorf("%w %s (%v): restore it, or empty the whole data directory to join as a new member", ErrBadIdentity, p, err)
	}
	if ni.NodeID != id {
		return "", fmt.Errorf("cluster: data dir %s belongs to node %q, not %q", dir, ni.NodeID, id)
	}
	if ni.Inc == "" {
		ni.Inc = newUUID()
		if err := writeIdentity(p, ni); err != nil {
			return "", err
		}
	}
	return ni.Inc, nil
}

// freshDataDir reports whether dir holds neither an identity file nor Raft
// state: a node started on it is new, or was wiped.
func freshDataDir(dir string) bool {
	for _, name := range []string{identityFile, "meta", "partitions"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return false
		}
	}
	return true
}

// writeIdentity replaces the identity file atomically: synced under a
// temporary name, renamed, and the directory synced, so a crash leaves the
// old file or the new one, never a torn one.
func writeIdentity(p string, ni nodeIdentity) error {
	b, err := json.Marshal(ni)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	tmp := p + ".tmp"
	if err := writeFileSync(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// raftInc is the incarnation to hold m to: the one it gossips, when its
// Raft listener checks incarnations ("" for a node that does not, so that
// peers keep addressing it without one).
func raftInc(m Member) string {
	if !m.RaftInc {
		return ""
	}
	return m.Inc
}

// peerAddr is node id's Raft address addr with the incarnation the
// catalogue admitted for it.
func (n *Node) peerAddr(id, addr string) raft.ServerAddress {
	return transport.WithInc(addr, n.cat.MemberInc(id))
}

// admitted reports whether this node's incarnation is the one the catalogue
// holds for its id: only then may it start partition replicas and report
// ready. A data directory from before incarnations were recorded matches
// an empty record; a new or wiped one waits to be recorded.
func (n *Node) admitted() bool {
	rec := n.cat.MemberInc(n.cfg.NodeID)
	return rec == n.inc || (rec == "" && !n.fresh)
}

// settleIdentities is the metadata leader's check of every alive member's
// incarnation against the catalogue: it records the incarnation of each
// member that has none recorded (a new member, or one from before
// incarnations were recorded), and removes the recorded one of a member
// that is back with another (a wiped data directory), which settleNodes
// admits as a new member once the old identity is gone. It reports whether
// it removed one: that is this round's change.
func (n *Node) settleIdentities(ctx context.Context, j placement.Judge) bool {
	incs := n.cat.MemberIncs()
	for _, id := range slices.Sorted(maps.Keys(j.Members)) {
		m := j.Members[id]
		inc, rec, was := raftInc(m), j.Records[id], incs[id]
		if !m.Alive || inc == "" || rec.State == catalogue.StateRemoved || was == inc {
			continue
		}
		if was == "" {
			if rec.State == "" {
				n.log.Info("recording a member's incarnation", "node", id, "inc", inc)
				n.proposePlan(ctx, &catalogue.Command{Op: catalogue.OpSetNode, Node: id, Inc: inc})
			}
			continue
		}
		n.log.Warn(fmt.Sprintf("node %s restarted with a new data directory (incarnation %s, was %s): replacing it", id, inc, was),
			"node", id, "inc", inc, "was", was)
		n.proposePlan(ctx, &catalogue.Command{Op: catalogue.OpSetNode, Node: id, State: catalogue.StateRemoved, Inc: was})
		return true
	}
	return false
}

// committedConfigOf is a group's configuration as rpcConfig answers it.
func committedConfigOf(servers []raft.Server, committed bool, err error) (groupConfig, error) {
	if err != nil {
		return groupConfig{}, err
	}
	c := configOf(servers)
	c.Uncommitted = !committed
	return c, nil
}

// identityGone reports whether no Raft configuration names node id any
// more: the metadata group's, and the committed one of every partition
// (asked of its leader: a removal it has not committed yet could be undone
// by the next leader). Until then a new incarnation of id is not admitted:
// the old one would be counted in the groups that still name it. (The
// metadata group's removal is committed with the admission itself, which
// follows it in the same log.)
func (n *Node) identityGone(ctx context.Context, id string, parts []catalogue.Placement) bool {
	servers, err := n.meta.Configuration()
	if err != nil || slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id }) {
		return false
	}
	for _, p := range parts {
		c, err := n.partitionConfig(ctx, p)
		if err != nil || c.Uncommitted || slices.Contains(c.Voters, id) || slices.Contains(c.Nonvoters, id) {
			return false
		}
	}
	return true
}
