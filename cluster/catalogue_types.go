package cluster

import "raftmq/fsm"

// QueueMode is a DMS queue mode.
type QueueMode string

const (
	ModeNormal  QueueMode = "NORMAL"
	ModeFIFO    QueueMode = "FIFO"
	ModeKafkaHA QueueMode = "KAFKA_HA"
	ModeKafkaHT QueueMode = "KAFKA_HT"
)

// RetentionPolicy says when a queue's messages leave it.
type RetentionPolicy string

const (
	// RetentionTime keeps a message until its retention ends (the default).
	RetentionTime RetentionPolicy = "time"
	// RetentionAcked also lets a message go once every group that exists
	// has acknowledged it with success or dead-lettered it.
	RetentionAcked RetentionPolicy = "acked"
)

// Kafka reports whether m is one of the Kafka modes.
func (m QueueMode) Kafka() bool { return m == ModeKafkaHA || m == ModeKafkaHT }

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

// Queue is a queue as the catalogue holds it.
type Queue struct {
	ID              string // UUID
	Project         string
	Name            string
	Description     string
	Mode            QueueMode
	Redrive         bool
	MaxConsumeCount int
	RetentionHours  int             // 0 means the default 72
	RetentionPolicy RetentionPolicy `json:",omitempty"` // "" means RetentionTime
	Created         int64           // unix ms
	Partitions      int
	Groups          []Group // in creation order
}

// Group is a consumer group as the catalogue holds it.
type Group struct {
	ID      string // "g-<uuid>"
	Name    string
	Created int64 // unix ms
}

// Policy is the state-machine policy of the queue's partitions.
func (q Queue) Policy() fsm.Policy {
	p := fsm.Policy{FIFO: q.Mode == ModeFIFO, RetentionMs: 72 * 3600 * 1000, AckedRetention: q.RetentionPolicy == RetentionAcked}
	if q.Redrive {
		p.MaxConsumeCount = uint8(q.MaxConsumeCount)
	}
	if q.RetentionHours > 0 {
		p.RetentionMs = int64(q.RetentionHours) * 3600 * 1000
	}
	return p
}

// Group returns the queue's group with the given id.
func (q Queue) Group(id string) (Group, bool) {
	for _, g := range q.Groups {
		if g.ID == id {
			return g, true
		}
	}
	return Group{}, false
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
