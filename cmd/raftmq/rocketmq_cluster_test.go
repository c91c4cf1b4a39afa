package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mq "github.com/aliyunmq/mq-http-go-sdk"

	"raftmq/cluster/clustertest"
)

// TestCluster_RocketMQOfficialClient drives a three-process cluster with the
// unmodified official RocketMQ HTTP client: it publishes through every node,
// consumes through another, acks through a third, and checks that a receipt
// handle is single use across nodes and that a wrong secret is refused.
func TestCluster_RocketMQOfficialClient(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("AK_C SK_C INST_C\nAK_ADMIN SK_ADMIN *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := clustertest.StartCluster(t, binPath, 3, "--credentials", creds)
	// The topic is a DMS queue of the instance's project.
	newDMSClient(t, "INST_C", baseURLs(c)...).signedAs("AK_C", "SK_C").createQueue("TopicC", nil)
	// The DMS door is closed to strangers too, on every node; the admin
	// key opens the node endpoints.
	for _, p := range c.Nodes {
		for path, want := range map[string]int{"/v1.0/INST_C/queues": 401, "/v1/cluster": 401, "/v1/digests": 401, "/health": 200} {
			resp, err := http.Get(p.URL() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("anonymous GET %s%s: %d, want %d", p.URL(), path, resp.StatusCode, want)
			}
		}
		req, _ := http.NewRequest("GET", p.URL()+"/v1/cluster", nil)
		req.Header.Set("Authorization", "Bearer AK_ADMIN:SK_ADMIN")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("admin GET %s/v1/cluster: %d", p.URL(), resp.StatusCode)
		}
	}

	clients := make([]mq.MQClient, len(c.Nodes))
	for i, p := range c.Nodes {
		clients[i] = mq.NewAliyunMQClient(p.URL(), "AK_C", "SK_C", "")
	}
	var want []string
	for i, cl := range clients {
		for k := 0; k < 5; k++ {
			body := fmt.Sprintf("via-%d-%d", i, k)
			if _, err := cl.GetProducer("INST_C", "TopicC").PublishMessage(mq.PublishMessageRequest{MessageBody: body, MessageTag: "T"}); err != nil {
				t.Fatalf("publish through %s: %v", c.Nodes[i].NodeID, err)
			}
			want = append(want, body)
		}
	}
	var got []string
	var handles []string
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; len(got) < len(want) && time.Now().Before(deadline); round++ {
		cons := clients[round%3].GetConsumer("INST_C", "TopicC", "GID_C", "T")
		resp := make(chan mq.ConsumeMessageResponse, 1)
		errs := make(chan error, 1)
		cons.ConsumeMessage(resp, errs, 16, 1)
		select {
		case r := <-resp:
			var hs []string
			for _, m := range r.Messages {
				got = append(got, m.MessageBody)
				hs = append(hs, m.ReceiptHandle)
			}
			// Ack through the next node.
			if err := clients[(round+1)%3].GetConsumer("INST_C", "TopicC", "GID_C", "T").AckMessage(hs); err != nil {
				t.Fatalf("ack through %s: %v", c.Nodes[(round+1)%3].NodeID, err)
			}
			handles = append(handles, hs...)
		case err := <-errs:
			if !strings.Contains(err.Error(), "MessageNotExist") {
				t.Fatalf("consume through %s: %v", c.Nodes[round%3].NodeID, err)
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %v, want %v", got, want)
	}
	// A used handle is refused through any node.
	if err := clients[2].GetConsumer("INST_C", "TopicC", "GID_C", "T").AckMessage(handles[:1]); err == nil {
		t.Fatal("second ack of a used receipt handle succeeded")
	}
	// A wrong secret is refused.
	bad := mq.NewAliyunMQClient(c.Nodes[0].URL(), "AK_C", "wrong", "")
	if _, err := bad.GetProducer("INST_C", "TopicC").PublishMessage(mq.PublishMessageRequest{MessageBody: "x"}); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret: %v, want SignatureDoesNotMatch", err)
	}
}
