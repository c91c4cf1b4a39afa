package loadtest

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

func TestDedup_BodyCarriesUniqueValidIDs(t *testing.T) {
	b := appendProduceDedup(nil, "0a1b2c", 3, 40, 10, time.Unix(5, 0), 200)
	var req struct {
		Messages []struct {
			DedupID string          `json:"dedup_id"`
			Body    json.RawMessage `json:"body"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(b, &req); err != nil || len(req.Messages) != 10 {
		t.Fatalf("%v: %s", err, b)
	}
	valid := regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
	seen := map[string]bool{}
	for i, m := range req.Messages {
		if !valid.MatchString(m.DedupID) || seen[m.DedupID] {
			t.Fatalf("dedup_id %q invalid or repeated", m.DedupID)
		}
		seen[m.DedupID] = true
		p, s, _, err := parseBody(m.Body)
		if err != nil || p != 3 || s != uint32(40+i) || len(m.Body) != 200 {
			t.Fatalf("body %d: %s (%v)", i, m.Body, err)
		}
	}
}

func TestLoadtest_DedupIDsRunStoresEachOnce(t *testing.T) {
	url := startNode(t)
	rep := mustRun(t, Config{Targets: []string{url}, Workload: WorkloadDrain, Messages: 300, Producers: 2, Consumers: 2, DedupIDs: true})
	if !rep.Config.DedupIDs || rep.Verification.Confirmed < 300 {
		t.Fatalf("config %+v, verification %+v", rep.Config, rep.Verification)
	}
}
