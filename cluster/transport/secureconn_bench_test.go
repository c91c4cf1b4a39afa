package transport

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// BenchmarkRaftConn measures what the keyed framing costs a Raft stream:
// 32 KiB writes (a typical flushed AppendEntries batch) over loopback TCP,
// plain and sealed.
func BenchmarkRaftConn(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		name := "open"
		var keys [][]byte
		if keyed {
			name, keys = "keyed", [][]byte{testKey(b)}
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			m, err := NewMux(ln, MuxConfig{ClusterKeys: keys})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			l, _ := m.Layer("g")
			c, err := l.Dial(raft.ServerAddress(ln.Addr().String()), time.Second)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			go func() {
				// Accepted after the first write: an open connection is
				// handed over once its first byte came.
				s, err := l.Accept()
				if err == nil {
					defer s.Close()
					io.Copy(io.Discard, s)
				}
			}()
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInternalSeal measures sealing and opening one node-to-node
// request and its answer (both sides' work).
func BenchmarkInternalSeal(b *testing.B) {
	kr := mustKeyring(b, testKey(b))
	body := make([]byte, 1024)
	b.ReportAllocs()
	for range b.N {
		auth, sealed, s, err := SealRequest(kr.Primary(), "command", body, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		rs, _, err := OpenRequest(kr, "command", auth, sealed, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.OpenAnswer(200, rs.SealAnswer(200, body)); err != nil {
			b.Fatal(err)
		}
	}
}
