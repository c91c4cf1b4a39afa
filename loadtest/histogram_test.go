package loadtest

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"
)

// within reports whether got is within 0.1 % (the histogram's three
// significant digits) of want.
func within(got Metric, want float64) bool {
	return math.Abs(float64(got)-want) <= want*0.001+0.001
}

func TestHistogram_PercentilesOfUniformValues(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond * 100) // 0.1 ms .. 1000 ms
	}
	s := h.Summary()
	if s.Count != 10000 {
		t.Fatalf("count %d", s.Count)
	}
	for _, c := range []struct {
		name string
		got  Metric
		want float64
	}{
		{"p50", s.P50, 500}, {"p90", s.P90, 900}, {"p99", s.P99, 990}, {"p99.9", s.P999, 999}, {"max", s.Max, 1000}, {"mean", s.Mean, 500.05},
	} {
		if !within(c.got, c.want) {
			t.Errorf("%s = %v ms, want %v", c.name, c.got, c.want)
		}
	}
}

func TestHistogram_EmptyIsNaNAndClampsOutOfRange(t *testing.T) {
	h := NewHistogram()
	s := h.Summary()
	if s.Count != 0 || s.P50.Valid() || s.Max.Valid() || h.Curve() != nil {
		t.Fatalf("empty summary %+v", s)
	}
	h.Record(-time.Second)  // a clock step: recorded as 0
	h.Record(2 * time.Hour) // above range: recorded as 1 h
	s = h.Summary()
	if s.Count != 2 || float64(s.P50) != 0 || !within(s.Max, 3600_000) {
		t.Fatalf("summary %+v", s)
	}
}

func TestHistogram_MergeAndConcurrentRecord(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h := a
				if w%2 == 1 {
					h = b
				}
				h.Record(time.Duration(i+1) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	a.Merge(b)
	a.Merge(a) // no-op, no deadlock
	if got := a.Count(); got != 8000 {
		t.Fatalf("count after merge %d, want 8000", got)
	}
	if s := a.Summary(); !within(s.Max, 1000) || !within(s.P50, 500) {
		t.Fatalf("summary %+v", s)
	}
}

func TestHistogram_CurveIsMonotoneAndEndsAtMax(t *testing.T) {
	h := NewHistogram()
	for i := range 5000 {
		h.Record(time.Duration(i*i) * time.Microsecond)
	}
	c := h.Curve()
	if len(c) != len(curvePercentiles) || c[len(c)-1].Percentile != 100 {
		t.Fatalf("curve %v", c)
	}
	for i := 1; i < len(c); i++ {
		if c[i].Ms < c[i-1].Ms {
			t.Fatalf("curve not monotone at %v: %v", c[i].Percentile, c)
		}
	}
	if !within(Metric(c[len(c)-1].Ms), float64(h.Summary().Max)) {
		t.Fatalf("curve ends at %v, max %v", c[len(c)-1].Ms, h.Summary().Max)
	}
}

func TestMetric_JSONNullForNaN(t *testing.T) {
	b, err := json.Marshal(struct {
		A, B Metric
	}{NaN(), 1.23456})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"A":null,"B":1.235}` {
		t.Fatalf("got %s", b)
	}
	var back struct{ A, B Metric }
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.A.Valid() || float64(back.B) != 1.235 {
		t.Fatalf("round trip %+v", back)
	}
}
