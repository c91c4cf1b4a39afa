package httpapi

import "testing"

func TestClassify_Operations(t *testing.T) {
	for _, tc := range []struct {
		method, path, trans string
		door, op            string
	}{
		{"POST", "/v1.0/p/queues", "", "dms", "create_queue"},
		{"GET", "/v1.0/p/queues/q1", "", "dms", "show_queue"},
		{"POST", "/v1.0/p/queues/q1/messages", "", "dms", "produce"},
		{"GET", "/v1.0/p/queues/q1/groups/g1/messages", "", "dms", "consume"},
		{"POST", "/v1.0/p/queues/q1/groups/g1/ack", "", "dms", "ack"},
		{"POST", "/v1.0/p/queues/q1/groups/g1/deadletters/ack", "", "dms", "ack_deadletters"},
		{"GET", "/v2/p/queues", "", "dms", "list_queues"},
		{"GET", "/v1.0/p/queues/q1/nonsense", "", "dms", "unknown"},
		{"POST", "/topics/T/messages", "", "rocketmq", "publish"},
		{"GET", "/topics/T/messages", "pop", "rocketmq", "trans_check"},
		{"DELETE", "/topics/T/messages", "commit", "rocketmq", "trans_commit"},
		{"DELETE", "/topics/T/messages", "anything-else", "rocketmq", "ack"},
		{"GET", "/metrics", "", "node", "metrics"},
		{"GET", "/v1/cluster", "", "node", "cluster"},
		{"POST", "/v1/cluster/nodes/n1/decommission", "", "node", "membership"},
		{"GET", "/console/app.js", "", "node", "console"},
		{"GET", "/whatever/queue-name", "", "node", "unknown"},
	} {
		door, op := classify(tc.method, tc.path, []byte(tc.trans))
		if door != tc.door || op != tc.op {
			t.Errorf("%s %s trans=%q: %s/%s, want %s/%s", tc.method, tc.path, tc.trans, door, op, tc.door, tc.op)
		}
	}
}
