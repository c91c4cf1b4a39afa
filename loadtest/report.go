package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is everything a run measured. It is written as report.json and
// drawn in report.html.
type Report struct {
	Tool         string        `json:"tool"`
	RunID        string        `json:"run_id"`
	Started      time.Time     `json:"started"`
	Finished     time.Time     `json:"finished"`
	ElapsedS     float64       `json:"elapsed_s"`
	Config       ConfigReport  `json:"config"`
	Summary      Summary       `json:"summary"`
	Phases       []PhaseReport `json:"phases"`
	Queues       []QueueReport `json:"queues"` // every queue the run created, in index order
	Errors       []ErrorCount  `json:"errors"` // every failed try of the run, by op, status and code
	Nodes        []NodeReport  `json:"nodes"`  // by target node: tries, errors, latency; warm-up left out
	ErrorTotal   int64         `json:"error_total"`
	Verification Verification  `json:"verification"`
	Fatal        []string      `json:"fatal"`    // why the run failed; empty when it did not
	Warnings     []string      `json:"warnings"` // what went wrong without failing the run
}

// ConfigReport is the resolved configuration of a run.
type ConfigReport struct {
	Targets   []string `json:"targets"`
	Workload  string   `json:"workload"`
	Messages  int      `json:"messages"`
	DurationS float64  `json:"duration_s"`
	Queues    int      `json:"queues"`
	Producers int      `json:"producers"`
	Consumers int      `json:"consumers"`
	Size      int      `json:"size"`
	Batch     int      `json:"batch"`
	Rate      float64  `json:"rate"`
	QueueMode string   `json:"queue_mode"`
	Project   string   `json:"project"`
	QueueID   string   `json:"queue_id"` // the first queue's; Report.Queues has every queue's
	GroupID   string   `json:"group_id"` // the first queue's group
	AckWaitS  int      `json:"ack_wait_s"`
	DedupIDs  bool     `json:"dedup_ids,omitempty"` // every message carried a dedup_id
	Prefill   int      `json:"prefill,omitempty"`   // messages produced to each queue and drained before the measured phases
}

// QueueReport is one of the run's queues: its ids, how many producers and
// consumers used it, and the verification of its messages.
type QueueReport struct {
	ID        string `json:"id"`
	GroupID   string `json:"group_id"`
	Producers int    `json:"producers"`
	Consumers int    `json:"consumers"`
	QueueCounts
	GroupAvailable      int64 `json:"group_available"`       // the group's available_messages at the end; -1 when unread
	GroupConsumed       int64 `json:"group_consumed"`        // the group's consumed_messages at the end; -1 when unread
	FinalPollDeliveries int64 `json:"final_poll_deliveries"` // deliveries of its last poll
}

// PhaseReport is one phase of a run.
type PhaseReport struct {
	Name            string  `json:"name"`
	Kind            string  `json:"kind"`
	TargetMessages  int     `json:"target_messages,omitempty"`
	TargetDurationS float64 `json:"target_duration_s,omitempty"`
	TargetRate      float64 `json:"target_rate,omitempty"` // msg/s offered open loop; 0 closed loop
	OffsetS         float64 `json:"offset_s"`              // start, in seconds since the run started
	DurationS       float64 `json:"duration_s"`
	DrainOffsetS    float64 `json:"drain_offset_s,omitempty"` // prefill: when its drain began, in seconds since the phase started

	Produced        int64 `json:"produced"`   // messages answered 201
	Consumed        int64 `json:"consumed"`   // deliveries
	Acked           int64 `json:"acked"`      // ack entries that succeeded
	AckFailed       int64 `json:"ack_failed"` // ack entries that failed
	ProduceRequests int64 `json:"produce_requests"`
	ConsumeRequests int64 `json:"consume_requests"`
	EmptyConsumes   int64 `json:"empty_consumes"` // consume answers with no message (long polls that timed out)
	AckRequests     int64 `json:"ack_requests"`
	MissedSlots     int64 `json:"missed_slots,omitempty"` // open loop: send slots never used

	// Throughput: messages per second from the phase start to the last
	// completion (for a mixed phase, over at least its duration; for a
	// prefill, consume and ack from the start of its drain).
	ProduceMsgsPerS Metric `json:"produce_msgs_per_s"`
	ConsumeMsgsPerS Metric `json:"consume_msgs_per_s"`
	AckMsgsPerS     Metric `json:"ack_msgs_per_s"`

	Latency     map[string]LatencySummary    `json:"latency"`     // by op: produce, consume, ack, e2e
	Percentiles map[string][]PercentilePoint `json:"percentiles"` // percentile spectrum by op
	Series      []SecondPoint                `json:"series"`      // per second
	Errors      []ErrorCount                 `json:"errors"`
	FailedOps   int64                        `json:"failed_ops"` // operations that failed after their retries
	Failures    []string                     `json:"failures,omitempty"`
	TimedOut    bool                         `json:"timed_out"`
}

