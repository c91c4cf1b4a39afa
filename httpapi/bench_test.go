package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/cluster/clustertest"
)

// benchEnv is a real single-node broker (Raft on disk, fsync on) behind a
// Server on loopback, with a fasthttp client.
type benchEnv struct {
	base   string
	client *fasthttp.Client
	queue  string
	group  string
}

func startBench(b *testing.B) *benchEnv {
	b.Helper()
	node := clustertest.StartNode(b)
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg, node)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(ln)
	b.Cleanup(func() { s.Shutdown(b.Context()) })
	e := &benchEnv{base: "http://" + ln.Addr().String() + "/v1.0/bench", client: &fasthttp.Client{MaxConnsPerHost: 256}}
	var q struct{ ID string }
	e.do(b, "POST", "/queues", `{"name":"bench"}`, 201, &q)
	e.queue = q.ID
	var gs struct {
		Groups []struct{ ID string } `json:"groups"`
	}
	e.do(b, "POST", "/queues/"+q.ID+"/groups", `{"groups":[{"name":"g"}]}`, 201, &gs)
	e.group = gs.Groups[0].ID
	return e
}

func (e *benchEnv) do(b *testing.B, method, path, body string, want int, out any) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(e.base + path)
	req.Header.SetMethod(method)
	req.SetBodyString(body)
	if err := e.client.DoTimeout(req, resp, 30*time.Second); err != nil {
		b.Error(err)
		return
	}
	if resp.StatusCode() != want {
		b.Errorf("%s %s: %d %s", method, path, resp.StatusCode(), resp.Body())
		return
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			b.Error(err)
		}
	}
}

// batch10 is a produce body of ten messages of about 1 KiB each.
func batch10() string {
	body := `"` + strings.Repeat("x", 1022) + `"`
	msgs := make([]string, 10)
	for i := range msgs {
		msgs[i] = `{"body":` + body + `}`
	}
	return `{"messages":[` + strings.Join(msgs, ",") + `]}`
}

// BenchmarkHTTP_Produce10 measures produce over HTTP on one node: 32
// concurrent clients, each request 10 x 1 KiB, answered after fsync.
func BenchmarkHTTP_Produce10(b *testing.B) {
	e := startBench(b)
	body := batch10()
	b.SetParallelism(16) // 16 x GOMAXPROCS clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.do(b, "POST", "/queues/"+e.queue+"/messages", body, 201, nil)
		}
	})
	b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkHTTP_ConsumeAck10 measures consume (max_msgs=10) plus ack of the
// batch over HTTP on one node, with 32 concurrent consumers, on a queue
// filled beforehand.
func BenchmarkHTTP_ConsumeAck10(b *testing.B) {
	e := startBench(b)
	body := batch10()
	for i := 0; i < b.N+64; i++ { // enough for every iteration to find ten messages
		e.do(b, "POST", "/queues/"+e.queue+"/messages", body, 201, nil)
	}
	var got atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var ds []struct {
				Handler string `json:"handler"`
			}
			e.do(b, "GET", fmt.Sprintf("/queues/%s/groups/%s/messages?max_msgs=10&time_wait=1", e.queue, e.group), "", 200, &ds)
			if len(ds) == 0 {
				continue
			}
			entries := make([]string, len(ds))
			for i, d := range ds {
				entries[i] = `{"handler":"` + d.Handler + `","status":"success"}`
			}
			var res struct{ Success int }
			e.do(b, "POST", "/queues/"+e.queue+"/groups/"+e.group+"/ack", `{"message":[`+strings.Join(entries, ",")+`]}`, 200, &res)
			got.Add(int64(res.Success))
		}
	})
	b.ReportMetric(float64(got.Load())/b.Elapsed().Seconds(), "msgs/s")
}
