package httpapi

import (
	"github.com/valyala/fasthttp"

	"raftmq/cluster"
)

// health answers 200 while the process runs.
func (s *Server) health(rc *fasthttp.RequestCtx) error {
	s.writeRaw(rc, fasthttp.StatusOK, []byte(`{"status":"ok"}`))
	return nil
}

// ready answers 200 while the node can serve its requests (Broker.Ready),
// 503 10250005 otherwise.
func (s *Server) ready(rc *fasthttp.RequestCtx) error {
	if !s.broker.Ready() {
		return &apiError{status: 503, code: codeUnavailable, msg: "node not ready"}
	}
	s.writeRaw(rc, fasthttp.StatusOK, []byte(`{"status":"ready"}`))
	return nil
}

// clusterStatus answers GET /v1/cluster: the cluster as this node sees it.
func (s *Server) clusterStatus(rc *fasthttp.RequestCtx) error {
	st := s.broker.Status()
	// Empty lists are [] on the wire, not null.
	if st.Nodes == nil {
		st.Nodes = []cluster.NodeInfo{}
	}
	// A copy: the broker may share its slices with other callers.
	parts := make([]cluster.PartitionInfo, len(st.Partitions))
	copy(parts, st.Partitions)
	for i := range parts {
		if parts[i].Replicas == nil {
			parts[i].Replicas = []string{}
		}
	}
	st.Partitions = parts
	s.writeJSON(rc, fasthttp.StatusOK, st)
	return nil
}

// digests answers GET /v1/digests: {"node_id","replicas":[{"partition",
// "applied_index","digest"}]} for every partition replica on this node. The
// fault suite compares replicas of one partition at the same applied index.
func (s *Server) digests(rc *fasthttp.RequestCtx) error {
	s.writeJSON(rc, fasthttp.StatusOK, struct {
		NodeID   string                  `json:"node_id"`
		Replicas []cluster.ReplicaDigest `json:"replicas"`
	}{s.broker.Status().NodeID, s.broker.Digests()})
	return nil
}