// IsWarmup reports whether the phase named name is one of the warm-up
// phases, which pay the new queues' leader elections: the latency charts
// and the per-node figures leave them out.
func IsWarmup(name string) bool { return name == PhaseWarmup || name == PhaseWarmupD }

// Phase returns the phase with the given name, or nil.
func (r *Report) Phase(name string) *PhaseReport {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

// OK reports whether the run passed: nothing lost and no fatal error.
func (r *Report) OK() bool { return r.Verification.Lost == 0 && len(r.Fatal) == 0 }

// Summary holds the figures of the summary line. A figure the workload did
// not measure is NaN (null in JSON).
type Summary struct {
	ProduceMsgsPerS    Metric `json:"produce_msgs_per_s"`     // phase produce: messages answered 201 per second
	ProduceP99Ms       Metric `json:"produce_p99_ms"`         // phase produce: p99 of produce requests
	ConsumeAckMsgsPerS Metric `json:"consume_ack_msgs_per_s"` // phase drain: messages acked per second
	ConsumeP99Ms       Metric `json:"consume_p99_ms"`         // phase drain: p99 of consume requests that returned messages
	MixedE2EMsgsPerS   Metric `json:"mixed_e2e_msgs_per_s"`   // phase mixed (closed loop): messages acked per second
	MixedE2EP99Ms      Metric `json:"mixed_e2e_p99_ms"`       // phase mixed: p99 from produce to delivery
	FixedE2EP50Ms      Metric `json:"fixed_e2e_p50_ms"`       // phase mixed-fixed (open loop): p50 from intended produce to delivery
	FixedE2EP99Ms      Metric `json:"fixed_e2e_p99_ms"`       // phase mixed-fixed: p99
	Lost               int64  `json:"lost"`
	Duplicates         int64  `json:"duplicates"`

	// With --prefill only (the summary line leaves them out otherwise).
	PrefillProduceMsgsPerS Metric `json:"prefill_produce_msgs_per_s"` // phase prefill: messages answered 201 per second
	PrefillDrainMsgsPerS   Metric `json:"prefill_drain_msgs_per_s"`   // phase prefill: messages acked per second from a deep backlog
	Retained               int64  `json:"retained"`                   // messages the prefill stored, retained through the measured phases
}

func summarise(r *Report) Summary {
	s := Summary{
		ProduceMsgsPerS: NaN(), ProduceP99Ms: NaN(), ConsumeAckMsgsPerS: NaN(), ConsumeP99Ms: NaN(),
		MixedE2EMsgsPerS: NaN(), MixedE2EP99Ms: NaN(), FixedE2EP50Ms: NaN(), FixedE2EP99Ms: NaN(),
		Lost: r.Verification.Lost, Duplicates: r.Verification.Duplicates,
		PrefillProduceMsgsPerS: NaN(), PrefillDrainMsgsPerS: NaN(),
	}
	if p := r.Phase(PhasePrefill); p != nil {
		s.PrefillProduceMsgsPerS, s.PrefillDrainMsgsPerS, s.Retained = p.ProduceMsgsPerS, p.AckMsgsPerS, p.Produced
	}
	if p := r.Phase(PhaseProduce); p != nil {
		s.ProduceMsgsPerS, s.ProduceP99Ms = p.ProduceMsgsPerS, p.Latency[OpProduce].P99
	}
	if p := r.Phase(PhaseDrain); p != nil {
		s.ConsumeAckMsgsPerS, s.ConsumeP99Ms = p.AckMsgsPerS, p.Latency[OpConsume].P99
	}
	if p := r.Phase(PhaseMixed); p != nil {
		s.MixedE2EMsgsPerS, s.MixedE2EP99Ms = p.AckMsgsPerS, p.Latency[OpE2E].P99
	}
	if p := r.Phase(PhaseFixed); p != nil {
		s.FixedE2EP50Ms, s.FixedE2EP99Ms = p.Latency[OpE2E].P50, p.Latency[OpE2E].P99
	}
	return s
}

// Line is the one-line summary: space-separated key=value pairs, rates
// rounded to whole messages per second, latencies to 0.01 ms, NaN for what
// the workload did not measure. A run with a prefill phase adds its two
// rates and the retained count at the end (a prefill that stored nothing
// failed the run: its phase timed out).
func (s Summary) Line() string {
	line := fmt.Sprintf("produce_msgs_per_s=%s produce_p99_ms=%s consume_ack_msgs_per_s=%s consume_p99_ms=%s "+
		"mixed_e2e_msgs_per_s=%s mixed_e2e_p99_ms=%s fixed_e2e_p50_ms=%s fixed_e2e_p99_ms=%s lost=%d duplicates=%d",
		rate(s.ProduceMsgsPerS), ms(s.ProduceP99Ms), rate(s.ConsumeAckMsgsPerS), ms(s.ConsumeP99Ms),
		rate(s.MixedE2EMsgsPerS), ms(s.MixedE2EP99Ms), ms(s.FixedE2EP50Ms), ms(s.FixedE2EP99Ms),
		s.Lost, s.Duplicates)
	if s.Retained > 0 {
		line += fmt.Sprintf(" prefill_produce_msgs_per_s=%s prefill_drain_msgs_per_s=%s retained=%d",
			rate(s.PrefillProduceMsgsPerS), rate(s.PrefillDrainMsgsPerS), s.Retained)
	}
	return line
}

func rate(m Metric) string {
	if !m.Valid() {
		return "NaN"
	}
	return fmt.Sprintf("%.0f", float64(m))
}

func ms(m Metric) string {
	if !m.Valid() {
		return "NaN"
	}
	return fmt.Sprintf("%.2f", float64(m))
}

// notMeasured stands in the human summary and the page for a figure the
// run did not measure (NaN in the summary line, null in report.json).
const notMeasured = "not measured"

// humanRate and humanMs are rate and ms for people: "not measured"
// instead of NaN.
func humanRate(m Metric) string {
	if !m.Valid() {
		return notMeasured
	}
	return rate(m)
}

func humanMs(m Metric) string {
	if !m.Valid() {
		return notMeasured
	}
	return ms(m)
}

// humanCount is a counter that may be -1 for "not read".
func humanCount(n int64) string {
	if n < 0 {
		return "not read"
	}
	return fmt.Sprint(n)
}

// ConfigItem is one line of the configuration as shown to people.
type ConfigItem struct{ Name, Value string }

// Items returns the configuration that applies to the workload: the
// message count only where a phase counts messages (produce, drain, w1,
// w2), the duration and the rate only where a phase is timed (mixed, w1,
// w2), the queue's id only when there is one queue.
func (c ConfigReport) Items() []ConfigItem {
	counted := c.Workload != WorkloadMixed
	timed := c.Workload == WorkloadMixed || c.Workload == WorkloadW1 || c.Workload == WorkloadW2
	queues := fmt.Sprintf("%d %s in project %s", c.Queues, c.QueueMode, c.Project)
	if c.Queues == 1 && c.QueueID != "" {
		queues += ": " + c.QueueID
	} else if c.Queues > 1 {
		queues += fmt.Sprintf(", worker k on queue k mod %d", c.Queues)
	}
	items := []ConfigItem{
		{"targets", strings.Join(c.Targets, ", ")},
		{"queues", queues},
		{"producers / consumers", fmt.Sprintf("%d / %d", c.Producers, c.Consumers)},
		{"body size / batch", fmt.Sprintf("%d bytes / %d", c.Size, c.Batch)},
	}
	if counted {
		items = append(items, ConfigItem{"messages", fmt.Sprint(c.Messages)})
	}
	if c.Prefill > 0 {
		items = append(items, ConfigItem{"prefill", fmt.Sprintf("%d per queue, produced then consumed and acked in phase %s; retained through the measured phases", c.Prefill, PhasePrefill)})
	}
	if timed {
		items = append(items, ConfigItem{"duration of each timed phase", fmt.Sprintf("%.1f s", c.DurationS)})
		switch {
		case c.Workload != WorkloadMixed:
			items = append(items, ConfigItem{"offered rate", fmt.Sprintf("%.0f msg/s in phase %s; phase %s closed loop", c.Rate, PhaseFixed, PhaseMixed)})
		case c.Rate > 0:
			items = append(items, ConfigItem{"offered rate", fmt.Sprintf("%.0f msg/s, open loop", c.Rate)})
		default:
			items = append(items, ConfigItem{"offered rate", "closed loop, at maximum"})
		}
	}
	return append(items, ConfigItem{"lease (ack_wait)", fmt.Sprintf("%d s", c.AckWaitS)})
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Files written by WriteFiles.
const (
	FileJSON    = "report.json"
	FileHTML    = "report.html"
	FileSummary = "summary.txt"
)

// WriteFiles writes report.json, report.html and summary.txt (the text
// summary and the summary line) into dir, creating it.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, f func(io.Writer) error) error {
		var b strings.Builder
		if err := f(&b); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644)
	}
	if err := write(FileJSON, r.WriteJSON); err != nil {
		return err
	}
	if err := write(FileHTML, r.WriteHTML); err != nil {
		return err
	}
	return write(FileSummary, func(w io.Writer) error {
		if err := r.WriteText(w); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w, r.Summary.Line())
		return err
	})
}

