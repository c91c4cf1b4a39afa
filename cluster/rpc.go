package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/cluster/catalogue"
	"raftmq/cluster/transport"
	"raftmq/fsm"
	"raftmq/partition"
)

// Node-to-node requests travel as HTTP POSTs to InternalPathPrefix+op on the
// peer's HTTP listener, sealed (transport.SealRequest) with the cluster key, or in open
// mode with the catalogue's handler key. The receiving node only ever uses
// its own replicas: a forwarded request is never forwarded again.

// InternalPathPrefix is the path prefix of node-to-node requests.
const InternalPathPrefix = "/internal/v1/"

// InternalAuthHeader carries the request's seal header.
const InternalAuthHeader = transport.InternalAuthHeader

const (
	rpcMeta      = "meta"      // propose a catalogue command on the metadata leader
	rpcMetaIndex = "metaindex" // the metadata leader's applied index
	rpcCommand   = "command"   // apply an fsm command on a partition leader
	rpcStats     = "stats"     // read a partition's counters
	rpcLeader    = "leader"    // which node leads a partition, as the peer sees it
	rpcConfig    = "config"    // a partition group's Raft configuration, from its leader
	rpcApplied   = "applied"   // the applied index of the peer's replica of a partition
	rpcLeave     = "leave"     // the metadata leader tells a removed node to stop
)

// rpcError is the body of a failed node-to-node request.
type rpcError struct {
	Code   string `json:"code"`             // see rpcErrorCodes, "not_leader", "unavailable", "bad_request"
	Leader string `json:"leader,omitempty"` // with not_leader: the leader's id, if known
	Msg    string `json:"msg,omitempty"`
}

var rpcErrorCodes = map[string]error{
	"queue_not_found": ErrQueueNotFound,
	"group_not_found": ErrGroupNotFound,
	"queue_exists":    ErrQueueExists,
	"group_exists":    ErrGroupExists,
	"queue_quota":     ErrQueueQuota,
	"group_quota":     ErrGroupQuota,
	"tag_quota":       ErrTagQuota,
}

// errNotSent marks a forwarding failure that happened before the request
// reached the peer: the command was certainly not applied, so it may be
// retried elsewhere.
var errNotSent = errors.New("cluster: request not sent")

func toRPCError(err error) (int, rpcError) {
	for code, e := range rpcErrorCodes {
		if errors.Is(err, e) {
			return fasthttp.StatusConflict, rpcError{Code: code}
		}
	}
	var nl *partition.NotLeaderError
	if errors.As(err, &nl) {
		return fasthttp.StatusMisdirectedRequest, rpcError{Code: "not_leader", Leader: nl.LeaderID}
	}
	return fasthttp.StatusServiceUnavailable, rpcError{Code: "unavailable", Msg: err.Error()}
}

func fromRPCError(status int, body []byte, group string) error {
	var e rpcError
	if json.Unmarshal(body, &e) != nil {
		return fmt.Errorf("%w: peer answered %d", ErrUnavailable, status)
	}
	if err, ok := rpcErrorCodes[e.Code]; ok {
		return err
	}
	switch e.Code {
	case "not_leader":
		return &partition.NotLeaderError{Group: group, LeaderID: e.Leader}
	case "bad_request":
		return fmt.Errorf("cluster: peer refused request: %s", e.Msg)
	}
	return fmt.Errorf("%w: peer: %s", ErrUnavailable, e.Msg)
}

// rpcKeys are the keys node-to-node requests are sealed with: the cluster
// keys, or in open mode the handler key once the catalogue holds one (nil
// before).
func (n *Node) rpcKeys() *transport.Keyring {
	if n.keys != nil {
		return n.keys
	}
	if kr := n.openKeys.Load(); kr != nil {
		return kr
	}
	key := n.cat.Key()
	if key == nil {
		return nil
	}
	kr, err := transport.NewKeyring([][]byte{key})
	if err != nil {
		return nil
	}
	n.openKeys.Store(kr)
	return kr
}

