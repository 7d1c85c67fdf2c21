package auditverify

import "testing"

// BenchmarkVerify verifies a log of 200,000 records with a checkpoint
// every 1,000 (checkpoints every second at 1,000 events/s) and reports
// records per second.
func BenchmarkVerify(b *testing.B) {
	const n = 200_000
	var at []int64
	for size := int64(1000); size <= n; size += 1000 {
		at = append(at, size)
	}
	l := newTestLog(b, b.TempDir(), 100_000)
	l.fill(n, at...)
	for b.Loop() {
		r, err := Verify(b.Context(), l.dir, l.vkey, VerifyOptions{})
		if err != nil || r.Records != n {
			b.Fatalf("Verify = %+v, %v", r, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
