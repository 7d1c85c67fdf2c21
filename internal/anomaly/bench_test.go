package anomaly

import (
	"fmt"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/audit"
)

// BenchmarkObserve measures the events a second the detectors sustain on
// one core (run with -cpu 1).
//
// Mix replays an hour of the steady traffic of 400 keys (allowed calls
// and their usage events about half each, and the denials of real
// traffic), looping with its times shifted so the clock keeps moving.
// Churn is the worst case: every allowed call is from a key never seen,
// from a network never seen, so the key table is full and each event
// evicts its least recently used key.
func BenchmarkObserve(b *testing.B) {
	b.Run("Mix", func(b *testing.B) {
		keys := tracePopulation(1, 400)
		var recs []audit.Record
		for r := range mergeTraces(steadyTraffic(1, keys, traceStart, traceStart.Add(time.Hour))...) {
			recs = append(recs, r)
		}
		benchmarkObserve(b, recs, time.Hour)
	})
	b.Run("MixHot", func(b *testing.B) {
		keys := tracePopulation(1, 400)
		var recs []audit.Record
		for r := range mergeTraces(steadyTraffic(1, keys, traceStart, traceStart.Add(time.Hour))...) {
			if len(recs) == 1<<13 {
				break
			}
			recs = append(recs, r)
		}
		benchmarkObserve(b, recs, recs[len(recs)-1].Time.Sub(traceStart)+time.Millisecond)
	})
	b.Run("Churn", func(b *testing.B) {
		const n = 1 << 20
		recs := make([]audit.Record, n)
		for i := range recs {
			recs[i] = audit.Record{Time: traceStart.Add(time.Duration(i) * time.Millisecond), Event: audit.Authz{
				KeyID: fmt.Sprintf("k%015d", i), Principal: "p", Decision: "allow", Reason: "allowed",
				ClientIP: fmt.Sprintf("%d.%d.%d.9", 10+i>>16, i>>8&255, i&255)}}
		}
		benchmarkObserve(b, recs, n*time.Millisecond)
	})
}

// benchmarkObserve feeds recs over and over, each pass span later than
// the one before.
func benchmarkObserve(b *testing.B, recs []audit.Record, span time.Duration) {
	d := NewDetectors(Thresholds{})
	var shift time.Duration
	i, n, alerts := 0, 0, 0
	b.ReportAllocs()
	for b.Loop() {
		r := recs[i]
		r.Time = r.Time.Add(shift)
		alerts += len(d.Observe(r))
		n++
		if i++; i == len(recs) {
			i, shift = 0, shift+span
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(alerts), "alerts")
}
