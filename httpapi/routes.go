package httpapi

import (
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
)

// pathParams are the variable segments of a matched path.
type pathParams struct {
	project string // validated by dispatch before any DMS handler runs
	queue   string // not validated: handlers look it up
	group   string // not validated: handlers look it up
}

// endpoint handles one method of one route. It writes the success response
// itself and returns an error for writeError otherwise.
type endpoint func(rc *fasthttp.RequestCtx, p pathParams) error

// route is one path pattern. Segments "{queue}" and "{group}" match any
// non-empty segment; the others match literally. DMS routes start after
// "/v1.0/{project_id}".
type route struct {
	segments []string
	methods  map[string]endpoint
	v2Only   bool // served under dmsV2Prefix only
}

// dmsPrefix and dmsV2Prefix open the DMS paths: every DMS operation is
// served under both, with the same shapes (Huawei's newer queue API uses
// /v2); the queue tag routes exist under /v2 only.
const (
	dmsPrefix   = "/v1.0/"
	dmsV2Prefix = "/v2/"
)

// dmsRoutes lists the DMS v1.0 routes of API.md section 2.
func (s *Server) dmsRoutes() []route {
	const (
		get  = fasthttp.MethodGet
		post = fasthttp.MethodPost
		del  = fasthttp.MethodDelete
	)
	r := func(pattern string, methods map[string]endpoint) route {
		return route{segments: strings.Split(pattern, "/"), methods: methods}
	}
	return []route{
		r("queues", map[string]endpoint{get: s.listQueues, post: s.createQueue}),
		r("queues/{queue}", map[string]endpoint{get: s.getQueue, del: s.deleteQueue}),
		r("queues/{queue}/groups", map[string]endpoint{get: s.listGroups, post: s.createGroups}),
		r("queues/{queue}/groups/{group}", map[string]endpoint{del: s.deleteGroup}),
		r("queues/{queue}/messages", map[string]endpoint{post: s.produce}),
		r("queues/{queue}/groups/{group}/messages", map[string]endpoint{get: s.consumeNormal}),
		r("queues/{queue}/groups/{group}/ack", map[string]endpoint{post: s.ackNormal}),
		r("queues/{queue}/groups/{group}/deadletters", map[string]endpoint{get: s.consumeDeadLetters}),
		r("queues/{queue}/groups/{group}/deadletters/ack", map[string]endpoint{post: s.ackDeadLetters}),
		r("queues/{queue}/groups/{group}/deadletters/redrive", map[string]endpoint{post: s.redrive}),
		r("queues/{queue}/groups/{group}/messages/lease", map[string]endpoint{post: s.extendNormal}),
		r("queues/{queue}/groups/{group}/deadletters/lease", map[string]endpoint{post: s.extendDeadLetters}),
		r("quotas/dms", map[string]endpoint{get: s.quotas}),
	}
}

// match finds the route of segs and fills p from it.
func (rt route) match(segs []string, p *pathParams) bool {
	if len(segs) != len(rt.segments) {
		return false
	}
	for i, want := range rt.segments {
		switch want {
		case "{queue}":
			p.queue = segs[i]
		case "{group}":
			p.group = segs[i]
		default:
			if segs[i] != want {
				return false
			}
		}
		if segs[i] == "" {
			return false
		}
	}
	return true
}

