package chaos

import (
	"fmt"
	"strings"
)

// Summary pools the reports of repeated runs of one scenario: the figures of
// docs/RELIABILITY.md's results table.
type Summary struct {
	Scenario        string
	Negative        bool
	Runs, Passed    int
	Seeds           []uint64
	DurationS       float64 // total, every phase
	ProducedOK      int
	ProducedUnknown int
	Faults          int
	Lost            int
	DupExplained    int
	DupUnexplained  int
	OtherViolations int // every other safety counter of Verdict
	Replicas        int
	Mismatches      int
	Elections       int
	Refused         int
	recovery        []float64 // produce recovery of every timed fault, every run
}

// Summarise groups reports by scenario (and negative control), in first-seen
// order.
func Summarise(reps []*Report) []*Summary {
	var out []*Summary
	by := map[string]*Summary{}
	for _, r := range reps {
		key := fmt.Sprintf("%s/%v", r.Scenario, r.Negative)
		s := by[key]
		if s == nil {
			s = &Summary{Scenario: r.Scenario, Negative: r.Negative}
			by[key] = s
			out = append(out, s)
		}
		v := r.Verdict
		s.Runs++
		if r.Passed() {
			s.Passed++
		}
		s.Seeds = append(s.Seeds, r.Seed)
		s.DurationS += r.DurationS
		s.ProducedOK += v.ProducedOK
		s.ProducedUnknown += v.ProducedUnknown
		s.Faults += r.Faults
		s.Lost += v.Lost
		s.DupExplained += v.DupExplained
		s.DupUnexplained += v.DupUnexplained
		s.OtherViolations += v.otherViolations()
		s.Replicas += r.ReplicasCompared
		s.Mismatches += len(r.DigestMismatches)
		s.Elections += r.Elections
		s.Refused += len(r.Refused)
		for _, a := range r.Availability {
			if a.ProduceS >= 0 && !endsFault(a.Fault) {
				s.recovery = append(s.recovery, a.ProduceS)
			}
		}
	}
	return out
}

// Row is the summary as a row of the results table (Markdown).
func (s *Summary) Row() string {
	name := s.Scenario
	if s.Negative {
		name += " negative control"
	}
	seeds := make([]string, len(s.Seeds))
	for i, x := range s.Seeds {
		seeds[i] = fmt.Sprint(x)
	}
	rec := "-"
	if len(s.recovery) > 0 {
		rec = fmt.Sprintf("%.2f s / %.2f s", quantile(s.recovery, 0.5), quantile(s.recovery, 0.99))
	}
	return fmt.Sprintf("| %s | %d (seeds %s), %d passed | %.0f s | %d / %d | %d | **%d** | %d / %d | %d | %d (%d) | %d | %d | %s |",
		name, s.Runs, strings.Join(seeds, ", "), s.Passed, s.DurationS, s.ProducedOK, s.ProducedUnknown, s.Faults,
		s.Lost, s.DupExplained, s.DupUnexplained, s.OtherViolations, s.Replicas, s.Mismatches, s.Elections, s.Refused, rec)
}

// SummaryHeader is the results table's header for Row.
const SummaryHeader = "| Scenario | Runs | Total time | Produced (201 / unknown) | Faults | Lost | Duplicates explained / unexplained | Other safety violations | Replicas compared (mismatches) | Elections | Refused to start | Recovery after fault: produce p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
