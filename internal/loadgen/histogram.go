package loadgen

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in nanoseconds from 1 ns to a
// minute with three significant figures, so every percentile is within
// 0.1% of the true value. Longer latencies are recorded as a minute: a
// request that long has failed its purpose whatever its exact time.
const (
	histMin     = 1
	histMax     = int64(time.Minute)
	histSigFigs = 3
)

// Histogram records durations. It is not safe for concurrent use; the
// runner guards its histograms with one mutex.
type Histogram struct {
	h *hdrhistogram.Histogram
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(histMin, histMax, histSigFigs)}
}

// Record adds d. Durations below 1 ns count as 1 ns and above a minute as
// a minute, so a value is never lost.
func (h *Histogram) Record(d time.Duration) {
	v := min(max(int64(d), histMin), histMax)
	// In range by construction, so RecordValue cannot fail.
	_ = h.h.RecordValue(v)
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Reset empties the histogram.
func (h *Histogram) Reset() { h.h.Reset() }

// Quantile returns the duration at percentile q (0 to 100), or 0 when
// nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	return time.Duration(h.h.ValueAtQuantile(q))
}

// Latency is a histogram's summary in microseconds, as the JSON summary
// gives it.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// Summary returns the count, the percentiles, the maximum and the mean in
// microseconds, rounded to 0.1 µs.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.Count(),
		P50:   micros(h.h.ValueAtQuantile(50)),
		P90:   micros(h.h.ValueAtQuantile(90)),
		P99:   micros(h.h.ValueAtQuantile(99)),
		P999:  micros(h.h.ValueAtQuantile(99.9)),
		Max:   micros(h.h.Max()),
		Mean:  micros(int64(h.h.Mean())),
	}
}

// micros converts nanoseconds to microseconds rounded to 0.1.
func micros(ns int64) float64 {
	return float64((ns+50)/100) / 10
}
