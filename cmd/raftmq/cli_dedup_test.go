package main

import (
	"testing"

	"raftmq/cluster/clustertest"
)

// send --dedup-prefix run twice (an operator retrying after an unknown
// outcome) stores each message once.
func TestCLI_SendWithDedupPrefixIsIdempotent(t *testing.T) {
	p := clustertest.NewProcess(t, binPath, "n1")
	p.Start(t)
	srv := "--server=" + p.URL()
	mustRun(t, "", "queue", "create", "ledger", srv)
	var first, again struct {
		Sent int      `json:"sent"`
		IDs  []string `json:"ids"`
	}
	decode(t, mustRun(t, "a\nb\nc\n", "send", "ledger", "--dedup-prefix", "batch-7", "-o", "json", srv), &first)
	decode(t, mustRun(t, "a\nb\nc\n", "send", "ledger", "--dedup-prefix", "batch-7", "-o", "json", srv), &again)
	if first.Sent != 3 || len(again.IDs) != 3 || again.IDs[0] != first.IDs[0] || again.IDs[2] != first.IDs[2] {
		t.Fatalf("first %+v, again %+v", first, again)
	}
	var q queueInfo
	decode(t, mustRun(t, "", "queue", "show", "ledger", "-o", "json", srv), &q)
	if q.Produced != 3 {
		t.Fatalf("produced %d, want 3", q.Produced)
	}
	if _, _, code := runBin(t, "", "send", "ledger", "x", "--dedup-prefix", "bad prefix", srv); code == 0 {
		t.Fatal("an invalid dedup prefix was accepted")
	}
}