// WriteText writes the human summary: the run, each phase with its
// throughput and latencies, errors, the verification and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "raftmq loadtest %s (run %s), %.1fs\n", r.Config.Workload, r.RunID, r.ElapsedS)
	for _, it := range r.Config.Items() {
		fmt.Fprintf(&b, "  %-30s %s\n", it.Name, it.Value)
	}
	for _, p := range r.Phases {
		fmt.Fprintf(&b, "\nphase %-12s %6.1fs  produced %d  consumed %d  acked %d", p.Name, p.DurationS, p.Produced, p.Consumed, p.Acked)
		if p.TargetRate > 0 {
			fmt.Fprintf(&b, "  (offered %.0f msg/s)", p.TargetRate)
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "  throughput msg/s: produce %s  consume %s  ack %s\n", humanRate(p.ProduceMsgsPerS), humanRate(p.ConsumeMsgsPerS), humanRate(p.AckMsgsPerS))
		if p.Kind == KindPrefill {
			fmt.Fprintf(&b, "  drain from %.1fs (consume and ack rates from there, on a backlog of %d): %d messages retained from here on\n", p.DrainOffsetS, p.Produced, p.Produced)
		}
		for _, op := range latencyOps {
			l := p.Latency[op]
			if l.Count == 0 {
				continue
			}
			fmt.Fprintf(&b, "  %-8s ms  p50 %8s  p90 %8s  p99 %8s  p99.9 %8s  max %8s  (n=%d)\n",
				op, humanMs(l.P50), humanMs(l.P90), humanMs(l.P99), humanMs(l.P999), humanMs(l.Max), l.Count)
		}
		if p.MissedSlots > 0 {
			fmt.Fprintf(&b, "  %d send slots missed: the producers could not keep up with the offered rate\n", p.MissedSlots)
		}
		if p.TimedOut {
			b.WriteString("  TIMED OUT before its count\n")
		}
	}
	b.WriteString("\nerrors: ")
	if len(r.Errors) == 0 {
		b.WriteString("none\n")
	} else {
		fmt.Fprintf(&b, "%d\n", r.ErrorTotal)
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %-12s status %3d  %-24s %d\n", e.Op, e.Status, e.Code, e.Count)
		}
	}
	writeNodes(&b, r.Nodes)
	v := r.Verification
	fmt.Fprintf(&b, "verification: produced with 201 %d, delivered %d (%d deliveries), lost %d, duplicates %d",
		v.Confirmed, v.Delivered, v.Deliveries, v.Lost, v.Duplicates)
	if v.Unconfirmed > 0 {
		fmt.Fprintf(&b, ", outcome unknown %d (delivered %d)", v.Unconfirmed, v.UnconfirmedDelivered)
	}
	fmt.Fprintf(&b, ", group available at end %s", humanCount(v.GroupAvailable))
	b.WriteString("\n")
	if v.Misrouted > 0 {
		fmt.Fprintf(&b, "  %d deliveries came from a queue the message was not produced to\n", v.Misrouted)
	}
	writeQueues(&b, r.Queues)
	if !v.Complete {
		fmt.Fprintf(&b, "  verification incomplete: the run stopped before the queue was drained; %d messages produced with 201 were not consumed yet (not judged lost)\n", v.Undelivered)
	}
	if len(v.LostSample) > 0 {
		fmt.Fprintf(&b, "  lost, first ids: %s\n", strings.Join(v.LostSample, " "))
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", s)
	}
	for _, s := range r.Fatal {
		fmt.Fprintf(&b, "FATAL: %s\n", s)
	}
	if r.OK() {
		b.WriteString("result: PASS\n")
	} else {
		b.WriteString("result: FAIL\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeNodes writes, for each node the clients talked to, its tries and
// errors, and by operation the latency of the tries it answered.
func writeNodes(b *strings.Builder, nodes []NodeReport) {
	if len(nodes) == 0 {
		return
	}
	b.WriteString("by node (every try, warm-up left out; latency of answered tries, consume with empty long polls):\n")
	fmt.Fprintf(b, "  %-28s %-9s %9s %7s %10s %10s %10s\n", "node", "op", "requests", "errors", "p50 ms", "p99 ms", "max ms")
	for _, n := range nodes {
		fmt.Fprintf(b, "  %-28s %-9s %9d %7d\n", n.Target, "all", n.Requests, n.Errors)
		for _, o := range n.Ops {
			fmt.Fprintf(b, "  %-28s %-9s %9d %7d %10s %10s %10s\n", "", o.Op, o.Requests, o.Errors,
				humanMs(o.Latency.P50), humanMs(o.Latency.P99), humanMs(o.Latency.Max))
		}
	}
}

// writeQueues writes one line per queue when there are several, so that an
// uneven spread or a queue that lost messages shows.
func writeQueues(b *strings.Builder, qs []QueueReport) {
	if len(qs) < 2 {
		return
	}
	for i, q := range qs {
		fmt.Fprintf(b, "  queue %2d %s: producers %d, consumers %d, produced with 201 %d, delivered %d, lost %d, duplicates %d\n",
			i, q.ID, q.Producers, q.Consumers, q.Confirmed, q.Delivered, q.Lost, q.Duplicates)
	}
}
