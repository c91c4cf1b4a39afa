package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"raftmq/cluster/clustertest"
)

var deepMessages = flag.Int("deep-messages", 1_000_000, "messages BenchmarkDeepBacklog produces")
var deepProfiles = flag.String("deep-profiles", "", "directory where BenchmarkDeepBacklog saves the node's heap profiles")
var deepSettle = flag.Duration("deep-settle", 30*time.Second, "how long BenchmarkDeepBacklog waits before the settled RSS reading")

// BenchmarkDeepBacklog produces -deep-messages 1 KiB messages (none
// consumed) into a one-partition queue of one `raftmq serve` node (fsync
// on), reports the node's resident memory, then stops it with SIGTERM,
// starts it again on the same data and reports how long until a consume
// returns messages. It runs once whatever b.N; run it with -benchtime 1x.
func BenchmarkDeepBacklog(b *testing.B) {
	pprofAddr := clustertest.FreePort(b)
	p := clustertest.NewProcess(b, binPath, "n1", "--bootstrap-expect", "1", "--partitions", "1", "--pprof", pprofAddr)
	p.Start(b)
	profile := func(name string) {
		if *deepProfiles == "" {
			return
		}
		code, body, err := fasthttp.Get(nil, "http://"+pprofAddr+"/debug/pprof/heap")
		if err != nil || code != 200 {
			b.Logf("heap profile: %v %d", err, code)
			return
		}
		os.WriteFile(filepath.Join(*deepProfiles, name+".pprof"), body, 0o644)
	}
	client := &fasthttp.Client{MaxConnsPerHost: 64, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second}
	do := func(method, path, body string, want int, out any) bool {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(p.URL() + "/v1.0/bench" + path)
		req.Header.SetMethod(method)
		req.SetBodyString(body)
		if err := client.DoTimeout(req, resp, 60*time.Second); err != nil || resp.StatusCode() != want {
			if method == "GET" {
				return false // polling a restarting node
			}
			b.Logf("%s %s: %v %d %.200s", method, path, err, resp.StatusCode(), resp.Body())
			return false
		}
		if out != nil {
			_ = json.Unmarshal(resp.Body(), out)
		}
		return true
	}
	var q struct{ ID string }
	if !do("POST", "/queues", `{"name":"deep"}`, 201, &q) {
		b.Fatal("create queue")
	}
	var gs struct {
		Groups []struct{ ID string } `json:"groups"`
	}
	if !do("POST", "/queues/"+q.ID+"/groups", `{"groups":[{"name":"g"}]}`, 201, &gs) {
		b.Fatal("create group")
	}
	msg := `{"body":"` + strings.Repeat("x", 1022) + `"}`
	batch := `{"messages":[` + strings.Repeat(msg+",", 9) + msg + `]}`
	requests := *deepMessages / 10
	var next, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(requests) && failed.Load() == 0 {
				if !do("POST", "/queues/"+q.ID+"/messages", batch, 201, nil) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatal("produce failed")
	}
	produce := time.Since(start)
	b.ReportMetric(float64(requests*10)/produce.Seconds(), "produce-msgs/s")
	b.ReportMetric(vmRSSMiB(b, p.Pid()), "rss-after-produce-MiB")
	time.Sleep(*deepSettle) // a measurement interval: let snapshots and the GC settle
	b.ReportMetric(vmRSSMiB(b, p.Pid()), "rss-settled-MiB")
	profile("settled")
	b.ReportMetric(dirMiB(filepath.Join(p.DataDir, "partitions", "wal")), "wal-MiB")
	bodies, _ := filepath.Glob(filepath.Join(p.DataDir, "partitions", "*", "bodies"))
	for _, d := range bodies {
		b.ReportMetric(dirMiB(d), "bodies-MiB")
	}

	p.Stop(b, 60*time.Second)
	restart := time.Now()
	p.StartNoWait(b)
	deadline := restart.Add(5 * time.Minute)
	path := fmt.Sprintf("/queues/%s/groups/%s/messages?max_msgs=10&time_wait=1", q.ID, gs.Groups[0].ID)
	for {
		var ds []json.RawMessage
		if do("GET", path, "", 200, &ds) && len(ds) > 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no message consumed 5 minutes after the restart")
		}
		time.Sleep(100 * time.Millisecond) // polling a condition against a deadline
	}
	b.ReportMetric(time.Since(restart).Seconds(), "restart-to-consume-s")
	b.ReportMetric(vmRSSMiB(b, p.Pid()), "rss-after-restart-MiB")
	profile("restarted")
}

// dirMiB is the size of the files in dir, in MiB.
func dirMiB(dir string) float64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return float64(n) / (1 << 20)
}

// vmRSSMiB reads VmRSS of process pid, in MiB.
func vmRSSMiB(b *testing.B, pid int) float64 {
	b.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
