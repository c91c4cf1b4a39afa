package httpapi

import (
	"strings"

	"raftmq/cluster"
)

// classify names a request's door and operation for the request-duration
// histogram. Queue, group and topic names never reach a label: the
// operations are a fixed set, so the histogram's size does not grow with the
// catalogue.
func classify(method, path string, trans []byte) (door, op string) {
	switch {
	case strings.HasPrefix(path, dmsPrefix):
		return "dms", dmsOp(method, path[len(dmsPrefix):])
	case strings.HasPrefix(path, dmsV2Prefix):
		return "dms", dmsOp(method, path[len(dmsV2Prefix):])
	case strings.HasPrefix(path, mqPrefix):
		return "rocketmq", mqOp(method, string(trans))
	}
	return "node", nodeOp(path)
}

// dmsOp names a DMS operation from the path after the version prefix
// ("{project}/queues/...").
func dmsOp(method, rest string) string {
	_, rest, _ = strings.Cut(rest, "/")
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		// Variable segments: queues/{queue}/groups/{group}.
		if i > 0 && (segs[i-1] == "queues" || segs[i-1] == "groups" || (segs[i-1] == "queue" && s != "tags")) && s != "" {
			segs[i] = "*"
		}
	}
	if op, ok := dmsOps[method+" "+strings.Join(segs, "/")]; ok {
		return op
	}
	return "unknown"
}

// dmsOps maps "METHOD pattern" to the operation's name.
var dmsOps = map[string]string{
	"GET queues":                                 "list_queues",
	"POST queues":                                "create_queue",
	"GET queues/*":                               "show_queue",
	"DELETE queues/*":                            "delete_queue",
	"GET queues/*/groups":                        "list_groups",
	"POST queues/*/groups":                       "create_groups",
	"DELETE queues/*/groups/*":                   "delete_group",
	"POST queues/*/messages":                     "produce",
	"GET queues/*/groups/*/messages":             "consume",
	"POST queues/*/groups/*/ack":                 "ack",
	"POST queues/*/groups/*/messages/lease":      "lease",
	"GET queues/*/groups/*/deadletters":          "consume_deadletters",
	"POST queues/*/groups/*/deadletters/ack":     "ack_deadletters",
	"POST queues/*/groups/*/deadletters/lease":   "lease_deadletters",
	"POST queues/*/groups/*/deadletters/redrive": "redrive",
	"GET quotas/dms":                             "quotas",
	"GET queue/tags":                             "project_tags",
	"GET queue/*/tags":                           "queue_tags",
	"POST queue/*/tags/action":                   "queue_tags_action",
}

func mqOp(method, trans string) string {
	switch {
	case method == "POST":
		return "publish"
	case method == "GET" && trans == "pop":
		return "trans_check"
	case method == "GET":
		return "consume"
	case method == "DELETE" && (trans == "commit" || trans == "rollback"):
		return "trans_" + trans
	case method == "DELETE":
		return "ack"
	}
	return "unknown"
}

func nodeOp(path string) string {
	switch {
	case path == "/health", path == "/ready", path == MetricsPath:
		return path[1:]
	case path == "/v1/cluster", path == "/v1/digests":
		return path[len("/v1/"):]
	case strings.HasPrefix(path, "/v1/cluster/"):
		return "membership"
	case strings.HasPrefix(path, ConsolePath):
		return "console"
	case strings.HasPrefix(path, cluster.InternalPathPrefix):
		return "internal"
	}
	return "unknown"
}
