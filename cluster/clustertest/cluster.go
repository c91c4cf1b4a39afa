package clustertest

import (
	"fmt"
	"testing"
	"time"
)

// Cluster is a set of raftmq processes started by a test.
type Cluster struct {
	Nodes []*Process
}

// StartCluster starts n processes that form one cluster (--bootstrap-expect
// n, each joining the first node's gossip address) and waits until every node
// is ready. extra flags go to every node.
func StartCluster(t testing.TB, bin string, n int, extra ...string) *Cluster {
	t.Helper()
	c := &Cluster{}
	for i := range n {
		p := NewProcess(t, bin, fmt.Sprintf("n%d", i+1))
		c.Nodes = append(c.Nodes, p)
	}
	for _, p := range c.Nodes {
		p.Args = append([]string{"--bootstrap-expect", fmt.Sprint(n), "--join", c.Nodes[0].Gossip}, extra...)
	}
	for _, p := range c.Nodes {
		p.StartNoWait(t)
	}
	for _, p := range c.Nodes {
		p.WaitReady(t, 30*time.Second)
	}
	return c
}

// Node returns the process with the given node id.
func (c *Cluster) Node(id string) *Process {
	for _, p := range c.Nodes {
		if p.NodeID == id {
			return p
		}
	}
	return nil
}
