package catalogue

import "raftmq/fsm"

// QueueMode is a DMS queue mode.
type QueueMode string

const (
	ModeNormal  QueueMode = "NORMAL"
	ModeFIFO    QueueMode = "FIFO"
	ModeKafkaHA QueueMode = "KAFKA_HA"
	ModeKafkaHT QueueMode = "KAFKA_HT"
)

// Kafka reports whether m is one of the Kafka modes.
func (m QueueMode) Kafka() bool { return m == ModeKafkaHA || m == ModeKafkaHT }

// RetentionPolicy says when a queue's messages leave it.
type RetentionPolicy string

const (
	// RetentionTime keeps a message until its retention ends (the default).
	RetentionTime RetentionPolicy = "time"
	// RetentionAcked also lets a message go once every group that exists
	// has acknowledged it with success or dead-lettered it.
	RetentionAcked RetentionPolicy = "acked"
)

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
