package partition

import (
	"errors"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// errGroupClosed answers a heartbeat that arrives while the group closes.
var errGroupClosed = errors.New("partition: group closed")

// guardedTransport is the group's transport with Raft's heartbeat fast path
// fenced: hashicorp/raft runs that path on the transport's connection
// goroutine, outside its main loop, and Shutdown does not wait for it; a
// heartbeat carrying a higher term that is being handled while the group's
// stores close makes raft panic ("failed to save current term"). Close
// calls shut after Shutdown: it waits for a heartbeat in progress, and every
// later one is refused.
type guardedTransport struct {
	raft.Transport
	mu     sync.RWMutex
	closed bool
}

func guardTransport(t raft.Transport) *guardedTransport { return &guardedTransport{Transport: t} }

// SetHeartbeatHandler installs cb behind the fence.
func (g *guardedTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	if cb == nil {
		g.Transport.SetHeartbeatHandler(nil)
		return
	}
	g.Transport.SetHeartbeatHandler(func(rpc raft.RPC) {
		g.mu.RLock()
		defer g.mu.RUnlock()
		if g.closed {
			rpc.Respond(nil, errGroupClosed)
			return
		}
		cb(rpc)
	})
}

// RequestPreVote passes pre-votes on (hashicorp/raft uses them only when
// the transport offers them, and every transport of ours does).
func (g *guardedTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	p, ok := g.Transport.(raft.WithPreVote)
	if !ok {
		return errors.New("partition: transport without pre-vote")
	}
	return p.RequestPreVote(id, target, args, resp)
}

// shut waits for a heartbeat in progress and refuses every later one.
func (g *guardedTransport) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Close closes the transport underneath.
func (g *guardedTransport) Close() error {
	if c, ok := g.Transport.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