// peers holds one HTTP client per peer address. Clients never retry on their
// own: a consume leases messages, so a silent retry could lose them.
type peers struct {
	tls *tls.Config // Config.PeerTLS; nil for plain HTTP
	// dial bounds a connection attempt: a peer that does not accept one
	// within an election timeout is treated as down.
	dial    time.Duration
	mu      sync.Mutex
	clients map[string]*fasthttp.HostClient
}

// scheme is the URI scheme of node-to-node requests.
func (p *peers) scheme() string {
	if p.tls != nil {
		return "https://"
	}
	return "http://"
}

func (p *peers) client(addr string) *fasthttp.HostClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients == nil {
		p.clients = map[string]*fasthttp.HostClient{}
	}
	c, ok := p.clients[addr]
	if !ok {
		c = &fasthttp.HostClient{
			Addr:                      addr,
			IsTLS:                     p.tls != nil,
			TLSConfig:                 p.tls,
			MaxConns:                  512,
			MaxIdemponentCallAttempts: 1,
			RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
			ReadTimeout:               30 * time.Second,
			WriteTimeout:              10 * time.Second,
			MaxResponseBodySize:       8 << 20,
			DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
				if p.dial > 0 && (timeout <= 0 || timeout > p.dial) {
					timeout = p.dial
				}
				c, err := fasthttp.DialTimeout(addr, timeout)
				if err != nil {
					return nil, fmt.Errorf("%w: %w", errNotSent, err)
				}
				return peerConn{c}, nil
			},
		}
		p.clients[addr] = c
	}
	return c
}

// call sends op to the node with id and decodes a JSON answer into out. It
// waits at most forwardDeadline (or until ctx ends).
func (n *Node) call(ctx context.Context, nodeID, op string, body []byte, out any) error {
	return n.callWatched(ctx, nodeID, op, body, out, nil)
}

// leaderView is this node's view of a group's leadership (a local replica,
// or the metadata group's member).
type leaderView interface {
	Leader() string
	LeadershipChanged() <-chan struct{}
}

// errPeerLost reports that the wait for a peer's answer was abandoned: the
// peer stopped leading the group (this node's replica names another
// leader) or gossip found it dead. Whether it acted on the request is
// unknown.
var errPeerLost = errors.New("cluster: peer lost while the request was in flight")

// callWatched is call for a request to a group's leader: while it waits for
// the answer it watches view (may be nil) and gossip, and stops waiting
// with errPeerLost (wrapped in ErrUnavailable and
// partition.ErrOutcomeUnknown) once view names another leader than nodeID,
// or than the one it named when the request was sent, or once gossip finds
// nodeID dead. A killed or frozen leader therefore costs about an election
// rather than a read timeout.
func (n *Node) callWatched(ctx context.Context, nodeID, op string, body []byte, out any, view leaderView) error {
	mem, ok := n.members.Member(nodeID)
	if !ok || mem.HTTPAddr == "" {
		return fmt.Errorf("%w: %w: node %q unknown", ErrUnavailable, errNotSent, nodeID)
	}
	keys := n.rpcKeys()
	if keys == nil {
		return fmt.Errorf("%w: %w: no handler key yet", ErrUnavailable, errNotSent)
	}
	auth, sealed, seal, err := transport.SealRequest(keys.Primary(), op, body, time.Now())
	if err != nil {
		return fmt.Errorf("%w: %w: %w", ErrUnavailable, errNotSent, err)
	}
	timeout := n.forwardDeadline()
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return fmt.Errorf("%w: %w: deadline passed", ErrUnavailable, errNotSent)
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	req.SetRequestURI(n.peers.scheme() + mem.HTTPAddr + InternalPathPrefix + op)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.Set(InternalAuthHeader, auth)
	req.Header.Set("X-Raftmq-From", n.cfg.NodeID)
	req.SetBodyRaw(sealed)
	err = n.exchange(n.peers.client(mem.HTTPAddr), req, resp, timeout, nodeID, view)
	if errors.Is(err, errPeerLost) {
		return fmt.Errorf("%w: %w: %w", ErrUnavailable, partition.ErrOutcomeUnknown, err)
	}
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	if err != nil {
		if errors.Is(err, errNotSent) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return fmt.Errorf("%w: forward to %s: %w", ErrUnavailable, nodeID, err)
	}
	answer, err := seal.OpenAnswer(resp.StatusCode(), resp.Body())
	if err != nil {
		// A refusal before authentication (a plain 403) lands here too.
		return fmt.Errorf("%w: %s: %w (%.200s)", ErrUnavailable, nodeID, err, resp.Body())
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return fromRPCError(resp.StatusCode(), answer, op)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%w: bad answer from %s: %w", ErrUnavailable, nodeID, err)
	}
	return nil
}

