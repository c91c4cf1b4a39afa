// Package httpapi serves a node's client HTTP API with fasthttp: the DMS
// queue API v1.0 under /v1.0/{project_id} and, the same operations, under
// /v2/{project_id} (API.md section 2), with the raftmq extensions of
// dms_ext.go (dead-letter redrive, lease extension, delay_seconds, message
// tags and a tag filter) and the /v2-only queue tags of dms_tags.go, the RocketMQ
// HTTP API under /topics/ (section 3) and the node endpoints GET /health,
// GET /ready, GET /v1/cluster and GET /v1/digests (section 1), and the
// membership endpoints POST /v1/cluster/nodes/{id}/decommission and DELETE
// /v1/cluster/nodes/{id} (section 7).
//
// # Owns
//
//   - Routing. An unknown path is 404 10240406; a known path with a method it
//     does not serve is 405 with an Allow header and the same code 10240406.
//   - Request parsing and every limit of API.md section 2, checked before the
//     broker is called: a request that breaks one is refused whole with 400
//     and changes nothing. Absent or empty query parameters take their
//     defaults; JSON fields sent as null count as absent. Our own decisions:
//     a create-groups request carries 1 to 10 groups, and one name twice is
//     10240018; include_deadletter accepts true or false (any case).
//   - The one error table, errorResponse: every error becomes a status and a
//     DMS body {"error_code","error_msg"}. Unknown errors are 500 with a
//     generic message, their detail logged. 429 and 503 carry Retry-After: 1, 507 (disk full) Retry-After: 5.
//     Every response, success, 413 and recovered panics included, carries
//     X-Request-Id (the client's own when it sent a short [A-Za-z0-9_-] one).
//   - Handlers (handler.go): the opaque, signed delivery tokens of consume and
//     ack. They are checked here, without touching the broker: a malformed or
//     forged one is handler_invalid, one minted for another queue, group or
//     door (normal versus dead letter) is handler_foreign. Whether a delivery
//     is still live is the state machine's decision, not this package's.
//   - RocketMQ transactional messages (mq_txn.go): __TransCheckT on publish,
//     trans=pop and trans=commit|rollback, with half-message handles of
//     their own kind (kindTransaction); DMS dedup_id (dms_dedup.go).
//   - Message bodies: kept as the exact JSON text sent and written back byte
//     for byte, never re-encoded; message ids (messageID).
//   - The 413 for a body over Config.MaxRequestBodySize, answered through
//     fasthttp's ErrorHandler after draining (bounded in bytes and time) the
//     rest of the body, so that a client still sending it reads the 413
//     instead of a connection reset.
//   - TEST ONLY, and routed only when Config.ClockControl is set (raftmq serve
//     --unsafe-test-clock): ClockOffsetPath, which reads and sets the offset
//     of the clock the node stamps into commands (the fault suite's clock
//     nemesis, scenario T8). Without it the path is unknown: 404.
//   - Admission of long polls: at most Config.MaxWaitingConsumers consume
//     requests in progress on the node (429 10240407 beyond).
//   - Authentication (API.md section 5, docs/SECURITY.md), with
//     Config.Credentials: the DMS door's SDK-HMAC-SHA256 (dmsauth.go; 401
//     APIG.0301 before any other check, then 403 APIG.0302 for a project the
//     key is not listed for), the RocketMQ door's MQ signature (credentials.go),
//     and admin keys (* keys; signed or Bearer ID:SECRET) for /v1/cluster,
//     /v1/digests, /metrics and the test clock. Without credentials: open.
//   - Attributes that would inject RocketMQ properties are refused at produce
//     (mqUserPropertyProblem) and left out at a RocketMQ consume.
//   - The connection layer (conn.go): connections in total and per IP
//     (Config.MaxConns, MaxConnsPerIP), TLS (Config.TLS: HTTPS only), 414 and
//     431 (MaxRequestLineBytes, MaxHeaderBytes); every answer given before
//     routing is in the door's format, RocketMQ XML for /topics/, DMS JSON
//     otherwise.
//   - Operations (metrics.go, console.go): GET /metrics from Config.Registry
//     (the request histogram, delivery and ack counters, and the cluster's
//     figures read at scrape time through MetricsSource), and the web console,
//     static files embedded from console/ and served under /console/.
//
// # Does not
//
// Know about Raft, partitions' leaders, memberlist or storage: it calls the
// Broker interface (implemented by *cluster.Node), which does the waiting of
// a long poll, routing, and the state changes. It keeps no state of its own
// between requests apart from the waiting-consumer count and the open
// connections' counts.
//
// # Invariants
//
//   - A 4xx answer means the broker changed nothing for this request.
//   - A handler is accepted only by the door, queue and group it was minted
//     for, and only with a valid HMAC-SHA256 tag under Broker.HandlerKey().
//   - Handlers are at most 256 characters (ours are 104).
//   - Endpoints are functions of the request and the broker only, so that a
//     request forwarded from another node gets the same answer.
//
// # Concurrency
//
// A Server is safe for concurrent use; fasthttp runs each request in its own
// goroutine and a long poll waits in that goroutine, inside Broker.Consume.
// Shutdown stops accepting, closes idle connections and lets requests in
// flight finish; when its context ends first, it cancels the broker calls
// still running. No package-level mutable state: logger and clock come in
// through Config.
package httpapi
