package ratelimit

import (
	"math/bits"
	"time"
)

// Resolution is the unit of every time and duration a Store computes with:
// times are Unix microseconds ([time.Time.UnixMicro]), and TATs, intervals,
// windows and leases are whole microseconds. It is the finest unit the
// Redis store's Lua numbers (doubles) hold exactly for the next century,
// and the in-memory store uses it too so that both give the same answers.
const Resolution = time.Microsecond

// MaxUnits is 2⁵², the bound of the numbers a Store computes with: a
// count, a cost, an interval or a time in Resolution since the epoch (the
// year 2112). The sum of two such numbers is still exact in a double,
// which is all the Redis store's script needs. A budget's Max above it acts
// as MaxUnits, and counters and TATs saturate at it.
const MaxUnits = 1 << 52

// gcraWindow is the period of the per-minute limits, and the depth of
// their bucket, in Resolution.
const gcraWindow = int64(time.Minute / Resolution)

// Interval returns ⌈units·1min/l.Max⌉ in Resolution: how far a cost of
// units moves the TAT of l, a per-minute limit, or moves it back when
// units is negative (a refund). Rounding up charges a cost at least its
// share and gives back at most what a refund is worth, so rounding never
// lends capacity. A cost above l.Max gives more than one minute. The
// result saturates at ±MaxUnits.
func (l Limit) Interval(units int64) int64 {
	u := uint64(units)
	if units < 0 {
		u = -u // also right for math.MinInt64
	}
	hi, lo := bits.Mul64(u, uint64(gcraWindow))
	q := uint64(MaxUnits)
	if hi < uint64(l.Max) { // else the quotient does not fit in 64 bits
		var r uint64
		q, r = bits.Div64(hi, lo, uint64(l.Max))
		if r != 0 && units > 0 {
			q++ // ⌈x⌉ rounds a positive x up and a negative one toward zero
		}
		q = min(q, MaxUnits)
	}
	if units < 0 {
		return -int64(q)
	}
	return int64(q)
}

// Window returns the UTC calendar day (or month) that contains t if k is a
// day (or month) budget, whatever the location of t; ok is false for other
// kinds. The Redis store computes windows with it because its script has
// no calendar.
func (k Kind) Window(t time.Time) (start, end time.Time, ok bool) {
	if !k.isBudget() {
		return time.Time{}, time.Time{}, false
	}
	t = t.UTC()
	y, m, d := t.Date()
	if k.isMonthly() {
		start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0), true
	}
	start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 0, 1), true
}

// window returns Window(now) in Resolution; k is a budget.
func (k Kind) window(now int64) (start, end int64) {
	s, e, _ := k.Window(time.UnixMicro(now))
	return s.UnixMicro(), e.UnixMicro()
}

// isMonthly reports whether k is a per-month budget.
func (k Kind) isMonthly() bool { return k == TokensPerMonth || k == CostPerMonth }

// isBudget reports whether k is a day or month budget.
func (k Kind) isBudget() bool { return k.Reason() == "budget_exceeded" }

// LeaseTerm returns r.Lease in Resolution, rounded up so that a lease is
// never shorter than asked, DefaultLease if it is zero, and at most
// MaxUnits.
func (r Request) LeaseTerm() int64 {
	lease := r.Lease
	if lease == 0 {
		lease = DefaultLease
	}
	q := lease / Resolution
	if lease%Resolution != 0 {
		q++
	}
	return min(int64(q), MaxUnits)
}
