// Package ratelimittest is the conformance suite of [ratelimit.Store]:
// every backend runs [Run] and so gives the same answers.
package ratelimittest

import (
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

// Run runs the suite against the stores open returns. Each call of open
// returns an empty store of its own. Every request sets Now, so the store's
// own clock is not used.
func Run(t *testing.T, open func(t *testing.T) ratelimit.Store) {
	t.Run("RequestsPerMinute", func(t *testing.T) { testRequestsPerMinute(t, open(t)) })
	t.Run("Concurrent50", func(t *testing.T) { testConcurrent50(t, open(t)) })
	t.Run("ConcurrentBudget", func(t *testing.T) { testConcurrentBudget(t, open(t)) })
	t.Run("AllOrNothing", func(t *testing.T) { testAllOrNothing(t, open) })
	t.Run("Settle", func(t *testing.T) { testSettle(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open(t)) })
	t.Run("Rollover", func(t *testing.T) { testRollover(t, open) })
	t.Run("RetryAfter", func(t *testing.T) { testRetryAfter(t, open) })
	t.Run("ErrInvalid", func(t *testing.T) { testInvalid(t, open(t)) })
}

func limit(kind ratelimit.Kind, scope string, max int64) ratelimit.Limit {
	return ratelimit.Limit{Kind: kind, Scope: scope, Max: max}
}

// take calls Take and returns nil or the refusal; any other error fails t.
func take(t *testing.T, s ratelimit.Store, r ratelimit.Request) *ratelimit.ExceededError {
	t.Helper()
	err := s.Take(t.Context(), r)
	if err == nil {
		return nil
	}
	e, ok := errors.AsType[*ratelimit.ExceededError](err)
	if !ok {
		t.Fatalf("Take(%+v) = %v, want nil or *ExceededError", r, err)
	}
	if e.RetryAfter <= 0 {
		t.Errorf("Take(%+v): RetryAfter = %v, want > 0", r, e.RetryAfter)
	}
	return e
}

func settle(t *testing.T, s ratelimit.Store, st ratelimit.Settlement) {
	t.Helper()
	if err := s.Settle(t.Context(), st); err != nil {
		t.Fatalf("Settle(%+v) = %v", st, err)
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
				err := s.Take(t.Context(), ratelimit.Request{Limits: lim, Now: now})
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
				err := s.Take(t.Context(), r)
				if _, ok := errors.AsType[*ratelimit.ExceededError](err); err != nil && !ok {
					t.Errorf("Take: %v", err)
				}
				if err != nil {
					continue
				}
				got.Add(1)
				st := ratelimit.Settlement{Limits: r.Limits, Taken: base, Now: base}
				if err := s.Settle(t.Context(), st); err != nil {
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
	if got := admitted(t, s, r, 5); got != 2 {
		t.Fatalf("concurrent 2: admitted %d, want 2", got)
	}
	e := take(t, s, r)
	if e == nil {
		t.Fatal("third in flight: admitted, want refused")
	}
	if reason, _ := e.LimitExceeded(); reason != "rate_limited" {
		t.Errorf("reason = %q, want rate_limited", reason)
	}
	settle(t, s, ratelimit.Settlement{Limits: lims, Taken: base, Now: base})
	if e := take(t, s, r); e != nil {
		t.Fatalf("after one settled: %v", e)
	}
	if e := take(t, s, r); e == nil {
		t.Fatal("slot given back once, taken twice")
	}
	// Settling more than was taken never makes room beyond Max.
	for range 5 {
		settle(t, s, ratelimit.Settlement{Limits: lims, Taken: base, Now: base})
	}
	if got := admitted(t, s, r, 5); got != 2 {
		t.Errorf("after over-settling: admitted %d, want 2", got)
	}
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Now = base
			if err := s.Take(t.Context(), tt.req); !errors.Is(err, ratelimit.ErrInvalid) {
				t.Errorf("Take = %v, want ErrInvalid", err)
			}
		})
	}
}
