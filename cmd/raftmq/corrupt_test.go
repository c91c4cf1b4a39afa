package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// TestServe_RefusesToRunOnACorruptReplica flips a bit inside a stored
// message of a stopped node: started again, the node must exit with an error
// naming the corruption (FAULTS.md T7: recover or refuse, never run on state
// its disk changed).
func TestServe_RefusesToRunOnACorruptReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts raftmq processes")
	}
	p := clustertest.NewProcess(t, binPath, "solo", "--partitions", "1")
	p.Start(t)
	dms := newDMSClient(t, "proj1", p.URL())
	q := dms.createQueue("q", nil)
	const marker = "body-the-disk-will-change"
	if err := dms.produce(0, q, marker); err != nil {
		t.Fatal(err)
	}
	if code := p.Stop(t, 30*time.Second); code != 0 {
		t.Fatalf("stop: exit code %d", code)
	}
	flipped := 0
	filepath.WalkDir(filepath.Join(p.DataDir, "partitions"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || (d.Name() != "raft.db" && !strings.HasSuffix(d.Name(), ".wal")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i := 0; ; {
			k := bytes.Index(b[i:], []byte(marker))
			if k < 0 {
				break
			}
			b[i+k+10] ^= 0x04 // a store may hold stale copies: change every one
			i += k + len(marker)
			flipped++
		}
		return os.WriteFile(path, b, 0o644)
	})
	if flipped == 0 {
		t.Fatalf("the message body is in no partition log under %s", p.DataDir)
	}
	p.StartNoWait(t)
	select {
	case <-p.Exited():
	case <-time.After(60 * time.Second):
		t.Fatalf("the node runs on a corrupt log:\n%s", p.Output())
	}
	out := p.Output()
	if code := p.ExitCode(); code != 1 || !strings.Contains(out, "corrupt") || !strings.Contains(out, "fails its checksum") {
		t.Fatalf("exit code %d; want 1 and an error naming the corruption:\n%s", code, out)
	}
}
