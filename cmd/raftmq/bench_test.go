package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/cluster/clustertest"
)

// BenchmarkCluster runs produce and consume+ack over HTTP against a real
// three-process cluster (fsync on, replication 3), sending every request to
// one node, or spreading requests over the three.
func BenchmarkCluster(b *testing.B) {
	c := clustertest.StartCluster(b, binPath, 3)
	urls := baseURLs(c)
	client := &fasthttp.Client{MaxConnsPerHost: 256}
	do := func(base, method, path, body string, want int, out any) {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(base + "/v1.0/bench" + path)
		req.Header.SetMethod(method)
		req.SetBodyString(body)
		if err := client.DoTimeout(req, resp, 30*time.Second); err != nil {
			b.Error(err)
			return
		}
		if resp.StatusCode() != want {
			b.Errorf("%s %s: %d %s", method, path, resp.StatusCode(), resp.Body())
			return
		}
		if out != nil {
			_ = json.Unmarshal(resp.Body(), out)
		}
	}
	msg := `{"body":"` + strings.Repeat("x", 1022) + `"}`
	batch := `{"messages":[` + strings.Repeat(msg+",", 9) + msg + `]}`
	for _, spread := range []bool{false, true} {
		nodes := urls[:1]
		name := "via-one-node"
		if spread {
			nodes = urls
			name = "spread-over-three"
		}
		var q struct{ ID string }
		do(urls[0], "POST", "/queues", fmt.Sprintf(`{"name":"q-%s"}`, name), 201, &q)
		var gs struct {
			Groups []struct{ ID string } `json:"groups"`
		}
		do(urls[0], "POST", "/queues/"+q.ID+"/groups", `{"groups":[{"name":"g"}]}`, 201, &gs)
		g := gs.Groups[0].ID
		var seq atomic.Uint64
		pick := func() string { return nodes[seq.Add(1)%uint64(len(nodes))] }

		b.Run("produce10/"+name, func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do(pick(), "POST", "/queues/"+q.ID+"/messages", batch, 201, nil)
				}
			})
			b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "msgs/s")
		})
		b.Run("consume-ack10/"+name, func(b *testing.B) {
			var got atomic.Int64
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					node := pick()
					var ds []struct {
						Handler string `json:"handler"`
					}
					do(node, "GET", fmt.Sprintf("/queues/%s/groups/%s/messages?max_msgs=10&time_wait=1", q.ID, g), "", 200, &ds)
					if len(ds) == 0 {
						continue
					}
					entries := make([]string, len(ds))
					for i, d := range ds {
						entries[i] = `{"handler":"` + d.Handler + `","status":"success"}`
					}
					var res struct{ Success int }
					do(node, "POST", "/queues/"+q.ID+"/groups/"+g+"/ack", `{"message":[`+strings.Join(entries, ",")+`]}`, 200, &res)
					got.Add(int64(res.Success))
				}
			})
			b.ReportMetric(float64(got.Load())/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
