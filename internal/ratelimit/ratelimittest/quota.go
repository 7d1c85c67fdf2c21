package ratelimittest

import (
	"fmt"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/ratelimit"
)

// quotaCase is a limit of each kind, with a request and a settlement of
// it at base and the quotas after each.
type quotaCase struct {
	name       string
	limit      ratelimit.Limit
	tokens     int64
	cost       int64
	afterTake  ratelimit.Quota // Limit is filled in
	settle     int64           // tokens or cost, used minus reserved
	afterSetle ratelimit.Quota
}

// toMonthEnd is from base to the end of its UTC month.
var toMonthEnd = time.Date(2026, time.April, 1, 0, 0, 0, 0, time.UTC).Sub(base)

var quotaCases = []quotaCase{
	// After the take, the TAT is base+6s; the settlement leaves it.
	{"RequestsPerMinute", limit(ratelimit.RequestsPerMinute, keyScope, 10), 0, 0,
		ratelimit.Quota{Remaining: 9, Reset: 6 * time.Second}, 0,
		ratelimit.Quota{Remaining: 9, Reset: 6 * time.Second}},
	// 250 of 1000 is 15s; giving back 100 is 6s: the TAT is base+9s, and
	// (60s−9s)·1000/60s is 850.
	{"TokensPerMinute", limit(ratelimit.TokensPerMinute, keyScope, 1000), 250, 0,
		ratelimit.Quota{Remaining: 750, Reset: 15 * time.Second}, -100,
		ratelimit.Quota{Remaining: 850, Reset: 9 * time.Second}},
	// 1 of 7: the TAT is ⌈60s/7⌉ = 8.571429s on; 7·(60s−8.571429s)/60s
	// is 5.99999..., so 5. Overspending 1 more: 17.142858s, 4.
	{"TokensPerMinuteRounding", limit(ratelimit.TokensPerMinute, keyScope, 7), 1, 0,
		ratelimit.Quota{Remaining: 5, Reset: 8571429 * time.Microsecond}, 1,
		ratelimit.Quota{Remaining: 4, Reset: 17142858 * time.Microsecond}},
	{"Concurrent", limit(ratelimit.Concurrent, keyScope, 3), 0, 0,
		ratelimit.Quota{Remaining: 2}, 0,
		ratelimit.Quota{Remaining: 3}},
	{"TokensPerDay", limit(ratelimit.TokensPerDay, keyScope, 1000), 250, 0,
		ratelimit.Quota{Remaining: 750, Reset: 12 * time.Hour, Used: 250}, -100,
		ratelimit.Quota{Remaining: 850, Reset: 12 * time.Hour, Used: 150}},
	{"TokensPerMonth", limit(ratelimit.TokensPerMonth, keyScope, 1000), 250, 0,
		ratelimit.Quota{Remaining: 750, Reset: toMonthEnd, Used: 250}, 300,
		ratelimit.Quota{Remaining: 450, Reset: toMonthEnd, Used: 550}},
	{"CostPerDay", limit(ratelimit.CostPerDay, principalScope, 1000), 0, 250,
		ratelimit.Quota{Remaining: 750, Reset: 12 * time.Hour, Used: 250}, -250,
		ratelimit.Quota{Remaining: 1000, Reset: 12 * time.Hour}},
	{"CostPerMonth", limit(ratelimit.CostPerMonth, principalScope, 1000), 0, 250,
		ratelimit.Quota{Remaining: 750, Reset: toMonthEnd, Used: 250}, 1000,
		// An overspend takes Used past Max: 1250 of 1000.
		ratelimit.Quota{Remaining: 0, Reset: toMonthEnd, Used: 1250}},
}

