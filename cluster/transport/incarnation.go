package transport

import (
	"errors"
	"strings"

	"github.com/hashicorp/raft"
)

// A node's Raft identity is its node id and the incarnation of its data
// directory. Every Raft connection names the incarnation it is meant for:
// the address a peer's server id resolves to carries it (WithInc), Dial
// sends it after the group name, and the Mux closes a connection meant for
// another incarnation before any Raft RPC is read. An empty incarnation, on
// either side, matches any: peers from before incarnations were checked.

// incSep separates a Raft address from the incarnation it is meant for; a
// host:port never holds it.
const incSep = "/"

// groupIncSep separates the group name from the incarnation in a Raft
// connection's header; group names never hold it (Mux.Layer).
const groupIncSep = "\x00"

// ErrWrongIncarnation is a Raft connection meant for another incarnation of
// this node id: a peer still addresses the data directory this node had
// before it was wiped.
var ErrWrongIncarnation = errors.New("transport: raft connection for another incarnation of this node")

// WithInc attaches the incarnation a Raft connection is meant for to addr.
func WithInc(addr, inc string) raft.ServerAddress {
	if inc == "" || addr == "" {
		return raft.ServerAddress(addr)
	}
	return raft.ServerAddress(addr + incSep + inc)
}

// SplitInc undoes WithInc.
func SplitInc(a raft.ServerAddress) (addr, inc string) {
	addr, inc, _ = strings.Cut(string(a), incSep)
	return addr, inc
}

// splitGroupField splits a connection header's group field into the group
// name and the incarnation it is meant for ("" when the dialer named none).
func splitGroupField(field string) (name, inc string) {
	name, inc, _ = strings.Cut(field, groupIncSep)
	return name, inc
}
