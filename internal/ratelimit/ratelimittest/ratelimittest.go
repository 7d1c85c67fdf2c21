// Package ratelimittest is the conformance suite of [ratelimit.Store]:
// every backend runs [Run] and so gives the same answers.
package ratelimittest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// base is the suite's starting time: mid-day, mid-month, in UTC.
var base = time.Date(2026, time.March, 14, 12, 0, 0, 0, time.UTC)

var (
	keyScope       = ratelimit.KeyScope("k1")
	principalScope = ratelimit.PrincipalScope("p1")
)

// ClockSkew is how far a store's own clock may be from the host's: a
// store that cannot take the suite's clock (the Redis store reads the
// server's) is checked against the host's within it.
const ClockSkew = 10 * time.Second

// Run runs the suite against the stores open returns. Each call of open
// returns an empty store of its own whose clock, for requests without a
// Now, is now; a store with a clock of its own that cannot be replaced
// (a server's) ignores now and must agree with the host's clock within
// ClockSkew. Only the StoreClock tests leave Now zero; elsewhere the suite
// fails if a store reads now.
func Run(t *testing.T, open func(t *testing.T, now func() time.Time) ratelimit.Store) {
	fixed := func(t *testing.T) ratelimit.Store { return open(t, unusedClock(t)) }
	t.Run("RequestsPerMinute", func(t *testing.T) { testRequestsPerMinute(t, fixed(t)) })
	t.Run("Concurrent50", func(t *testing.T) { testConcurrent50(t, fixed(t)) })
	t.Run("ConcurrentBudget", func(t *testing.T) { testConcurrentBudget(t, fixed(t)) })
	t.Run("AllOrNothing", func(t *testing.T) { testAllOrNothing(t, fixed) })
	t.Run("Settle", func(t *testing.T) { testSettle(t, fixed) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, fixed(t)) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, fixed) })
	t.Run("Rollover", func(t *testing.T) { testRollover(t, fixed) })
	t.Run("RetryAfter", func(t *testing.T) { testRetryAfter(t, fixed) })
	t.Run("QuotasAfterTake", func(t *testing.T) { testQuotasAfterTake(t, fixed) })
	t.Run("QuotasAfterSettle", func(t *testing.T) { testQuotasAfterSettle(t, fixed) })
	t.Run("RemainingIsExact", func(t *testing.T) { testRemainingIsExact(t, fixed) })
	t.Run("GrantAt", func(t *testing.T) { testGrantAt(t, fixed(t)) })
	t.Run("StoreClock", func(t *testing.T) { testStoreClock(t, open) })
	t.Run("ErrInvalid", func(t *testing.T) { testInvalid(t, fixed(t)) })
}

// unusedClock returns a clock that fails t when read: every request of
// the tests it is given to sets Now.
func unusedClock(t *testing.T) func() time.Time {
	return func() time.Time {
		t.Error("the store read its clock for a request with a Now")
		return base
	}
}

func limit(kind ratelimit.Kind, scope string, max int64) ratelimit.Limit {
	return ratelimit.Limit{Kind: kind, Scope: scope, Max: max}
}

// newID returns a request ID unique to this call.
func newID() string { return "req-" + rand.Text() }

// take calls Take and returns nil or the refusal; any other error fails t.
// A request without an ID gets a fresh one, as every call has. A grant
// is checked to have one Quota per limit, in order, and At = r.Now.
func take(t *testing.T, s ratelimit.Store, r ratelimit.Request) *ratelimit.ExceededError {
	t.Helper()
	_, e := tryTake(t, s, r)
	return e
}

// mustTake is take for a request that must be granted; it returns the
// grant.
func mustTake(t *testing.T, s ratelimit.Store, r ratelimit.Request) ratelimit.Grant {
	t.Helper()
	g, e := tryTake(t, s, r)
	if e != nil {
		t.Fatalf("Take(%+v) = %v, want granted", r, e)
	}
	return g
}