// exchange sends req and waits for resp, at most timeout. With a view it
// also gives up (errPeerLost) when the peer is lost (see callWatched); req
// and resp then belong to the request still in flight, which releases them
// when it ends.
func (n *Node) exchange(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration, nodeID string, view leaderView) error {
	if view == nil {
		return hc.DoTimeout(req, resp, timeout)
	}
	done := make(chan error, 1)
	go func() { done <- hc.DoTimeout(req, resp, timeout) }()
	sentTo := view.Leader()
	for {
		vc, mc := view.LeadershipChanged(), n.members.Changed()
		if l := view.Leader(); l != "" && l != nodeID && l != sentTo {
			go releaseWhenDone(done, req, resp)
			return fmt.Errorf("%w: %s leads now, not %s", errPeerLost, l, nodeID)
		}
		if m, ok := n.members.Member(nodeID); ok && !m.Alive {
			go releaseWhenDone(done, req, resp)
			return fmt.Errorf("%w: %s is dead", errPeerLost, nodeID)
		}
		select {
		case err := <-done:
			return err
		case <-vc:
		case <-mc:
		}
	}
}

func releaseWhenDone(done <-chan error, req *fasthttp.Request, resp *fasthttp.Response) {
	<-done
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
}

// electionTimeout is the Raft election timeout in force.
func (n *Node) electionTimeout() time.Duration {
	if n.cfg.Raft.ElectionTimeout > 0 {
		return n.cfg.Raft.ElectionTimeout
	}
	return time.Second // hashicorp/raft's default
}

// readAttempt bounds one attempt of an idempotent read from a leader (it
// answers in one heartbeat round): an election timeout, after which the
// read is tried again, on the next leader if there is one by then.
func (n *Node) readAttempt() time.Duration {
	return max(n.electionTimeout(), minPeerDial)
}

// minPeerDial is the least time a dial to a peer is given (tests shrink the
// election timeout far below what a loaded machine needs to connect).
const minPeerDial = 500 * time.Millisecond

// forwardBudget is how long a peer is given to carry out a forwarded step
// (it is told, and answers "not leader" or "outcome unknown" by then): as
// long as a local proposal waits for an election.
func (n *Node) forwardBudget() time.Duration { return n.cfg.Raft.LeaderWait }

// forwardDeadline is how long this node waits for a peer's answer: the
// peer's budget and an election timeout for the answer's way back. A peer
// silent for longer is taken for dead (a killed container's address
// swallows packets: no reset ever comes).
func (n *Node) forwardDeadline() time.Duration {
	return n.forwardBudget() + n.electionTimeout()
}

// HandleInternal serves one node-to-node request (op is the path after
// InternalPathPrefix, auth the InternalAuthHeader) and returns the HTTP
// status and body to send. A request that is not sealed with one of this
// node's keys, or is stale or replayed, gets a plain 403 and nothing else;
// every other answer is sealed for the request.
func (n *Node) HandleInternal(ctx context.Context, op, auth string, body []byte) (int, []byte) {
	keys := n.rpcKeys()
	if keys == nil {
		return errBody(fasthttp.StatusServiceUnavailable, rpcError{Code: "unavailable", Msg: "no handler key yet"})
	}
	now := time.Now()
	seal, plain, err := transport.OpenRequest(keys, op, auth, body, now)
	if err == nil {
		err = n.replay.Admit(seal, now)
	}
	if errors.Is(err, transport.ErrReplayCacheFull) {
		return errBody(fasthttp.StatusServiceUnavailable, rpcError{Code: "unavailable", Msg: err.Error()})
	}
	if err != nil {
		if ok, count := n.rpcRefusals.Allow(); ok {
			n.log.Warn("internal request refused", "op", op, "err", err, "refused", count)
		}
		return errBody(fasthttp.StatusForbidden, rpcError{Code: "forbidden"})
	}
	status, answer := n.answerInternal(ctx, op, plain)
	return status, seal.SealAnswer(status, answer)
}

