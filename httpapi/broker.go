package httpapi

import (
	"context"
	"time"

	"raftmq/cluster"
	"raftmq/fsm"
)

// Broker is what the HTTP layer needs from the cluster. *cluster.Node
// implements it; the HTTP layer never sees Raft.
//
// Errors are the cluster sentinels (cluster.ErrQueueNotFound, ...), wrapped;
// anything else is an internal error.
type Broker interface {
	// Catalogue. Queue ids are looked up within the project: a queue of
	// another project is ErrQueueNotFound.
	CreateQueue(ctx context.Context, project string, spec cluster.QueueSpec) (cluster.Queue, error)
	ListQueues(ctx context.Context, project string) ([]cluster.Queue, error)
	GetQueue(ctx context.Context, project, queueID string) (cluster.Queue, error)
	// GetGroup returns the queue holding group groupID, catching up with the
	// metadata leader first: ErrGroupNotFound only once the leader confirms.
	GetGroup(ctx context.Context, project, queueID, groupID string) (cluster.Queue, error)
	DeleteQueue(ctx context.Context, project, queueID string) error
	// CreateGroups creates all the named groups or none (ErrGroupExists, ErrGroupQuota).
	CreateGroups(ctx context.Context, project, queueID string, names []string) ([]cluster.Group, error)
	DeleteGroup(ctx context.Context, project, queueID, groupID string) error
	// QueueByName finds a queue of the project by name (the RocketMQ
	// TopicName), catching up with the metadata leader before it answers
	// ErrQueueNotFound.
	QueueByName(ctx context.Context, project, name string) (cluster.Queue, error)
	// EnsureGroup returns q's group with that name, creating it on first
	// use (ErrGroupQuota over the quota), with q as the catalogue now has it.
	EnsureGroup(ctx context.Context, q cluster.Queue, name string) (cluster.Queue, cluster.Group, error)

	// Queue tags (catalogue data). SetQueueTags creates or deletes tags
	// (cluster.TagActionCreate, cluster.TagActionDelete; ErrTagQuota past
	// cluster.MaxTagsPerQueue); the reads catch up with the metadata leader.
	SetQueueTags(ctx context.Context, project, queueID, action string, tags []cluster.QueueTag) error
	QueueTags(ctx context.Context, project, queueID string) ([]cluster.QueueTag, error)
	ProjectTags(ctx context.Context, project string) ([]cluster.TagValues, error)

	// Counters, summed over the queue's partitions.
	QueueStats(ctx context.Context, q cluster.Queue) (cluster.QueueStats, error)
	GroupStats(ctx context.Context, q cluster.Queue, groupID string) (fsm.GroupStats, error)

	// Messages. Produce stores all messages or none and returns where each went.
	Produce(ctx context.Context, q cluster.Queue, msgs []fsm.Message) ([]cluster.MessageRef, error)
	// Consume leases messages from the queue's partitions, waiting up to
	// req.WaitMs for the first; it returns an empty slice when none came.
	Consume(ctx context.Context, q cluster.Queue, groupID string, req cluster.ConsumeRequest) ([]cluster.Delivery, error)
	// Ack applies an ordered ack across partitions. An error (ErrUnavailable)
	// is returned only when nothing could be applied at the first entry.
	Ack(ctx context.Context, q cluster.Queue, groupID string, deadLetter bool, entries []cluster.AckEntry) (cluster.AckOutcome, error)
	// Redrive moves up to max (0 = all) of a group's available dead
	// letters back to its normal lane and says how many moved.
	Redrive(ctx context.Context, q cluster.Queue, groupID string, max int) (int, error)
	// Extend gives live leases new ends, keeping their handlers valid; each
	// entry is judged on its own. An error (ErrUnavailable) means an
	// outcome is unknown.
	Extend(ctx context.Context, q cluster.Queue, groupID string, deadLetter bool, entries []cluster.ExtendEntry) ([]cluster.ExtendFailure, error)

	// ProduceDedup is Produce with a deduplication id per message ("" =
	// none): a duplicate's ref is its first one's; dups counts them.
	ProduceDedup(ctx context.Context, q cluster.Queue, msgs []fsm.Message, ids []string) (refs []cluster.MessageRef, dups int, err error)
	// ProduceHalf stores a RocketMQ half message, due for a check after checkMs.
	ProduceHalf(ctx context.Context, q cluster.Queue, msg fsm.Message, checkMs int64) (cluster.HalfRef, error)
	// TxnCheck hands out up to limit half messages due for a check, waiting
	// up to wait for the first.
	TxnCheck(ctx context.Context, q cluster.Queue, limit int, wait time.Duration) ([]cluster.HalfDelivery, error)
	// TxnEnd commits or rolls back a half message at generation gen; false
	// when that is not its newest generation or it is no longer pending.
	TxnEnd(ctx context.Context, q cluster.Queue, ref cluster.HalfRef, gen uint64, commit bool) (bool, error)

	// HandlerKey is the cluster-wide secret that signs handlers (32 bytes);
	// ok is false until the node has joined a cluster.
	HandlerKey() (key []byte, ok bool)
	// Ready reports whether the node can serve: it has applied the
	// catalogue, and the metadata group and every partition it holds have
	// a leader it knows.
	Ready() bool
	// Status describes the cluster for GET /v1/cluster.
	Status() cluster.Status
	// Decommission starts moving everything off a node, which then leaves
	// (cluster.ErrNodeNotFound, cluster.ErrNodeConflict).
	Decommission(ctx context.Context, nodeID string) error
	// RemoveNode removes a dead node and rebuilds its replicas elsewhere
	// (cluster.ErrNodeNotFound; cluster.ErrNodeConflict when it is alive).
	RemoveNode(ctx context.Context, nodeID string) error
	// Digests lists every partition replica on this node with its applied
	// index and state digest (GET /v1/digests, for the fault suite).
	Digests() []cluster.ReplicaDigest
	// MaxQueuesPerProject is the queue quota (for GET /quotas/dms).
	MaxQueuesPerProject() int
	// HandleInternal serves a node-to-node request (path
	// cluster.InternalPathPrefix+op, signature in cluster.InternalAuthHeader)
	// and returns the status and body to send back unchanged.
	HandleInternal(ctx context.Context, op, auth string, body []byte) (status int, respBody []byte)
}