func tryTake(t *testing.T, s ratelimit.Store, r ratelimit.Request) (ratelimit.Grant, *ratelimit.ExceededError) {
	t.Helper()
	if r.ID == "" {
		r.ID = newID()
	}
	g, err := s.Take(t.Context(), r)
	if err == nil {
		checkQuotas(t, "Take", r.Limits, g.Quotas)
		if !r.Now.IsZero() && !g.At.Equal(r.Now) {
			t.Errorf("Take(%+v): At = %v, want r.Now", r, g.At)
		}
		return g, nil
	}
	e, ok := errors.AsType[*ratelimit.ExceededError](err)
	if !ok {
		t.Fatalf("Take(%+v) = %v, want nil or *ExceededError", r, err)
	}
	if e.RetryAfter <= 0 {
		t.Errorf("Take(%+v): RetryAfter = %v, want > 0", r, e.RetryAfter)
	}
	if g.At != (time.Time{}) || g.Quotas != nil {
		t.Errorf("Take(%+v) refused with Grant %+v, want the zero Grant", r, g)
	}
	return ratelimit.Grant{}, e
}

// settle calls Settle, fails t on error, checks the quotas' shape and
// returns them.
func settle(t *testing.T, s ratelimit.Store, st ratelimit.Settlement) []ratelimit.Quota {
	t.Helper()
	qs, err := s.Settle(t.Context(), st)
	if err != nil {
		t.Fatalf("Settle(%+v) = %v", st, err)
	}
	checkQuotas(t, "Settle", st.Limits, qs)
	return qs
}

// checkQuotas checks that qs has one quota per limit, in order, none
// negative.
func checkQuotas(t *testing.T, op string, limits []ratelimit.Limit, qs []ratelimit.Quota) {
	t.Helper()
	if len(qs) != len(limits) {
		t.Fatalf("%s: %d quotas for %d limits", op, len(qs), len(limits))
	}
	for i, q := range qs {
		if q.Limit != limits[i] || q.Remaining < 0 || q.Remaining > limits[i].Max || q.Reset < 0 {
			t.Errorf("%s: quota %d = %+v, want one of %+v with 0 ≤ Remaining ≤ Max and Reset ≥ 0", op, i, q, limits[i])
		}
	}
}

// admitted counts how many of n requests r pass, one after the other.
func admitted(t *testing.T, s ratelimit.Store, r ratelimit.Request, n int) int {
	t.Helper()
	got := 0
	for range n {
		if take(t, s, r) == nil {
			got++
		}
	}
	return got
}

// testRequestsPerMinute checks the GCRA: a burst of Max, then one request
// per Max-th of a minute.
func testRequestsPerMinute(t *testing.T, s ratelimit.Store) {
	const n = 10
	r := ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.RequestsPerMinute, keyScope, n)}, Now: base}
	if got := admitted(t, s, r, 3*n); got != n {
		t.Fatalf("burst at one instant: admitted %d, want %d", got, n)
	}
	// The interval T is 6s; after the burst, the TAT is base+1min.
	steps := []struct {
		at   time.Duration
		want int
	}{
		{time.Second, 0},      // less than T refilled
		{6 * time.Second, 1},  // T refilled
		{6 * time.Second, 0},  // same instant: already taken
		{42 * time.Second, 6}, // six more intervals
		{10 * time.Minute, n}, // idle: the full burst again
	}
	for _, st := range steps {
		r.Now = base.Add(st.at)
		if got := admitted(t, s, r, 3*n); got != st.want {
			t.Errorf("at +%v: admitted %d, want %d", st.at, got, st.want)
		}
	}
}