// testQuotasAfterTake checks the quotas a grant reports, for each kind
// alone and for all of them in one request.
func testQuotasAfterTake(t *testing.T, open func(*testing.T) ratelimit.Store) {
	for _, tt := range quotaCases {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			r := ratelimit.Request{Limits: []ratelimit.Limit{tt.limit}, Tokens: tt.tokens, Cost: tt.cost, Now: base}
			g := mustTake(t, s, r)
			want := tt.afterTake
			want.Limit = tt.limit
			if g.Quotas[0] != want {
				t.Errorf("Quotas[0] = %+v, want %+v", g.Quotas[0], want)
			}
		})
	}
	t.Run("AllKinds", func(t *testing.T) {
		s := open(t)
		var r ratelimit.Request
		var want []ratelimit.Quota
		for _, k := range []ratelimit.Kind{ratelimit.CostPerMonth, ratelimit.Concurrent, ratelimit.TokensPerDay, ratelimit.RequestsPerMinute, ratelimit.TokensPerMinute} {
			for _, scope := range []string{keyScope, principalScope} {
				l := limit(k, scope, 100)
				r.Limits = append(r.Limits, l)
				want = append(want, quotaOf(l, 10, 20))
			}
		}
		r.Tokens, r.Cost, r.Now = 10, 20, base
		g := mustTake(t, s, r)
		for i := range want {
			if g.Quotas[i] != want[i] {
				t.Errorf("Quotas[%d] = %+v, want %+v", i, g.Quotas[i], want[i])
			}
		}
	})
}

// quotaOf returns the quota of l, a limit of 100, after one request of
// tokens and cost at base.
func quotaOf(l ratelimit.Limit, tokens, cost int64) ratelimit.Quota {
	q := ratelimit.Quota{Limit: l}
	switch l.Kind {
	case ratelimit.Concurrent:
		q.Remaining = 99
	case ratelimit.RequestsPerMinute:
		q.Remaining, q.Reset = 99, 600*time.Millisecond
	case ratelimit.TokensPerMinute:
		q.Remaining, q.Reset = 100-tokens, time.Duration(tokens)*600*time.Millisecond
	case ratelimit.TokensPerDay:
		q.Remaining, q.Reset, q.Used = 100-tokens, 12*time.Hour, tokens
	case ratelimit.CostPerMonth:
		q.Remaining, q.Reset, q.Used = 100-cost, toMonthEnd, cost
	}
	return q
}

// testQuotasAfterSettle checks the quotas a settlement reports.
func testQuotasAfterSettle(t *testing.T, open func(*testing.T) ratelimit.Store) {
	for _, tt := range quotaCases {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			r := ratelimit.Request{Limits: []ratelimit.Limit{tt.limit}, Tokens: tt.tokens, Cost: tt.cost, Now: base, ID: "r1"}
			g := mustTake(t, s, r)
			st := ratelimit.Settlement{Limits: r.Limits, Taken: g.At, Now: base, ID: r.ID}
			if tt.tokens > 0 {
				st.Tokens = tt.settle
			} else {
				st.Cost = tt.settle
			}
			want := tt.afterSetle
			want.Limit = tt.limit
			if qs := settle(t, s, st); qs[0] != want {
				t.Errorf("after Settle(%+d): %+v, want %+v", tt.settle, qs[0], want)
			}
		})
	}
	t.Run("Later", func(t *testing.T) {
		// The quotas are those at the settlement's Now.
		s := open(t)
		lims := []ratelimit.Limit{limit(ratelimit.TokensPerMinute, keyScope, 600), limit(ratelimit.TokensPerDay, keyScope, 600)}
		g := mustTake(t, s, ratelimit.Request{Limits: lims, Tokens: 300, Now: base}) // TAT base+30s
		qs := settle(t, s, ratelimit.Settlement{Limits: lims, Taken: g.At, Tokens: -100, Now: base.Add(5 * time.Second)})
		want := []ratelimit.Quota{
			{Limit: lims[0], Remaining: 450, Reset: 15 * time.Second}, // TAT base+20s
			{Limit: lims[1], Remaining: 400, Reset: 12*time.Hour - 5*time.Second, Used: 200},
		}
		for i := range want {
			if qs[i] != want[i] {
				t.Errorf("Quotas[%d] = %+v, want %+v", i, qs[i], want[i])
			}
		}
	})
}