// dispatch routes a request. An unknown path is 404 10240406. A known path
// with a method it does not serve is 405 with an Allow header and the same
// DMS code 10240406 (the method and path pair is unknown); DMS itself has no
// code for it. The project_id is checked once a DMS route matched, before
// the handler runs.
func (s *Server) dispatch(rc *fasthttp.RequestCtx) error {
	path := string(rc.Path())
	method := string(rc.Method())
	if s.adminOnly(path) {
		if err := s.adminAuthenticate(rc); err != nil {
			return err
		}
	}
	if ok, err := s.serveOps(rc, method, path); ok {
		return err
	}
	switch path {
	case "/health":
		return s.serveNode(rc, method, s.health)
	case "/ready":
		return s.serveNode(rc, method, s.ready)
	case "/v1/cluster":
		return s.serveNode(rc, method, s.clusterStatus)
	case "/v1/digests":
		return s.serveNode(rc, method, s.digests)
	}
	if id, ok := strings.CutPrefix(path, nodesPath); ok {
		return s.nodeAdmin(rc, method, id)
	}
	if path == ClockOffsetPath && s.cfg.ClockControl != nil {
		return s.clockOffset(rc, method)
	}
	if op, ok := strings.CutPrefix(path, cluster.InternalPathPrefix); ok {
		return s.internal(rc, method, op)
	}
	if rest, ok := strings.CutPrefix(path, mqPrefix); ok {
		s.mqDispatch(rc, rest)
		return nil
	}
	rest, ok := strings.CutPrefix(path, dmsPrefix)
	v2 := false
	if !ok {
		rest, ok = strings.CutPrefix(path, dmsV2Prefix)
		v2 = ok
	}
	if !ok {
		return errUnknownPath
	}
	project, rest, ok := strings.Cut(rest, "/")
	// Authentication comes before the path is judged at all, so that an
	// unsigned request cannot probe which paths or project ids are valid.
	if err := s.dmsAuthenticate(rc, project); err != nil {
		return err
	}
	if !ok {
		return errUnknownPath
	}
	segs := strings.Split(rest, "/")
	for _, rt := range s.routes {
		p := pathParams{project: project}
		if (rt.v2Only && !v2) || !rt.match(segs, &p) {
			continue
		}
		ep, ok := rt.methods[method]
		if !ok {
			return s.methodNotAllowed(rc, rt.methods)
		}
		if err := checkProject(project); err != nil {
			return err
		}
		return ep(rc, p)
	}
	return errUnknownPath
}

// adminOnly reports whether path needs an admin key when the node has
// credentials (API.md section 5): the cluster view and its admin endpoints,
// the digests, the metrics (served by whoever adds them; gated here so that
// they are covered from the start) and the test-only clock. /health, /ready
// and the console's files stay open. path is fasthttp's normalised path, the
// one routing sees, so "/v1//cluster" or "/v1/x/../cluster" cannot slip by.
func (s *Server) adminOnly(path string) bool {
	switch {
	case path == "/v1/cluster", strings.HasPrefix(path, "/v1/cluster/"),
		path == "/v1/digests", path == "/metrics", strings.HasPrefix(path, "/metrics/"),
		path == ClockOffsetPath:
		return true
	}
	return false
}

// internal passes a node-to-node request (request forwarding between nodes)
// to the broker, which authenticates it; the status and body go back as they
// are.
func (s *Server) internal(rc *fasthttp.RequestCtx, method, op string) error {
	if method != fasthttp.MethodPost {
		return s.methodNotAllowed(rc, map[string]endpoint{fasthttp.MethodPost: nil})
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	status, body := s.broker.HandleInternal(ctx, op, string(rc.Request.Header.Peek(cluster.InternalAuthHeader)), rc.Request.Body())
	rc.SetStatusCode(status)
	rc.SetContentType(contentTypeJSON)
	rc.SetBody(body)
	return nil
}

// serveNode serves a node endpoint, which answers GET only.
func (s *Server) serveNode(rc *fasthttp.RequestCtx, method string, h func(rc *fasthttp.RequestCtx) error) error {
	if method != fasthttp.MethodGet {
		return s.methodNotAllowed(rc, map[string]endpoint{fasthttp.MethodGet: nil})
	}
	return h(rc)
}

func (s *Server) methodNotAllowed(rc *fasthttp.RequestCtx, methods map[string]endpoint) error {
	allowed := make([]string, 0, len(methods))
	for m := range methods {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	rc.Response.Header.Set(fasthttp.HeaderAllow, strings.Join(allowed, ", "))
	return &apiError{status: 405, code: codeUnknownPath, msg: "method not allowed on this path"}
}
