package partition

import (
	"context"
	"testing"

	"raftmq/fsm"
)

// BenchmarkReplica_Enqueue10 measures produce throughput of one fsync'd
// single-voter partition under concurrent proposers (batches of 10 x 1 KiB).
func BenchmarkReplica_Enqueue10(b *testing.B) {
	ms := startGroup(b, 1)
	r := ms[0].r
	body := make([]byte, 1024)
	for i := range body {
		body[i] = 'a'
	}
	body[0], body[len(body)-1] = '"', '"'
	batch := make([]fsm.Message, 10)
	for i := range batch {
		batch[i] = fsm.Message{Body: body}
	}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Enqueue(context.Background(), batch); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "msgs/s")
}
