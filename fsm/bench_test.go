package fsm

import (
	"bytes"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

var benchPolicy = Policy{MaxConsumeCount: 5, RetentionMs: 10_000}

// benchMessages returns n messages of 1 KiB sharing one body, so that the
// benchmark measures the state machine rather than the allocator.
func benchMessages(n int) []Message {
	body := bytes.Repeat([]byte("x"), 1024)
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Body: body}
	}
	return msgs
}

func ackAll(ds []Delivery) []AckItem {
	items := make([]AckItem, len(ds))
	for i, d := range ds {
		items[i] = AckItem{Offset: d.Offset, DeliveryID: d.DeliveryID, Success: true}
	}
	return items
}

// BenchmarkState_EnqueueLeaseAck10 is the steady state of one partition: each
// iteration enqueues 10 × 1 KiB, leases them and acks them. The clock moves
// 1 ms per iteration and retention is 10 s, so the log stays bounded.
func BenchmarkState_EnqueueLeaseAck10(b *testing.B) {
	s := NewState()
	msgs := benchMessages(10)
	var idx uint64
	now := int64(1_700_000_000_000)
	b.ReportAllocs()
	for b.Loop() {
		now++
		idx++
		s.Apply(idx, &Enqueue{Header: Header{Now: now, Policy: benchPolicy}, Messages: msgs})
		idx++
		res := s.Apply(idx, &Lease{Header: Header{Now: now, Policy: benchPolicy}, Group: "g", Max: 10, MaxBytes: MaxLeaseBytes, AckWaitMs: 30_000}).(LeaseResult)
		if len(res.Deliveries) != 10 {
			b.Fatalf("leased %d", len(res.Deliveries))
		}
		idx++
		if ack := s.Apply(idx, &Ack{Header: Header{Now: now, Policy: benchPolicy}, Group: "g", Items: ackAll(res.Deliveries)}).(AckResult); ack.Success != 10 {
			b.Fatalf("ack %+v", ack)
		}
	}
	b.ReportMetric(float64(b.N)*10/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkState_Enqueue10(b *testing.B) {
	s := NewState()
	msgs := benchMessages(10)
	var idx uint64
	now := int64(1_700_000_000_000)
	b.ReportAllocs()
	for b.Loop() {
		now++
		idx++
		s.Apply(idx, &Enqueue{Header: Header{Now: now, Policy: benchPolicy}, Messages: msgs})
	}
	b.ReportMetric(float64(b.N)*10/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkState_Lease10 leases 10 new messages per iteration from a log
// filled beforehand; nothing is acked, so live leases pile up as they would
// under a slow consumer.
func BenchmarkState_Lease10(b *testing.B) {
	s := NewState()
	now := int64(1_700_000_000_000)
	s.Apply(1, &Enqueue{Header: Header{Now: now, Policy: benchPolicy}, Messages: benchMessages(10 * b.N)})
	idx := uint64(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx++
		res := s.Apply(idx, &Lease{Header: Header{Now: now, Policy: benchPolicy}, Group: "g", Max: 10, MaxBytes: MaxLeaseBytes, AckWaitMs: 300_000}).(LeaseResult)
		if len(res.Deliveries) != 10 {
			b.Fatalf("leased %d", len(res.Deliveries))
		}
	}
	b.ReportMetric(float64(b.N)*10/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkState_Ack10 acks 10 deliveries per iteration, leased beforehand.
func BenchmarkState_Ack10(b *testing.B) {
	s := NewState()
	now := int64(1_700_000_000_000)
	s.Apply(1, &Enqueue{Header: Header{Now: now, Policy: benchPolicy}, Messages: benchMessages(10 * b.N)})
	acks := make([]*Ack, b.N)
	idx := uint64(1)
	for i := range acks {
		idx++
		res := s.Apply(idx, &Lease{Header: Header{Now: now, Policy: benchPolicy}, Group: "g", Max: 10, MaxBytes: MaxLeaseBytes, AckWaitMs: 300_000}).(LeaseResult)
		acks[i] = &Ack{Header: Header{Now: now, Policy: benchPolicy}, Group: "g", Items: ackAll(res.Deliveries)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx++
		if res := s.Apply(idx, acks[i]).(AckResult); res.Success != 10 {
			b.Fatalf("ack %+v", res)
		}
	}
	b.ReportMetric(float64(b.N)*10/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkFSM_ApplyBatch measures the raft adapter, decoding included: one
// batch of 64 entries (enqueue, lease, ack, ...) per iteration.
func BenchmarkFSM_ApplyBatch(b *testing.B) {
	f := NewFSM("bench", nil)
	msgs := benchMessages(10)
	var idx uint64
	now := int64(1_700_000_000_000)
	logs := make([]*raft.Log, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		logs = logs[:0]
		for range 21 {
			now++
			for _, c := range []Command{
				&Enqueue{Header: Header{Now: now, Policy: benchPolicy}, Messages: msgs},
				&Lease{Header: Header{Now: now, Policy: benchPolicy}, Group: "g", Max: 10, MaxBytes: MaxLeaseBytes, AckWaitMs: 30_000},
			} {
				idx++
				data, _ := Encode(c)
				logs = append(logs, &raft.Log{Index: idx, Type: raft.LogCommand, Data: data})
			}
			// The ack names the deliveries the lease above will make.
			items := make([]AckItem, 10)
			for i := range items {
				items[i] = AckItem{Offset: idx/3*10 + uint64(i), DeliveryID: idx, Success: true}
			}
			idx++
			data, _ := Encode(&Ack{Header: Header{Now: now, Policy: benchPolicy}, Group: "g", Items: items})
			logs = append(logs, &raft.Log{Index: idx, Type: raft.LogCommand, Data: data})
		}
		res := f.ApplyBatch(logs)
		if ack := res[len(res)-1].(AckResult); ack.Success != 10 {
			b.Fatalf("ack %+v", ack)
		}
	}
	b.ReportMetric(float64(b.N)*21*10/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkEncode_Enqueue10(b *testing.B) {
	c := &Enqueue{Header: Header{Now: 1_700_000_000_000, Policy: benchPolicy}, Messages: benchMessages(10)}
	buf := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendEncode(buf[:0], c); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecode_Enqueue10(b *testing.B) {
	data, _ := Encode(&Enqueue{Header: Header{Now: 1_700_000_000_000, Policy: benchPolicy}, Messages: benchMessages(10)})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAck() *Ack {
	items := make([]AckItem, 10)
	for i := range items {
		items[i] = AckItem{Offset: 1_000_000 + uint64(i), DeliveryID: 5_000_000, Success: true}
	}
	return &Ack{Header: Header{Now: 1_700_000_000_000, Policy: benchPolicy}, Group: "g-7d6f0d2e-1c1b-4a39-9a57-3c1f4f1e2b10", Items: items}
}

func BenchmarkEncode_Ack10(b *testing.B) {
	c := benchAck()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendEncode(buf[:0], c)
	}
}

func BenchmarkDecode_Ack10(b *testing.B) {
	data, _ := Encode(benchAck())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkState_Snapshot writes the snapshot of a state holding 10,000
// retained 1 KiB messages with one group half way through.
func BenchmarkState_Snapshot(b *testing.B) {
	s := NewState()
	s.Apply(1, &Enqueue{Header: Header{Now: 1, Policy: benchPolicy}, Messages: benchMessages(10_000)})
	for i := uint64(2); i < 500; i++ {
		s.Apply(i, &Lease{Header: Header{Now: 2, Policy: benchPolicy}, Group: "g", Max: 10, MaxBytes: MaxLeaseBytes, AckWaitMs: 30_000})
	}
	n, _ := s.WriteTo(io.Discard)
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