// testConcurrent50 runs 50 goroutines against one key over a simulated
// minute: at most N at the start plus N refilled in the minute (the
// documented burst) are admitted.
func testConcurrent50(t *testing.T, s ratelimit.Store) {
	const (
		n        = 100
		clients  = 50
		attempts = 40
	)
	lim := []ratelimit.Limit{limit(ratelimit.RequestsPerMinute, keyScope, n)}
	var got atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range attempts {
				// Time runs from base to base+1min over the attempts.
				now := base.Add(time.Duration(i) * time.Minute / attempts).Add(time.Duration(c) * time.Millisecond)
				_, err := s.Take(t.Context(), ratelimit.Request{Limits: lim, Now: now})
				if err == nil {
					got.Add(1)
				} else if _, ok := errors.AsType[*ratelimit.ExceededError](err); !ok {
					t.Errorf("Take: %v", err)
				}
			}
		})
	}
	wg.Wait()
	// At most N at once plus one per interval T up to the last attempt.
	last := time.Duration(attempts-1)*time.Minute/attempts + (clients-1)*time.Millisecond
	if max := int64(n) + int64(last/(time.Minute/n)); got.Load() > max || got.Load() < n {
		t.Errorf("50 clients, %d/min over one minute: admitted %d, want between %d and %d", n, got.Load(), n, max)
	}
}

// testConcurrentBudget runs 50 goroutines reserving tokens against one
// principal's day budget and their keys' concurrency limits: the budget is
// never overspent, and no refusal leaks into a key's counters.
func testConcurrentBudget(t *testing.T, s ratelimit.Store) {
	const clients, attempts, reserve, budget = 50, 10, 100, 2000
	principal := limit(ratelimit.TokensPerDay, principalScope, budget)
	var got atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			key := limit(ratelimit.Concurrent, ratelimit.KeyScope(apikeyID(c)), 1)
			r := ratelimit.Request{Limits: []ratelimit.Limit{key, principal}, Tokens: reserve, Now: base}
			for range attempts {
				r.ID = newID()
				_, err := s.Take(t.Context(), r)
				if _, ok := errors.AsType[*ratelimit.ExceededError](err); err != nil && !ok {
					t.Errorf("Take: %v", err)
				}
				if err != nil {
					continue
				}
				got.Add(1)
				st := ratelimit.Settlement{Limits: r.Limits, Taken: base, Now: base, ID: r.ID}
				if _, err := s.Settle(t.Context(), st); err != nil {
					t.Errorf("Settle: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got.Load() != budget/reserve {
		t.Errorf("admitted %d of %d tokens each under a budget of %d, want %d", got.Load(), reserve, budget, budget/reserve)
	}
}

func apikeyID(c int) apikey.ID { return apikey.ID(fmt.Sprintf("k%02d", c)) }

// testAllOrNothing checks that a refusal by one limit takes nothing from
// the others.
func testAllOrNothing(t *testing.T, open func(*testing.T) ratelimit.Store) {
	tests := []struct {
		name            string
		key, principal  ratelimit.Limit
		tokens, cost    int64
		keyLeft         int // requests of (tokens, cost) the key alone admits after
		principalPasses int // how many requests of both pass first
	}{
		{"RequestsPerMinute", limit(ratelimit.RequestsPerMinute, keyScope, 10), limit(ratelimit.RequestsPerMinute, principalScope, 2), 0, 0, 8, 2},
		{"TokensPerDay", limit(ratelimit.TokensPerDay, keyScope, 1000), limit(ratelimit.TokensPerDay, principalScope, 300), 100, 0, 7, 3},
		{"CostPerMonth", limit(ratelimit.CostPerMonth, keyScope, 50), limit(ratelimit.CostPerMonth, principalScope, 10), 0, 5, 8, 2},
		{"Concurrent", limit(ratelimit.Concurrent, keyScope, 5), limit(ratelimit.Concurrent, principalScope, 1), 0, 0, 4, 1},
		{"TokensPerMinute", limit(ratelimit.TokensPerMinute, keyScope, 1000), limit(ratelimit.TokensPerMinute, principalScope, 200), 100, 0, 8, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			both := ratelimit.Request{Limits: []ratelimit.Limit{tt.key, tt.principal}, Tokens: tt.tokens, Cost: tt.cost, Now: base}
			if got := admitted(t, s, both, 20); got != tt.principalPasses {
				t.Fatalf("key and principal: admitted %d, want %d", got, tt.principalPasses)
			}
			e := take(t, s, both)
			if e == nil || e.Limit != tt.principal {
				t.Fatalf("refusal = %v, want one by %+v", e, tt.principal)
			}
			keyOnly := both
			keyOnly.Limits = []ratelimit.Limit{tt.key}
			if got := admitted(t, s, keyOnly, 20); got != tt.keyLeft {
				t.Errorf("key alone after principal refusals: admitted %d, want %d", got, tt.keyLeft)
			}
		})
	}
}

// testSettle checks that settling gives back unused reservations and
// charges overspend, on each token and cost limit.
func testSettle(t *testing.T, open func(*testing.T) ratelimit.Store) {
	tests := []struct {
		name  string
		kind  ratelimit.Kind
		token bool
	}{
		{"TokensPerMinute", ratelimit.TokensPerMinute, true},
		{"TokensPerDay", ratelimit.TokensPerDay, true},
		{"TokensPerMonth", ratelimit.TokensPerMonth, true},
		{"CostPerDay", ratelimit.CostPerDay, false},
		{"CostPerMonth", ratelimit.CostPerMonth, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			lims := []ratelimit.Limit{limit(tt.kind, keyScope, 1000)}
			req := func(n int64) ratelimit.Request {
				if tt.token {
					return ratelimit.Request{Limits: lims, Tokens: n, Now: base}
				}
				return ratelimit.Request{Limits: lims, Cost: n, Now: base}
			}
			set := func(delta int64) ratelimit.Settlement {
				st := ratelimit.Settlement{Limits: lims, Taken: base, Now: base}
				if tt.token {
					st.Tokens = delta
				} else {
					st.Cost = delta
				}
				return st
			}
			if e := take(t, s, req(1000)); e != nil {
				t.Fatalf("reserve 1000 of 1000: %v", e)
			}
			if e := take(t, s, req(1)); e == nil {
				t.Fatal("reserve 1 more: admitted, want refused")
			}
			settle(t, s, set(-600)) // used 400
			if e := take(t, s, req(600)); e != nil {
				t.Fatalf("after settling 400 of 1000, reserve 600: %v", e)
			}
			if e := take(t, s, req(1)); e == nil {
				t.Fatal("after settling back to full, reserve 1: admitted, want refused")
			}
			settle(t, s, set(-500)) // used 500
			settle(t, s, set(+200)) // used 700: overspend is charged
			if e := take(t, s, req(301)); e == nil {
				t.Fatal("used 700, reserve 301: admitted, want refused")
			}
			if e := take(t, s, req(300)); e != nil {
				t.Fatalf("used 700, reserve 300: %v", e)
			}
		})
	}
}