// answerInternal serves an authenticated request.
func (n *Node) answerInternal(ctx context.Context, op string, body []byte) (int, []byte) {
	out, err := n.serveInternal(ctx, op, body)
	if err != nil {
		var bad *badRPCError
		if errors.As(err, &bad) {
			return errBody(fasthttp.StatusBadRequest, rpcError{Code: "bad_request", Msg: bad.msg})
		}
		return errBody(toRPCError(err))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return errBody(fasthttp.StatusInternalServerError, rpcError{Code: "unavailable", Msg: err.Error()})
	}
	return fasthttp.StatusOK, b
}

type badRPCError struct{ msg string }

func (e *badRPCError) Error() string { return "cluster: bad internal request: " + e.msg }

func errBody(status int, e rpcError) (int, []byte) {
	b, _ := json.Marshal(e)
	return status, b
}

// metaAnswer is the answer to rpcMeta.
type metaAnswer struct {
	Queue  Queue   `json:"queue"`
	Groups []Group `json:"groups,omitempty"`
}

// commandRequest is the body of rpcCommand: a partition and an encoded fsm
// command (its header is stamped by the leader).
type commandRequest struct {
	Partition string `json:"partition"`
	Command   []byte `json:"command"`
	// BudgetMs is how long the sender waits for the answer, less the way
	// back: the leader gives up on the command by then (0: no bound).
	BudgetMs int64 `json:"budget_ms,omitempty"`
}

// commandAnswer carries exactly one result.
type commandAnswer struct {
	Enqueue *fsm.EnqueueResult `json:"enqueue,omitempty"`
	Lease   *fsm.LeaseResult   `json:"lease,omitempty"`
	Ack     *fsm.AckResult     `json:"ack,omitempty"`
	Tick    *fsm.TickResult    `json:"tick,omitempty"`
	Forget  bool               `json:"forget,omitempty"`
	Redrive *fsm.RedriveResult `json:"redrive,omitempty"`
	Extend  *fsm.ExtendResult  `json:"extend,omitempty"`

	TxnCheck *fsm.TxnCheckResult `json:"txn_check,omitempty"`
	TxnEnd   *fsm.TxnEndResult   `json:"txn_end,omitempty"`
}

func (a commandAnswer) result() (fsm.Result, error) {
	switch {
	case a.Enqueue != nil:
		return *a.Enqueue, nil
	case a.Lease != nil:
		return *a.Lease, nil
	case a.Ack != nil:
		return *a.Ack, nil
	case a.Tick != nil:
		return *a.Tick, nil
	case a.Forget:
		return fsm.ForgetResult{}, nil
	case a.Redrive != nil:
		return *a.Redrive, nil
	case a.Extend != nil:
		return *a.Extend, nil
	case a.TxnCheck != nil:
		return *a.TxnCheck, nil
	case a.TxnEnd != nil:
		return *a.TxnEnd, nil
	}
	return nil, fmt.Errorf("%w: empty command answer", ErrUnavailable)
}

func answerOf(res fsm.Result) commandAnswer {
	switch r := res.(type) {
	case fsm.EnqueueResult:
		return commandAnswer{Enqueue: &r}
	case fsm.LeaseResult:
		return commandAnswer{Lease: &r}
	case fsm.AckResult:
		return commandAnswer{Ack: &r}
	case fsm.TickResult:
		return commandAnswer{Tick: &r}
	case fsm.RedriveResult:
		return commandAnswer{Redrive: &r}
	case fsm.ExtendResult:
		return commandAnswer{Extend: &r}
	case fsm.TxnCheckResult:
		return commandAnswer{TxnCheck: &r}
	case fsm.TxnEndResult:
		return commandAnswer{TxnEnd: &r}
	}
	return commandAnswer{Forget: true}
}

// statsRequest is the body of rpcStats.
type statsRequest struct {
	Partition string `json:"partition"`
	Group     string `json:"group,omitempty"`
	// Leader asks for a linearizable read: only the leader answers, after
	// confirming it still leads; any other replica answers "not leader".
	Leader bool `json:"leader,omitempty"`
}

