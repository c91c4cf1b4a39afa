package httpapi

import (
	"testing"

	"raftmq/cluster"
	"raftmq/cluster/clustertest"
)

// newTestBroker starts a real single-node cluster (Raft on disk in a temp dir,
// loopback transport, short test timings). Options adjust its config.
func newTestBroker(t *testing.T, opts ...clustertest.Option) Broker {
	t.Helper()
	return clustertest.StartNode(t, opts...)
}

var _ Broker = (*cluster.Node)(nil)