// testConcurrency checks that slots are taken and given back on settle.
func testConcurrency(t *testing.T, s ratelimit.Store) {
	lims := []ratelimit.Limit{limit(ratelimit.Concurrent, keyScope, 2)}
	r := ratelimit.Request{Limits: lims, Now: base}
	ids := []string{"a", "b", "c", "d", "e"}
	got := 0
	for _, id := range ids {
		r.ID = id
		if take(t, s, r) == nil {
			got++
		}
	}
	if got != 2 {
		t.Fatalf("concurrent 2: admitted %d, want 2", got)
	}
	r.ID = "f"
	e := take(t, s, r)
	if e == nil {
		t.Fatal("third in flight: admitted, want refused")
	}
	if reason, wait := e.LimitExceeded(); reason != "rate_limited" || wait != ratelimit.ConcurrentRetryAfter {
		t.Errorf("LimitExceeded() = %q, %v; want rate_limited, %v", reason, wait, ratelimit.ConcurrentRetryAfter)
	}
	done := ratelimit.Settlement{Limits: lims, Taken: base, Now: base, ID: "a"}
	settle(t, s, done)
	r.ID = "g"
	if e := take(t, s, r); e != nil {
		t.Fatalf("after one settled: %v", e)
	}
	r.ID = "h"
	if e := take(t, s, r); e == nil {
		t.Fatal("slot given back once, taken twice")
	}
	// Settling again, or settling IDs that hold no slot (refused, unknown),
	// never makes room.
	for _, id := range []string{"a", "a", "c", "f", "unknown"} {
		done.ID = id
		if qs := settle(t, s, done); qs[0].Remaining != 0 {
			t.Errorf("after settling %q again or never taken: Remaining = %d, want 0", id, qs[0].Remaining)
		}
	}
	r.ID = "" // admitted gives each call an ID of its own
	if got := admitted(t, s, r, 5); got != 0 {
		t.Errorf("after over-settling: admitted %d, want 0", got)
	}
	// The two slots held are b and g.
	for _, id := range []string{"b", "g"} {
		done.ID = id
		settle(t, s, done)
	}
	if got := admitted(t, s, r, 5); got != 2 {
		t.Errorf("after both settled: admitted %d, want 2", got)
	}
}

