package chaos

import (
	"strings"
	"testing"
)

func TestSummarise_PoolsRunsOfAScenario(t *testing.T) {
	pass := &Report{Scenario: "T6", Seed: 1, DurationS: 100, Faults: 4, ReplicasCompared: 21, Elections: 3,
		Verdict:      Verdict{ProducedOK: 10, DupExplained: 2},
		Availability: []Availability{{Fault: "power-loss", ProduceS: 1}, {Fault: "restart", ProduceS: 9}}}
	fail := &Report{Scenario: "T6", Seed: 2, DurationS: 50, Faults: 1, ReplicasCompared: 21,
		Verdict:      Verdict{ProducedOK: 5, Lost: 2, AckedTwice: 1, DupUnexplained: 1},
		Availability: []Availability{{Fault: "power-loss", ProduceS: 3}}}
	neg := &Report{Scenario: "T6", Seed: 3, Negative: true, Verdict: Verdict{Lost: 7}}
	sums := Summarise([]*Report{pass, fail, neg})
	if len(sums) != 2 {
		t.Fatalf("%d summaries, want T6 and its negative control apart", len(sums))
	}
	s := sums[0]
	if s.Runs != 2 || s.Passed != 1 || s.Lost != 2 || s.OtherViolations != 1 || s.DupUnexplained != 1 || s.Elections != 3 ||
		s.Faults != 5 || s.Replicas != 42 || len(s.recovery) != 2 {
		t.Fatalf("summary %+v", s)
	}
	row := s.Row()
	for _, want := range []string{"| T6 |", "2 (seeds 1, 2), 1 passed", "150 s", "**2**", "| 2 / 1 |", "1.00 s / 3.00 s"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	if n := strings.Count(row, "|"); n != strings.Count(strings.SplitN(SummaryHeader, "\n", 2)[0], "|") {
		t.Errorf("row has %d cells, the header another number", n)
	}
	if sums[1].Passed != 1 || !strings.Contains(sums[1].Row(), "T6 negative control") {
		t.Errorf("negative control %+v", sums[1])
	}
}
