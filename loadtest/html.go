package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes a self-contained page: inline CSS and inline SVG charts
// (throughput over time, latency percentile spectra), tables of every
// figure, no script and no external resource, so it opens offline.
func (r *Report) WriteHTML(w io.Writer) error {
	v := htmlView{R: r, Line: r.Summary.Line(), OK: r.OK()}
	v.Throughput = template.HTML(throughputChart(r))
	for _, op := range latencyOps {
		if svg := percentileChart(r, op); svg != "" {
			v.Latency = append(v.Latency, template.HTML(svg))
		}
	}
	for _, p := range r.Phases {
		for _, op := range latencyOps {
			if l := p.Latency[op]; l.Count > 0 {
				v.Rows = append(v.Rows, latencyRow{Phase: p.Name, Op: op, L: l})
			}
		}
	}
	return pageTemplate.Execute(w, v)
}

type htmlView struct {
	R          *Report
	Line       string
	OK         bool
	Throughput template.HTML
	Latency    []template.HTML
	Rows       []latencyRow
}

type latencyRow struct {
	Phase, Op string
	L         LatencySummary
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"rate":   humanRate,
	"ms":     humanMs,
	"count":  humanCount,
	"warmup": IsWarmup,
	"f1":     func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"join":   strings.Join,
	"errsum": func(es []ErrorCount) int64 {
		var n int64
		for _, e := range es {
			n += e.Count
		}
		return n
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>raftmq loadtest {{.R.Config.Workload}} {{.R.RunID}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:980px;color:#1d2430;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
td,th{padding:3px 10px;border-bottom:1px solid #eceff4;text-align:right}th{background:#f5f7fa}
td:first-child,th:first-child,td.l{text-align:left}
code{background:#f2f4f8;padding:2px 5px;border-radius:3px;font-size:12.5px;word-break:break-all}
.verdict{padding:10px 14px;border-radius:6px;margin:12px 0}.pass{background:#e7f6ec;border:1px solid #9fd5b0}.fail{background:#fdeaea;border:1px solid #e9a5a5}
.muted{color:#68758a}svg{display:block;margin:8px 0}svg text{font:11px system-ui,sans-serif;fill:#3b4556}
</style></head><body>
<h1>raftmq loadtest: {{.R.Config.Workload}}</h1>
<div class="muted">run {{.R.RunID}} · {{.R.Started.Format "2006-01-02 15:04:05 MST"}} · {{f1 .R.ElapsedS}} s · targets {{join .R.Config.Targets ", "}}</div>
<div class="verdict {{if .OK}}pass{{else}}fail{{end}}"><b>{{if .OK}}PASS{{else}}FAIL{{end}}</b> ·
lost {{.R.Verification.Lost}} · duplicates {{.R.Verification.Duplicates}} · errors {{.R.ErrorTotal}}<br><code>{{.Line}}</code>
{{range .R.Fatal}}<div><b>fatal:</b> {{.}}</div>{{end}}{{range .R.Warnings}}<div>warning: {{.}}</div>{{end}}</div>

<h2>Configuration</h2>
<table>
{{range .R.Config.Items}}<tr><td>{{.Name}}</td><td class="l">{{.Value}}</td></tr>
{{end}}</table>

<h2>Throughput over time</h2>
{{.Throughput}}

<h2>Phases</h2>
<table><tr><th>phase</th><th>time s</th><th>produced</th><th>consumed</th><th>acked</th><th>produce msg/s</th><th>consume msg/s</th><th>ack msg/s</th><th>errors</th></tr>
{{range .R.Phases}}<tr><td>{{.Name}}{{if .TargetRate}} ({{.TargetRate}} msg/s){{end}}{{if .DrainOffsetS}} (drain from {{f1 .DrainOffsetS}} s; consume and ack msg/s from there){{end}}{{if .TimedOut}} <b>timed out</b>{{end}}</td><td>{{f1 .DurationS}}</td><td>{{.Produced}}</td><td>{{.Consumed}}</td><td>{{.Acked}}</td>
<td>{{rate .ProduceMsgsPerS}}</td><td>{{rate .ConsumeMsgsPerS}}</td><td>{{rate .AckMsgsPerS}}</td><td>{{errsum .Errors}}</td></tr>
{{end}}</table>
{{if .R.Summary.Retained}}<p>Prefill: {{.R.Summary.Retained}} messages produced, then consumed and acked, before the measured phases; they stay retained through them (drain rate {{rate .R.Summary.PrefillDrainMsgsPerS}} msg/s from the full backlog).</p>
{{end}}
<h2>Latency (ms)</h2>
<table><tr><th>phase</th><th>op</th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{{range .Rows}}<tr><td>{{.Phase}}{{if warmup .Phase}} <span class="muted">(warm-up: not charted)</span>{{end}}</td><td class="l">{{.Op}}</td><td>{{.L.Count}}</td><td>{{ms .L.Mean}}</td><td>{{ms .L.P50}}</td><td>{{ms .L.P90}}</td><td>{{ms .L.P99}}</td><td>{{ms .L.P999}}</td><td>{{ms .L.Max}}</td></tr>
{{end}}</table>
<p class="muted">produce: one request of up to {{.R.Config.Batch}} messages, send to 201. consume: one request that returned messages. ack: one ordered batch ack. e2e: one message, from the produce timestamp in its body (the intended send time under open loop) to its delivery. The charts leave out the warm-up phases, which pay the new queues' leader elections.</p>
{{range .Latency}}{{.}}{{end}}

<h2>By node</h2>
{{if .R.Nodes}}<table><tr><th>node</th><th>op</th><th>requests</th><th>errors</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>
{{range .R.Nodes}}<tr><td><b>{{.Target}}</b></td><td class="l">all</td><td>{{.Requests}}</td><td>{{.Errors}}</td><td></td><td></td><td></td><td></td></tr>
{{range .Ops}}<tr><td></td><td class="l">{{.Op}}</td><td>{{.Requests}}</td><td>{{.Errors}}</td><td>{{ms .Latency.P50}}</td><td>{{ms .Latency.P90}}</td><td>{{ms .Latency.P99}}</td><td>{{ms .Latency.Max}}</td></tr>
{{end}}{{end}}</table>
<p class="muted">Every try (retries included) by the node it was sent to, warm-up phases left out. Errors: tries without an answer or answered with an error status. Latency: tries the node answered, from send to answer; consume includes long polls that came back empty.</p>
{{else}}<p>no request was sent in a measured phase</p>{{end}}

<h2>Errors</h2>
{{if .R.Errors}}<table><tr><th>op</th><th>status</th><th>code</th><th>count</th></tr>
{{range .R.Errors}}<tr><td>{{.Op}}</td><td>{{.Status}}</td><td class="l">{{.Code}}</td><td>{{.Count}}</td></tr>
{{end}}</table>{{else}}<p>none</p>{{end}}

<h2>Verification</h2>
<table>
<tr><td>produced with 201</td><td>{{.R.Verification.Confirmed}}</td></tr>
<tr><td>delivered (distinct)</td><td>{{.R.Verification.Delivered}}</td></tr>
<tr><td>deliveries</td><td>{{.R.Verification.Deliveries}}</td></tr>
<tr><td>lost (201, never consumed)</td><td>{{.R.Verification.Lost}}{{if not .R.Verification.Complete}} (not judged: the run stopped before the queue was drained; {{.R.Verification.Undelivered}} not consumed yet){{end}}</td></tr>
<tr><td>duplicate deliveries</td><td>{{.R.Verification.Duplicates}}</td></tr>
<tr><td>deliveries from a queue the message was not produced to</td><td>{{.R.Verification.Misrouted}}</td></tr>
<tr><td>of messages whose produce was retried</td><td>{{.R.Verification.DuplicatesOfRetried}}</td></tr>
<tr><td>outcome unknown / of those delivered</td><td>{{.R.Verification.Unconfirmed}} / {{.R.Verification.UnconfirmedDelivered}}</td></tr>
<tr><td>refused (4xx)</td><td>{{.R.Verification.Rejected}}</td></tr>
<tr><td>deliveries in the final poll</td><td>{{.R.Verification.FinalPollDeliveries}}</td></tr>
<tr><td>group available / consumed at the end</td><td>{{count .R.Verification.GroupAvailable}} / {{count .R.Verification.GroupConsumed}}</td></tr>
</table>
{{if gt (len .R.Queues) 1}}<h3>By queue</h3>
<table><tr><th>queue</th><th>id</th><th>producers</th><th>consumers</th><th>produced with 201</th><th>delivered</th><th>lost</th><th>duplicates</th><th>group available / consumed at the end</th></tr>
{{range $i, $q := .R.Queues}}<tr><td>{{$i}}</td><td class="l"><code>{{$q.ID}}</code></td><td>{{$q.Producers}}</td><td>{{$q.Consumers}}</td><td>{{$q.Confirmed}}</td><td>{{$q.Delivered}}</td><td>{{$q.Lost}}</td><td>{{$q.Duplicates}}</td><td>{{count $q.GroupAvailable}} / {{count $q.GroupConsumed}}</td></tr>
{{end}}</table>{{end}}
{{if .R.Verification.LostSample}}<p>first lost ids: {{join .R.Verification.LostSample " "}}</p>{{end}}
</body></html>
`))

// palette colours lines by series or phase.
var palette = [...]string{"#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                 = 940, 300
	padL, padR, padT, padB         = 64, 150, 24, 40
	plotW, plotH                   = chartW - padL - padR, chartH - padT - padB
	minLatencyMs           float64 = 0.01
)

type svgBuilder struct{ strings.Builder }

func (b *svgBuilder) f(format string, a ...any) { fmt.Fprintf(&b.Builder, format, a...) }

func esc(s string) string { return template.HTMLEscapeString(s) }

// niceStep returns a round step that divides span into about n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// throughputChart draws produced and acked messages per second along the
// run's time line, one segment per phase, with the phases marked.
func throughputChart(r *Report) string {
	var maxT, maxY float64
	for _, p := range r.Phases {
		maxT = max(maxT, p.OffsetS+p.DurationS)
		for _, pt := range p.Series {
			if _, v, ok := perSecond(p, pt, max(pt.Produced, pt.Acked)); ok {
				maxY = max(maxY, v)
			}
		}
	}
	if len(r.Phases) == 0 || maxT <= 0 {
		return `<p class="muted">no phase ran</p>`
	}
	maxY = max(maxY, 1)
	ystep := niceStep(maxY, 5)
	maxY = math.Ceil(maxY/ystep) * ystep
	x := func(t float64) float64 { return padL + t/maxT*plotW }
	y := func(v float64) float64 { return padT + plotH - v/maxY*plotH }

	var b svgBuilder
	b.f(`<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="throughput over time">`, chartW, chartH)
	b.f(`<text x="%d" y="14">messages per second</text>`, padL)
	for v := 0.0; v <= maxY+ystep/2; v += ystep {
		b.f(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e8ee"/>`, padL, padL+plotW, y(v), y(v))
		b.f(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y(v)+4, trimFloat(v))
	}
	tstep := niceStep(maxT, 8)
	for t := 0.0; t <= maxT+tstep/100; t += tstep {
		b.f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(t), padT+plotH+16, trimFloat(t))
	}
	b.f(`<text x="%d" y="%d" text-anchor="middle">seconds since start</text>`, padL+plotW/2, chartH-4)
	for i, p := range r.Phases {
		fill := "#f7f9fc"
		if i%2 == 1 {
			fill = "#eef2f8"
		}
		b.f(`<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`, x(p.OffsetS), padT, x(p.OffsetS+p.DurationS)-x(p.OffsetS), plotH, fill)
		// Label a band only where the name fits (about 6.5 units a letter).
		if w := x(p.OffsetS+p.DurationS) - x(p.OffsetS); w > 6.5*float64(len(p.Name))+6 {
			b.f(`<text x="%.1f" y="%d">%s</text>`, x(p.OffsetS)+3, padT+12, esc(p.Name))
		}
	}
	lines := []struct {
		name  string
		color string
		v     func(SecondPoint) int64
	}{
		{"produced (201)", palette[0], func(p SecondPoint) int64 { return p.Produced }},
		{"acked", palette[1], func(p SecondPoint) int64 { return p.Acked }},
		{"errors", palette[2], func(p SecondPoint) int64 { return p.Errors }},
	}
	for li, l := range lines {
		for _, p := range r.Phases {
			var pts, dots []string
			seen := false
			for _, pt := range p.Series {
				t, v, ok := perSecond(p, pt, l.v(pt))
				if !ok {
					continue
				}
				seen = seen || v > 0
				px, py := x(t), y(math.Min(v, maxY))
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
				dots = append(dots, fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="2.2" fill="%s"/>`, px, py, l.color))
			}
			if seen {
				if len(pts) == 1 {
					pts = append(pts, pts[0])
				}
				b.f(`<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`, l.color, strings.Join(pts, " "))
				b.WriteString(strings.Join(dots, ""))
			}
		}
		ly := padT + 14 + li*18
		b.f(`<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>`, padL+plotW+12, padL+plotW+32, ly, ly, l.color)
		b.f(`<text x="%d" y="%d">%s</text>`, padL+plotW+38, ly+4, esc(l.name))
	}
	b.f(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#b8c0cc"/>`, padL, padT, plotW, plotH)
	b.f(`</svg>`)
	return b.String()
}

// perSecond places a per-second count on the run's time line, at the
// middle of its second. A phase's last second is partial: its count is
// scaled to a rate, or left out (ok false) when too short to mean much.
func perSecond(p PhaseReport, pt SecondPoint, n int64) (t, v float64, ok bool) {
	t, v = p.OffsetS+float64(pt.T)+0.5, float64(n)
	if part := p.DurationS - float64(pt.T); part < 1 {
		if part < 0.5 {
			return 0, 0, false
		}
		t, v = p.OffsetS+float64(pt.T)+part/2, v/part
	}
	return t, v, true
}

// percentileX places a percentile on the HDR log axis: 0 at 0 %, 1 at
// 90 %, 2 at 99 %, …; the maximum at 6 (beyond 99.999 %).
func percentileX(p float64) float64 {
	if p >= 100 {
		return 6
	}
	return math.Min(6, math.Log10(100/(100-p)))
}

// percentileChart draws the percentile spectrum of op, one line per phase,
// on log-log axes; "" when no phase measured op. The warm-up phases are
// left out: their first requests wait for leader elections, and their
// scale would flatten every other curve.
func percentileChart(r *Report, op string) string {
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, p := range r.Phases {
		if IsWarmup(p.Name) {
			continue
		}
		for _, pt := range p.Percentiles[op] {
			v := math.Max(pt.Ms, minLatencyMs)
			minY, maxY = math.Min(minY, v), math.Max(maxY, v)
		}
	}
	if math.IsInf(minY, 0) {
		return ""
	}
	lo, hi := math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
	if hi <= lo {
		hi = lo + 1
	}
	x := func(p float64) float64 { return padL + percentileX(p)/6*plotW }
	y := func(ms float64) float64 {
		return padT + plotH - (math.Log10(math.Max(ms, minLatencyMs))-lo)/(hi-lo)*plotH
	}
	var b svgBuilder
	b.f(`<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s latency percentiles">`, chartW, chartH, esc(op))
	b.f(`<text x="%d" y="14">%s latency, ms (log scale) by percentile</text>`, padL, esc(op))
	for e := lo; e <= hi; e++ {
		v := math.Pow(10, e)
		b.f(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e8ee"/>`, padL, padL+plotW, y(v), y(v))
		b.f(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y(v)+4, trimFloat(v))
	}
	for _, t := range []struct {
		p     float64
		label string
	}{{0, "0%"}, {90, "90%"}, {99, "99%"}, {99.9, "99.9%"}, {99.99, "99.99%"}, {99.999, "99.999%"}, {100, "max"}} {
		b.f(`<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#e5e8ee"/>`, x(t.p), x(t.p), padT, padT+plotH)
		b.f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(t.p), padT+plotH+16, t.label)
	}
	b.f(`<text x="%d" y="%d" text-anchor="middle">percentile</text>`, padL+plotW/2, chartH-4)
	legend := 0
	for i, p := range r.Phases {
		curve := p.Percentiles[op]
		if len(curve) == 0 || IsWarmup(p.Name) {
			continue
		}
		color := palette[i%len(palette)] // a phase has the same colour in every chart
		pts := make([]string, 0, len(curve))
		for _, pt := range curve {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(pt.Percentile), y(pt.Ms)))
		}
		b.f(`<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`, color, strings.Join(pts, " "))
		ly := padT + 14 + legend*18
		legend++
		b.f(`<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>`, padL+plotW+12, padL+plotW+32, ly, ly, color)
		b.f(`<text x="%d" y="%d">%s</text>`, padL+plotW+38, ly+4, esc(p.Name))
	}
	b.f(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#b8c0cc"/>`, padL, padT, plotW, plotH)
	b.f(`</svg>`)
	return b.String()
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