// testLeases checks that a slot never settled is freed when its lease
// ends, as when the gateway replica that held it crashed.
func testLeases(t *testing.T, open func(*testing.T) ratelimit.Store) {
	tests := []struct {
		name  string
		lease time.Duration // of the first request
		ends  time.Duration // when it frees
	}{
		{"Lease", 10 * time.Second, 10 * time.Second},
		{"SubMicrosecondRoundsUp", 1500 * time.Nanosecond, 2 * time.Microsecond},
		{"DefaultLease", 0, ratelimit.DefaultLease},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			lims := []ratelimit.Limit{limit(ratelimit.Concurrent, keyScope, 1)}
			mustTake(t, s, ratelimit.Request{Limits: lims, Now: base, ID: "lost", Lease: tt.lease})
			r := ratelimit.Request{Limits: lims, Now: base.Add(tt.ends - time.Microsecond), ID: "next"}
			if e := take(t, s, r); e == nil {
				t.Fatalf("1µs before the lease ends: admitted, want refused")
			}
			r.Now = base.Add(tt.ends)
			g := mustTake(t, s, r)
			if q := g.Quotas[0]; q.Remaining != 0 {
				t.Errorf("after the lease ended and one more took its slot: Remaining = %d, want 0", q.Remaining)
			}
			// The lost call's settlement, arriving late, frees nothing.
			qs := settle(t, s, ratelimit.Settlement{Limits: lims, Taken: base, Now: r.Now, ID: "lost"})
			if qs[0].Remaining != 0 {
				t.Errorf("late settlement of an expired lease: Remaining = %d, want 0", qs[0].Remaining)
			}
			qs = settle(t, s, ratelimit.Settlement{Limits: lims, Taken: r.Now, Now: r.Now, ID: "next"})
			if qs[0].Remaining != 1 {
				t.Errorf("after settling the live lease: Remaining = %d, want 1", qs[0].Remaining)
			}
		})
	}
	t.Run("InTurn", func(t *testing.T) {
		// Leases of different terms free one by one, each at its end.
		s := open(t)
		lims := []ratelimit.Limit{limit(ratelimit.Concurrent, keyScope, 3)}
		for i, lease := range []time.Duration{30 * time.Second, 10 * time.Second, 20 * time.Second} {
			mustTake(t, s, ratelimit.Request{Limits: lims, Now: base.Add(time.Duration(i) * time.Microsecond), ID: fmt.Sprint("lost", i), Lease: lease})
		}
		steps := []struct {
			at   time.Duration
			want int64 // Remaining
		}{
			{5 * time.Second, 0},
			{10*time.Second + time.Microsecond, 1},
			{15 * time.Second, 1},
			{20*time.Second + 2*time.Microsecond, 2},
			{30 * time.Second, 3},
		}
		for _, st := range steps {
			qs := settle(t, s, ratelimit.Settlement{Limits: lims, Now: base.Add(st.at), ID: "none"})
			if qs[0].Remaining != st.want {
				t.Errorf("at +%v: Remaining = %d, want %d", st.at, qs[0].Remaining, st.want)
			}
		}
	})
}

