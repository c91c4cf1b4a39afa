package httpapi

import (
	"strings"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
)

// nodesPath is the prefix of the membership endpoints (API.md section 7):
// POST {nodesPath}{id}/decommission and DELETE {nodesPath}{id}. They need an
// admin key (adminOnly covers /v1/cluster/...).
const nodesPath = "/v1/cluster/nodes/"

// maxNodeIDLen bounds a node id in a membership path (as cluster.Config).
const maxNodeIDLen = 64

// nodeAdmin serves the membership endpoints; both answer 202 with
// {"node":ID,"accepted":"decommission"|"remove"}: the request commits one
// catalogue entry, the moves it starts run in the background.
func (s *Server) nodeAdmin(rc *fasthttp.RequestCtx, method, rest string) error {
	id, verb, hasVerb := strings.Cut(rest, "/")
	allowed := fasthttp.MethodDelete
	switch {
	case hasVerb && verb == "decommission":
		allowed = fasthttp.MethodPost
	case hasVerb:
		return errUnknownPath
	}
	if id == "" || len(id) > maxNodeIDLen {
		return errUnknownPath
	}
	if method != allowed {
		return s.methodNotAllowed(rc, map[string]endpoint{allowed: nil})
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	var err error
	accepted := "remove"
	if allowed == fasthttp.MethodPost {
		accepted = "decommission"
		err = s.broker.Decommission(ctx, id)
	} else {
		err = s.broker.RemoveNode(ctx, id)
	}
	if err != nil {
		return err
	}
	s.writeJSON(rc, fasthttp.StatusAccepted, map[string]string{"node": id, "accepted": accepted})
	return nil
}

// nodeConflictMsg is the message of a 409: the broker's reason, without the
// sentinel's text.
func nodeConflictMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), cluster.ErrNodeConflict.Error()+": ")
	if msg == err.Error() {
		return "the node's state forbids this change"
	}
	return msg
}
