package cluster

import (
	"raftmq/cluster/catalogue"
	"raftmq/fsm"
)

// The catalogue's types and errors, under the names the broker's callers
// use: httpapi speaks to cluster only.
type (
	QueueMode = catalogue.QueueMode
	Queue     = catalogue.Queue
	Group     = catalogue.Group
	QueueTag  = catalogue.QueueTag
	TagValues = catalogue.TagValues

	RetentionPolicy = catalogue.RetentionPolicy
)

const (
	ModeNormal  = catalogue.ModeNormal
	ModeFIFO    = catalogue.ModeFIFO
	ModeKafkaHA = catalogue.ModeKafkaHA
	ModeKafkaHT = catalogue.ModeKafkaHT

	TagActionCreate = catalogue.TagActionCreate
	TagActionDelete = catalogue.TagActionDelete
	MaxTagsPerQueue = catalogue.MaxTagsPerQueue

	RetentionTime  = catalogue.RetentionTime
	RetentionAcked = catalogue.RetentionAcked
)

// Sentinel errors of the catalogue; match with errors.Is.
var (
	ErrQueueNotFound  = catalogue.ErrQueueNotFound
	ErrGroupNotFound  = catalogue.ErrGroupNotFound
	ErrQueueExists    = catalogue.ErrQueueExists
	ErrGroupExists    = catalogue.ErrGroupExists
	ErrQueueQuota     = catalogue.ErrQueueQuota
	ErrGroupQuota     = catalogue.ErrGroupQuota
	ErrTagQuota       = catalogue.ErrTagQuota
	ErrInvalidCommand = catalogue.ErrInvalidCommand
)

// ValidTag reports why a tag is not acceptable, "" when it is
// (catalogue.ValidTag).
func ValidTag(t QueueTag) string { return catalogue.ValidTag(t) }

// QueueSpec is what a client asks for when creating a queue; httpapi has
// validated every field against API.md before it reaches the cluster.
type QueueSpec struct {
	Name            string
	Description     string
	Mode            QueueMode
	Redrive         bool
	MaxConsumeCount int             // 1..100 when Redrive, else 0
	RetentionHours  int             // 1..72 for Kafka modes, else 0 (72 h)
	RetentionPolicy RetentionPolicy // "" (absent) or RetentionTime, or RetentionAcked
}

// QueueStats are counters summed over a queue's partitions.
type QueueStats struct {
	Produced int64 // messages retained
}

// GroupInfo is a group with its counters summed over the queue's partitions.
type GroupInfo struct {
	Group
	Stats fsm.GroupStats
}

// ConsumeRequest asks for messages for one group.
type ConsumeRequest struct {
	Max        int   // 1..16
	MaxBytes   int   // budget for the sum of message sizes (fsm.MaxLeaseBytes)
	AckWaitMs  int64 // lease length
	WaitMs     int64 // long poll: wait up to this long for a first message
	DeadLetter bool
	Tags       []string // tag filter (fsm.Lease.Tags): sorted, unique, non-empty; nil = every message
	Ordered    bool     // one message per sharding key at a time (fsm.Lease.Ordered)
}

// Delivery is one leased message with the partition it came from.
type Delivery struct {
	Partition int // index of the partition within the queue
	fsm.Delivery
}

// MessageRef locates a produced message.
type MessageRef struct {
	Partition int
	Offset    uint64
}

// AckEntry is one entry of an ordered ack, after httpapi decoded its handler.
// When Invalid is not empty the handler could not be used (httpapi's reason,
// e.g. "handler_invalid" or "handler_foreign"): processing stops there.
type AckEntry struct {
	Partition int
	Item      fsm.AckItem
	Invalid   string
}

// AckOutcome is the result of an ordered ack across partitions.
type AckOutcome struct {
	Success      int
	Fail         int
	FailureIndex int    // index of the first failed entry; meaningful when Fail > 0
	Reason       string // API.md reason: status_fail, handler_expired, already_acknowledged, superseded, unavailable, or an AckEntry.Invalid
}

// NodeInfo describes one node for GET /v1/cluster.
type NodeInfo struct {
	ID         string `json:"id"`
	HTTPAddr   string `json:"http_addr"`
	RaftAddr   string `json:"raft_addr"`
	GossipAddr string `json:"gossip_addr"`
	Alive      bool   `json:"alive"`
	// State is alive, suspect (gossip found it failed a moment ago), dead
	// or decommissioning.
	State string `json:"state"`
	// DiskLow: the node is below its free-space watermark (produce to its
	// partitions is refused).
	DiskLow bool `json:"disk_low"`
}

// PartitionInfo describes one partition for GET /v1/cluster.
type PartitionInfo struct {
	ID      string `json:"id"` // "<queue_id>/<index>"
	QueueID string `json:"queue_id"`
	// QueueName and Project name the queue for people (the console, the CLI).
	QueueName string   `json:"queue_name"`
	Project   string   `json:"project"`
	Replicas  []string `json:"replicas"`
	Leader    string   `json:"leader"`
}

// Status is the cluster as this node sees it.
type Status struct {
	NodeID     string          `json:"node_id"`
	MetaLeader string          `json:"meta_leader"`
	Nodes      []NodeInfo      `json:"nodes"`
	Partitions []PartitionInfo `json:"partitions"`
}