// testRemainingIsExact checks that a per-minute quota's Remaining is the
// largest cost the limit passes: Remaining passes and Remaining+1 does
// not.
func testRemainingIsExact(t *testing.T, open func(*testing.T) ratelimit.Store) {
	for _, max := range []int64{7, 1000, 999_983, 1 << 40} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			s := open(t)
			lims := []ratelimit.Limit{limit(ratelimit.TokensPerMinute, keyScope, max)}
			now := base
			g := mustTake(t, s, ratelimit.Request{Limits: lims, Tokens: max/3 + 1, Now: now})
			for _, step := range []time.Duration{time.Second / 3, 7 * time.Second, 1} {
				now = now.Add(step)
				q := settle(t, s, ratelimit.Settlement{Limits: lims, Taken: g.At, Now: now})[0]
				if e := take(t, s, ratelimit.Request{Limits: lims, Tokens: q.Remaining + 1, Now: now}); e == nil {
					t.Fatalf("at +%v, Remaining %d: %d admitted, want refused", now.Sub(base), q.Remaining, q.Remaining+1)
				}
				if q.Remaining > 0 {
					g = mustTake(t, s, ratelimit.Request{Limits: lims, Tokens: q.Remaining, Now: now})
					if r := g.Quotas[0].Remaining; r != 0 {
						t.Errorf("after taking all that remained: Remaining = %d, want 0", r)
					}
				}
			}
		})
	}
}

// testGrantAt checks that a grant is at the request's Now, to the
// nanosecond and in its location.
func testGrantAt(t *testing.T, s ratelimit.Store) {
	now := base.Add(1234567 * time.Nanosecond).In(time.FixedZone("UTC-5", -5*3600))
	g := mustTake(t, s, ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.RequestsPerMinute, keyScope, 5)}, Now: now})
	if g.At != now {
		t.Errorf("At = %v, want %v", g.At, now)
	}
	g = mustTake(t, s, ratelimit.Request{Now: now})
	if g.At != now || len(g.Quotas) != 0 {
		t.Errorf("without limits: %+v, want At %v and no quotas", g, now)
	}
}

// testStoreClock checks that requests without a Now are decided at the
// store's clock, which the grant reports.
func testStoreClock(t *testing.T, open func(*testing.T, func() time.Time) ratelimit.Store) {
	clock := time.Now()
	s := open(t, func() time.Time { return clock })
	lims := []ratelimit.Limit{
		limit(ratelimit.RequestsPerMinute, keyScope, 1),
		limit(ratelimit.TokensPerDay, keyScope, 100),
		limit(ratelimit.Concurrent, principalScope, 1),
	}
	g := mustTake(t, s, ratelimit.Request{Limits: lims, Tokens: 10, ID: "r1"})
	if d := g.At.Sub(clock).Abs(); d > ClockSkew {
		t.Fatalf("At = %v, %v from the clock %v; want it within %v", g.At, d, clock, ClockSkew)
	}
	at := g.At.Truncate(ratelimit.Resolution)
	_, dayEnd, _ := ratelimit.TokensPerDay.Window(g.At)
	want := []ratelimit.Quota{
		{Limit: lims[0], Remaining: 0, Reset: time.Minute},
		{Limit: lims[1], Remaining: 90, Reset: dayEnd.Sub(at), Used: 10},
		{Limit: lims[2], Remaining: 0},
	}
	for i := range want {
		if g.Quotas[i] != want[i] {
			t.Errorf("Quotas[%d] = %+v, want %+v", i, g.Quotas[i], want[i])
		}
	}
	// The clock the next request is decided at has not gone back, nor
	// run a minute on.
	e := take(t, s, ratelimit.Request{Limits: lims, Tokens: 10, ID: "r2"})
	if e == nil || e.Limit != lims[0] || e.RetryAfter > time.Minute || e.RetryAfter < time.Minute-ClockSkew {
		t.Fatalf("second request at the store's clock: refusal %v, want one by %+v of at most 1m", e, lims[0])
	}
	qs := settle(t, s, ratelimit.Settlement{Limits: lims, Taken: g.At, Tokens: -10, ID: "r1"})
	if qs[1].Remaining != 100 || qs[2].Remaining != 1 {
		t.Errorf("after settling at the store's clock: %+v, want 100 tokens and 1 slot left", qs)
	}
}