// testRollover checks that budgets start again at UTC midnight and at the
// start of a month, whatever the location of Now.
func testRollover(t *testing.T, open func(*testing.T) ratelimit.Store) {
	tokyo := time.FixedZone("UTC+9", 9*3600)
	tests := []struct {
		name      string
		kind      ratelimit.Kind
		at        time.Time // exhaust the budget here
		wait      time.Duration
		sameAfter time.Duration // still the same window
	}{
		{"Day", ratelimit.TokensPerDay, time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC), time.Second, 999 * time.Millisecond},
		{"DayInTokyo", ratelimit.CostPerDay, time.Date(2026, 3, 15, 8, 0, 0, 0, tokyo), time.Hour, 59 * time.Minute},
		{"Month", ratelimit.TokensPerMonth, time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC), time.Hour, 30 * time.Minute},
		{"February", ratelimit.CostPerMonth, time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), 24 * time.Hour, 23 * time.Hour},
		{"Year", ratelimit.TokensPerDay, time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), 12 * time.Hour, 11 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			r := ratelimit.Request{Limits: []ratelimit.Limit{limit(tt.kind, keyScope, 100)}, Tokens: 100, Cost: 100, Now: tt.at}
			if e := take(t, s, r); e != nil {
				t.Fatalf("first: %v", e)
			}
			e := take(t, s, r)
			if e == nil {
				t.Fatal("second in the same window: admitted, want refused")
			}
			if reason, wait := e.LimitExceeded(); reason != "budget_exceeded" || wait != tt.wait {
				t.Errorf("LimitExceeded() = %q, %v; want budget_exceeded, %v", reason, wait, tt.wait)
			}
			r.Now = tt.at.Add(tt.sameAfter)
			if e := take(t, s, r); e == nil {
				t.Errorf("at +%v, same window: admitted, want refused", tt.sameAfter)
			}
			r.Now = tt.at.Add(tt.wait)
			if e := take(t, s, r); e != nil {
				t.Errorf("at the next window: %v", e)
			}
			// A refund for the ended window does not lend the new one
			// capacity; an overspend is charged to it.
			settle(t, s, ratelimit.Settlement{Limits: r.Limits, Taken: tt.at, Now: r.Now, Tokens: -100, Cost: -100})
			if e := take(t, s, ratelimit.Request{Limits: r.Limits, Tokens: 1, Cost: 1, Now: r.Now}); e == nil {
				t.Error("refund of the old window made room in the new one")
			}
		})
	}
}

// testRetryAfter checks that a refusal's wait is when the request would
// pass, and that the message names the limit.
func testRetryAfter(t *testing.T, open func(*testing.T) ratelimit.Store) {
	tests := []struct {
		name   string
		limits []ratelimit.Limit
		fill   ratelimit.Request // taken first, at base
		fills  int               // how many times
		req    ratelimit.Request // refused, at base
		want   ratelimit.Limit
		wait   time.Duration
	}{
		{
			name:   "RequestsPerMinute",
			limits: []ratelimit.Limit{limit(ratelimit.RequestsPerMinute, keyScope, 60)},
			fills:  60,
			wait:   time.Second,
		},
		{
			name:   "TokensPerMinute",
			limits: []ratelimit.Limit{limit(ratelimit.TokensPerMinute, keyScope, 1000)},
			fill:   ratelimit.Request{Tokens: 1000},
			fills:  1,
			req:    ratelimit.Request{Tokens: 500},
			wait:   30 * time.Second,
		},
		{
			name: "LongestWaitNamed",
			limits: []ratelimit.Limit{
				limit(ratelimit.RequestsPerMinute, keyScope, 60),
				limit(ratelimit.TokensPerDay, principalScope, 100),
			},
			fill:  ratelimit.Request{Tokens: 100},
			fills: 1,
			req:   ratelimit.Request{Tokens: 1},
			want:  limit(ratelimit.TokensPerDay, principalScope, 100),
			wait:  12 * time.Hour,
		},
		{
			name:   "TooLargeForMinute",
			limits: []ratelimit.Limit{limit(ratelimit.TokensPerMinute, keyScope, 1000)},
			req:    ratelimit.Request{Tokens: 1001},
			wait:   time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			if tt.want == (ratelimit.Limit{}) {
				tt.want = tt.limits[0]
			}
			fill := tt.fill
			fill.Limits, fill.Now = tt.limits, base
			for range tt.fills {
				if e := take(t, s, fill); e != nil {
					t.Fatalf("fill: %v", e)
				}
			}
			req := tt.req
			req.Limits, req.Now = tt.limits, base
			e := take(t, s, req)
			if e == nil {
				t.Fatal("admitted, want refused")
			}
			if e.Limit != tt.want || e.RetryAfter != tt.wait {
				t.Errorf("refusal = %+v, %v; want %+v, %v", e.Limit, e.RetryAfter, tt.want, tt.wait)
			}
			who, id, _ := strings.Cut(tt.want.Scope, ":")
			for _, part := range []string{who, id, string(tt.want.Kind)} {
				if !strings.Contains(e.Error(), part) {
					t.Errorf("Error() = %q, want it to name %q", e.Error(), part)
				}
			}
			req.Now = base.Add(tt.wait)
			if tt.name != "TooLargeForMinute" {
				if e := take(t, s, req); e != nil {
					t.Errorf("after RetryAfter: %v", e)
				}
			}
		})
	}
}

