package httpapi

import (
	"strings"
	"testing"
)

// TestMembership_EndpointsOnOneNode: on a single node, removing the node
// itself (alive) is 409 10240409, an unknown id is 404 10240404 for both
// verbs, decommissioning the only node is 409, wrong methods are 405 with
// Allow, and malformed paths are 404 10240406. The node keeps serving.
func TestMembership_EndpointsOnOneNode(t *testing.T) {
	e := startEnv(t, nil)
	var st struct {
		NodeID string `json:"node_id"`
		Nodes  []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"nodes"`
	}
	e.ok("GET", "/v1/cluster", "", 200, &st)
	if len(st.Nodes) != 1 || st.Nodes[0].State != "alive" {
		t.Fatalf("nodes %+v", st.Nodes)
	}
	self := st.NodeID
	wantCode(t, "remove an alive node", e.request("DELETE", "/v1/cluster/nodes/"+self, ""), 409, codeNodeConflict)
	wantCode(t, "decommission the only node", e.request("POST", "/v1/cluster/nodes/"+self+"/decommission", ""), 409, codeNodeConflict)
	wantCode(t, "remove an unknown node", e.request("DELETE", "/v1/cluster/nodes/nobody", ""), 404, codeNodeNotFound)
	wantCode(t, "decommission an unknown node", e.request("POST", "/v1/cluster/nodes/nobody/decommission", ""), 404, codeNodeNotFound)
	r := e.request("GET", "/v1/cluster/nodes/"+self, "")
	wantCode(t, "GET a node", r, 405, codeUnknownPath)
	if r.header.Get("Allow") != "DELETE" {
		t.Errorf("Allow %q, want DELETE", r.header.Get("Allow"))
	}
	wantCode(t, "DELETE decommission", e.request("DELETE", "/v1/cluster/nodes/"+self+"/decommission", ""), 405, codeUnknownPath)
	for _, p := range []string{"/v1/cluster/nodes/", "/v1/cluster/nodes/" + self + "/drain", "/v1/cluster/nodes/" + self + "/", "/v1/cluster/nodes/" + strings.Repeat("x", 65)} {
		wantCode(t, "path "+p, e.request("DELETE", p, ""), 404, codeUnknownPath)
	}
	e.ok("GET", "/ready", "", 200, nil)
}

// TestMembership_EndpointsNeedAdminKey: with credentials, the membership
// endpoints answer 401 without a key and 403 to a project key, before they
// look at the node id.
func TestMembership_EndpointsNeedAdminKey(t *testing.T) {
	e := startAuthEnv(t)
	for _, req := range [][2]string{{"DELETE", "/v1/cluster/nodes/x"}, {"POST", "/v1/cluster/nodes/x/decommission"}} {
		wantCode(t, "anonymous "+req[1], e.as(nil).request(req[0], req[1], ""), 401, codeAuthFailed)
		wantCode(t, "project key "+req[1], e.request(req[0], req[1], ""), 403, codeAuthDenied)
	}
	admin := &sdkTestSigner{ak: adminAK, sk: adminSK, now: p1Signer().now}
	wantCode(t, "admin key, unknown node", e.as(admin).request("DELETE", "/v1/cluster/nodes/x", ""), 404, codeNodeNotFound)
}
