package ratelimit

import (
	"math/bits"
	"time"
)

// The Quota constructors below are the one place that turns a counter's
// state into a Quota, so that every Store reports the same numbers. Times
// are in Resolution since the Unix epoch.

// RateQuota returns the quota of l, a per-minute limit whose TAT is tat,
// at now. Remaining is the largest cost a Take at now would pass.
func (l Limit) RateQuota(tat, now int64) Quota {
	d := min(max(tat-now, 0), MaxUnits)
	q := Quota{Limit: l, Reset: time.Duration(d) * Resolution}
	if d < gcraWindow {
		// (1min − d)·Max can exceed 64 bits; the quotient, at most Max,
		// does not.
		hi, lo := bits.Mul64(uint64(gcraWindow-d), uint64(l.Max))
		r, _ := bits.Div64(hi, lo, uint64(gcraWindow))
		q.Remaining = min(int64(r), l.Max)
	}
	return q
}

// BudgetQuota returns the quota of l, a budget that has used used in the
// window ending at end, at now.
func (l Limit) BudgetQuota(used, end, now int64) Quota {
	return Quota{
		Limit:     l,
		Used:      used,
		Remaining: max(min(l.Max, MaxUnits)-used, 0),
		Reset:     time.Duration(min(max(end-now, 0), MaxUnits)) * Resolution,
	}
}

// ConcurrentQuota returns the quota of l, a concurrency limit with
// inFlight live leases.
func (l Limit) ConcurrentQuota(inFlight int64) Quota {
	return Quota{Limit: l, Remaining: max(l.Max-inFlight, 0)}
}
