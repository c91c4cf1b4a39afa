package main

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"raftmq/cluster/clustertest"
)

// startTLSCluster starts three processes serving HTTPS only with a test CA
// (--tls-cert, --tls-key, --tls-ca) and extra flags.
func startTLSCluster(t *testing.T, pki *clustertest.TestPKI, extra ...string) *clustertest.Cluster {
	t.Helper()
	c := &clustertest.Cluster{}
	for i := range 3 {
		p := clustertest.NewProcess(t, binPath, fmt.Sprintf("n%d", i+1))
		p.TLS = pki.ClientTLS()
		c.Nodes = append(c.Nodes, p)
	}
	for _, p := range c.Nodes {
		p.Args = append([]string{"--bootstrap-expect", "3", "--join", c.Nodes[0].Gossip,
			"--tls-cert", pki.CertFile, "--tls-key", pki.KeyFile, "--tls-ca", pki.CAFile}, extra...)
		p.StartNoWait(t)
	}
	for _, p := range c.Nodes {
		p.WaitReady(t, 30*time.Second)
	}
	return c
}

// onNode sends one request through node, retrying a 503 (a leader being
// elected) on the same node until a deadline, so that a success proves that
// node served it.
func onNode(t *testing.T, cl *dmsClient, node int, method, path string, body, out any) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := cl.do(node, method, path, body, out)
		if err == nil {
			return
		}
		if !errors.Is(err, errRetryable) || time.Now().After(deadline) {
			t.Fatalf("%s %s through node %d: %v", method, path, node, err)
		}
		time.Sleep(100 * time.Millisecond) // client back-off between retries
	}
}

// TestCluster_TLS: with --tls-* every node serves HTTPS only and forwards to
// its peers over HTTPS verified against the CA. Queues are created through
// every node (two of three are not the metadata leader and must forward
// the proposal), messages produced through every node to a queue of three
// partitions (most land on another node's leader) and all consumed through
// one node (which gathers from every partition's leader).
func TestCluster_TLS(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	pki := clustertest.NewTestPKI(t)
	c := startTLSCluster(t, pki)
	cl := newDMSClient(t, "tls", baseURLs(c)...)
	cl.http.Transport = &http.Transport{TLSClientConfig: pki.ClientTLS()}

	var queues []string
	for node := range c.Nodes {
		var q struct{ ID string }
		onNode(t, cl, node, "POST", "/queues", map[string]any{"name": fmt.Sprintf("q%d", node)}, &q)
		queues = append(queues, q.ID)
	}
	q := queues[0]
	g := cl.createGroup(q, "g")
	var want []string
	for node := range c.Nodes {
		for k := range 10 {
			v := fmt.Sprintf("n%d-%d", node, k)
			onNode(t, cl, node, "POST", "/queues/"+q+"/messages", map[string]any{"messages": []map[string]any{{"body": v}}}, nil)
			want = append(want, v)
		}
	}
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		var ds []delivered
		onNode(t, cl, 1, "GET", fmt.Sprintf("/queues/%s/groups/%s/messages?max_msgs=10&time_wait=1", q, g), nil, &ds)
		for _, d := range ds {
			got = append(got, d.value())
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %v, want %v", got, want)
	}

	// The command-line client reaches an HTTPS node with --ca, and refuses
	// one it cannot verify without it.
	server := "https://" + c.Nodes[2].HTTP
	out, errOut, code := runBin(t, "", "queue", "list", "--server", server, "--project", "tls", "--ca", pki.CAFile)
	if code != 0 || !strings.Contains(out, "q0") {
		t.Fatalf("raftmq queue list over HTTPS with --ca: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runBin(t, "", "queue", "list", "--server", server, "--project", "tls"); code != 1 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("raftmq queue list over HTTPS without --ca: exit %d, %s", code, errOut)
	}

	// Plain HTTP gets no answer from any node.
	for _, p := range c.Nodes {
		if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + p.HTTP + "/health"); err == nil {
			resp.Body.Close()
			t.Fatalf("plain HTTP to %s answered %d", p.NodeID, resp.StatusCode)
		}
	}
}
