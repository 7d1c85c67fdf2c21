package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values func(h *Histogram)
		q      float64
		want   time.Duration
	}{
		{"Uniform/p50", uniform(1, 1000, time.Microsecond), 50, 500 * time.Microsecond},
		{"Uniform/p90", uniform(1, 1000, time.Microsecond), 90, 900 * time.Microsecond},
		{"Uniform/p99", uniform(1, 1000, time.Microsecond), 99, 990 * time.Microsecond},
		{"Uniform/p999", uniform(1, 1000, time.Microsecond), 99.9, 999 * time.Microsecond},
		{"Seconds/p50", uniform(1, 100, 100*time.Millisecond), 50, 5 * time.Second},
		{"Tail/p99", func(h *Histogram) {
			for range 990 {
				h.Record(100 * time.Microsecond)
			}
			for range 10 {
				h.Record(2 * time.Second)
			}
		}, 99, 100 * time.Microsecond},
		{"Tail/p999", func(h *Histogram) {
			for range 990 {
				h.Record(100 * time.Microsecond)
			}
			for range 10 {
				h.Record(2 * time.Second)
			}
		}, 99.9, 2 * time.Second},
		{"OverMax", func(h *Histogram) { h.Record(time.Hour) }, 100, time.Minute},
		{"Negative", func(h *Histogram) { h.Record(-time.Second) }, 50, 1},
		{"Empty", func(h *Histogram) {}, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistogram()
			tt.values(h)
			got := h.Quantile(tt.q)
			// Three significant figures: within 0.1% (plus one unit).
			if diff := math.Abs(float64(got - tt.want)); diff > float64(tt.want)/1000+1 {
				t.Errorf("Quantile(%v) = %v, want %v within 0.1%%", tt.q, got, tt.want)
			}
		})
	}
}

// uniform records lo*unit, (lo+1)*unit, … hi*unit.
func uniform(lo, hi int, unit time.Duration) func(*Histogram) {
	return func(h *Histogram) {
		for v := lo; v <= hi; v++ {
			h.Record(time.Duration(v) * unit)
		}
	}
}

func TestHistogramSummary(t *testing.T) {
	h := NewHistogram()
	uniform(1, 10000, time.Microsecond)(h)
	s := h.Summary()
	if s.Count != 10000 {
		t.Errorf("Count = %d, want 10000", s.Count)
	}
	ordered := []float64{s.P50, s.P90, s.P99, s.P999, s.Max}
	for i := 1; i < len(ordered); i++ {
		if ordered[i] < ordered[i-1] {
			t.Errorf("percentiles not ordered: %+v", s)
		}
	}
	if math.Abs(s.Mean-5000.5) > 5 || math.Abs(s.P50-5000) > 5 || math.Abs(s.Max-10000) > 10 {
		t.Errorf("Summary = %+v, want mean 5000.5, p50 5000, max 10000 µs", s)
	}
	h.Reset()
	if h.Count() != 0 {
		t.Errorf("Count after Reset = %d", h.Count())
	}
}
