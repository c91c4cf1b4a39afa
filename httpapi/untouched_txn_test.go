package httpapi

import (
	"context"
	"time"

	"raftmq/cluster"
	"raftmq/fsm"
)

// The transactional and deduplicating methods of untouchedBroker.

func (b *untouchedBroker) ProduceDedup(context.Context, cluster.Queue, []fsm.Message, []string) ([]cluster.MessageRef, int, error) {
	b.called("ProduceDedup")
	return nil, 0, cluster.ErrUnavailable
}
func (b *untouchedBroker) ProduceHalf(context.Context, cluster.Queue, fsm.Message, int64) (cluster.HalfRef, error) {
	b.called("ProduceHalf")
	return cluster.HalfRef{}, cluster.ErrUnavailable
}
func (b *untouchedBroker) TxnCheck(context.Context, cluster.Queue, int, time.Duration) ([]cluster.HalfDelivery, error) {
	b.called("TxnCheck")
	return nil, cluster.ErrUnavailable
}
func (b *untouchedBroker) TxnEnd(context.Context, cluster.Queue, cluster.HalfRef, uint64, bool) (bool, error) {
	b.called("TxnEnd")
	return false, cluster.ErrUnavailable
}
