package ratelimit

import (
	"math"
	"math/bits"
	"time"
)

// gcraWindow is the period of the per-minute limits, and the depth of
// their bucket.
const gcraWindow = int64(time.Minute)

// interval returns ⌈c·1min/max⌉ in nanoseconds, how far a cost of c moves
// a GCRA counter of max per minute; roundUp false rounds down instead, for
// refunds. It saturates at math.MaxInt64. c ≥ 0 and max > 0.
func interval(c, max int64, roundUp bool) int64 {
	hi, lo := bits.Mul64(uint64(c), uint64(gcraWindow))
	if hi >= uint64(max) {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, uint64(max))
	if roundUp && r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// addSat returns a+b (b ≥ 0), saturating at math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// budgetWindow returns the start and end, in Unix nanoseconds, of the UTC
// calendar day (or month, if month) that contains t.
func budgetWindow(t time.Time, month bool) (start, end int64) {
	t = t.UTC()
	y, m, d := t.Date()
	if month {
		d = 1
	}
	s := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	var e time.Time
	if month {
		e = s.AddDate(0, 1, 0)
	} else {
		e = s.AddDate(0, 0, 1)
	}
	return s.UnixNano(), e.UnixNano()
}

// isMonthly reports whether k is a per-month budget.
func (k Kind) isMonthly() bool { return k == TokensPerMonth || k == CostPerMonth }

// isBudget reports whether k is a day or month budget.
func (k Kind) isBudget() bool { return k.Reason() == "budget_exceeded" }