type statsAnswer struct {
	Produced int64          `json:"produced"`
	Group    fsm.GroupStats `json:"group"`
}

// leaderRequest is the body of rpcLeader. A peer that knows no leader waits
// up to WaitMs (at most maxLeaderWait) for one before it answers.
type leaderRequest struct {
	Partition string `json:"partition"`
	WaitMs    int64  `json:"wait_ms,omitempty"`
}

// leaderAnswer names the partition's leader as the peer sees it: "" when it
// knows none, or holds no replica.
type leaderAnswer struct {
	Leader string `json:"leader"`
}

// maxLeaderWait bounds how long a peer holds an rpcLeader request.
const maxLeaderWait = 2 * time.Second

// localLeader is the leader of partition pid as this node's replica sees
// it, waiting up to wait while it sees none; "" without a replica.
func (n *Node) localLeader(ctx context.Context, pid string, wait time.Duration) string {
	r, ok := n.host.Get(pid)
	if !ok {
		return ""
	}
	t := time.NewTimer(min(wait, maxLeaderWait))
	defer t.Stop()
	for {
		ch := r.LeadershipChanged()
		if id := r.Leader(); id != "" {
			return id
		}
		select {
		case <-ch:
		case <-t.C:
			return ""
		case <-ctx.Done():
			return ""
		case <-n.stop:
			return ""
		}
	}
}

func (n *Node) serveInternal(ctx context.Context, op string, body []byte) (any, error) {
	switch op {
	case rpcLeader:
		var req leaderRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, &badRPCError{err.Error()}
		}
		return leaderAnswer{Leader: n.localLeader(ctx, req.Partition, time.Duration(req.WaitMs)*time.Millisecond)}, nil
	case rpcConfig, rpcApplied:
		return n.serveGroupInfo(op, body)
	case rpcLeave:
		return n.serveLeave(body)
	case rpcMeta:
		// Validated before it is proposed: a peer's command is data.
		cmd, err := catalogue.DecodeCommand(body)
		if err != nil {
			return nil, &badRPCError{err.Error()}
		}
		res, err := n.proposeMetaLocal(ctx, cmd)
		if err != nil {
			return nil, err
		}
		return metaAnswer{Queue: res.Queue, Groups: res.Groups}, nil
	case rpcMetaIndex:
		if !n.meta.IsLeader() {
			return nil, &partition.NotLeaderError{Group: "meta", LeaderID: n.meta.Leader()}
		}
		return n.cat.AppliedIndex(), nil
	case rpcCommand:
		var req commandRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, &badRPCError{err.Error()}
		}
		cmd, err := fsm.Decode(req.Command)
		if err != nil {
			return nil, &badRPCError{err.Error()}
		}
		r, ok := n.host.Get(req.Partition)
		if !ok {
			return nil, &partition.NotLeaderError{Group: req.Partition}
		}
		if req.BudgetMs > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(req.BudgetMs)*time.Millisecond)
			defer cancel()
		}
		res, err := r.Do(ctx, cmd)
		if err != nil {
			return nil, err
		}
		return answerOf(res), nil
	case rpcStats:
		var req statsRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, &badRPCError{err.Error()}
		}
		r, ok := n.host.Get(req.Partition)
		if !ok {
			return nil, &partition.NotLeaderError{Group: req.Partition}
		}
		if req.Leader {
			return leaderStats(ctx, r, req.Group)
		}
		var a statsAnswer
		now := r.Now()
		r.Read(func(s *fsm.State) {
			a.Produced = s.Produced()
			a.Group = s.StatsAt(fsm.GroupID(req.Group), now)
		})
		return a, nil
	}
	return nil, &badRPCError{"unknown operation " + op}
}

// noView is the leaderView of a group this node holds no member of: it
// never names a leader, so only gossip can end the wait early.
type noView struct{}

func (noView) Leader() string                     { return "" }
func (noView) LeadershipChanged() <-chan struct{} { return nil }

// watchOf is view, or noView when there is none.
func watchOf(view leaderView) leaderView {
	if view == nil {
		return noView{}
	}
	return view
}
