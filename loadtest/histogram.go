package loadtest

import (
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: values are recorded in microseconds, from 1 µs to one
// hour, with three significant digits (0.1 % resolution at every magnitude).
const (
	histLowestUS  = 1
	histHighestUS = int64(time.Hour / time.Microsecond)
	histDigits    = 3
)

// Histogram is a concurrency-safe HDR latency histogram. Values above one
// hour are recorded as one hour and values below zero (clock steps in an
// end-to-end measurement) as zero.
type Histogram struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(histLowestUS, histHighestUS, histDigits)}
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	us := int64(d / time.Microsecond)
	us = max(0, min(us, histHighestUS))
	h.mu.Lock()
	_ = h.h.RecordValue(us) // in range by construction
	h.mu.Unlock()
}

// Merge adds every value of o.
func (h *Histogram) Merge(o *Histogram) {
	if h == o {
		return
	}
	o.mu.Lock()
	c := o.h.Export()
	o.mu.Unlock()
	from := hdrhistogram.Import(c)
	h.mu.Lock()
	h.h.Merge(from)
	h.mu.Unlock()
}

// Count is the number of values recorded.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h.TotalCount()
}

// Summary returns the count, mean and the percentiles p50, p90, p99, p99.9
// and the maximum, in milliseconds. Every latency of an empty histogram is
// NaN.
func (h *Histogram) Summary() LatencySummary {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := LatencySummary{Count: h.h.TotalCount()}
	if s.Count == 0 {
		nan := Metric(math.NaN())
		s.Mean, s.P50, s.P90, s.P99, s.P999, s.Max = nan, nan, nan, nan, nan, nan
		return s
	}
	s.Mean = Metric(h.h.Mean() / 1000)
	s.P50 = usToMs(h.h.ValueAtQuantile(50))
	s.P90 = usToMs(h.h.ValueAtQuantile(90))
	s.P99 = usToMs(h.h.ValueAtQuantile(99))
	s.P999 = usToMs(h.h.ValueAtQuantile(99.9))
	s.Max = usToMs(h.h.Max())
	return s
}

// curvePercentiles are the points of the percentile spectrum drawn in the
// HTML report; 100 is the maximum.
var curvePercentiles = [...]float64{0, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.75, 99.9, 99.95, 99.99, 99.999, 100}

// Curve returns the latency at a fixed set of percentiles from 0 to 100 (the
// HDR percentile spectrum), or nil when the histogram is empty.
func (h *Histogram) Curve() []PercentilePoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h.TotalCount() == 0 {
		return nil
	}
	out := make([]PercentilePoint, 0, len(curvePercentiles))
	for _, p := range curvePercentiles {
		v := h.h.ValueAtQuantile(p)
		if p == 100 {
			v = h.h.Max()
		}
		out = append(out, PercentilePoint{Percentile: p, Ms: float64(v) / 1000})
	}
	return out
}

func usToMs(us int64) Metric { return Metric(float64(us) / 1000) }

// LatencySummary is one operation's latency distribution, in milliseconds.
type LatencySummary struct {
	Count int64  `json:"count"`
	Mean  Metric `json:"mean_ms"`
	P50   Metric `json:"p50_ms"`
	P90   Metric `json:"p90_ms"`
	P99   Metric `json:"p99_ms"`
	P999  Metric `json:"p99_9_ms"`
	Max   Metric `json:"max_ms"`
}

// PercentilePoint is one point of a percentile spectrum.
type PercentilePoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// Metric is a measured figure that may be absent: NaN stands for "not
// measured" and is written as null in JSON and as NaN in the summary line.
type Metric float64

// NaN is the Metric of a figure that was not measured.
func NaN() Metric { return Metric(math.NaN()) }

// Valid reports whether m was measured.
func (m Metric) Valid() bool { return !math.IsNaN(float64(m)) && !math.IsInf(float64(m), 0) }

// MarshalJSON writes null for a figure that was not measured.
func (m Metric) MarshalJSON() ([]byte, error) {
	if !m.Valid() {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(float64(m)*1000)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON reads null as NaN.
func (m *Metric) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = NaN()
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*m = Metric(f)
	return nil
}