// testInvalid checks that malformed requests are not refusals.
func testInvalid(t *testing.T, s ratelimit.Store) {
	tests := []struct {
		name string
		req  ratelimit.Request
	}{
		{"ZeroMax", ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.Concurrent, keyScope, 0)}}},
		{"UnknownKind", ratelimit.Request{Limits: []ratelimit.Limit{limit("per_fortnight", keyScope, 1)}}},
		{"BadScope", ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.Concurrent, "team:x", 1)}}},
		{"Duplicate", ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.Concurrent, keyScope, 1), limit(ratelimit.Concurrent, keyScope, 2)}}},
		{"NegativeTokens", ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.TokensPerDay, keyScope, 1)}, Tokens: -1}},
		{"NegativeCost", ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.CostPerDay, keyScope, 1)}, Cost: -1, ID: "r"}},
		{"NegativeLease", ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.Concurrent, keyScope, 1)}, ID: "r", Lease: -time.Second}},
		{"ConcurrentWithoutID", ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.TokensPerDay, keyScope, 1), limit(ratelimit.Concurrent, keyScope, 1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Now = base
			g, err := s.Take(t.Context(), tt.req)
			if !errors.Is(err, ratelimit.ErrInvalid) {
				t.Errorf("Take = %v, want ErrInvalid", err)
			}
			if _, ok := errors.AsType[*ratelimit.ExceededError](err); ok {
				t.Errorf("Take = %v, an *ExceededError; want only ErrInvalid", err)
			}
			if g.At != (time.Time{}) || g.Quotas != nil {
				t.Errorf("Take = %+v, want the zero Grant", g)
			}
		})
	}
	settlements := []struct {
		name string
		st   ratelimit.Settlement
	}{
		{"SettleZeroMax", ratelimit.Settlement{Limits: []ratelimit.Limit{limit(ratelimit.TokensPerDay, keyScope, 0)}}},
		{"SettleBadScope", ratelimit.Settlement{Limits: []ratelimit.Limit{limit(ratelimit.TokensPerDay, "team:x", 1)}}},
		{"SettleConcurrentWithoutID", ratelimit.Settlement{Limits: []ratelimit.Limit{limit(ratelimit.Concurrent, keyScope, 1)}}},
	}
	for _, tt := range settlements {
		t.Run(tt.name, func(t *testing.T) {
			tt.st.Now, tt.st.Taken = base, base
			if _, err := s.Settle(t.Context(), tt.st); !errors.Is(err, ratelimit.ErrInvalid) {
				t.Errorf("Settle = %v, want ErrInvalid", err)
			}
		})
	}
	// None of them took anything: the limits are whole.
	r := ratelimit.Request{Limits: []ratelimit.Limit{limit(ratelimit.TokensPerDay, keyScope, 1), limit(ratelimit.Concurrent, keyScope, 1)}, Tokens: 1, Now: base}
	if e := take(t, s, r); e != nil {
		t.Errorf("after invalid requests: %v", e)
	}
}
