package ratelimit

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestMemoryEvicts checks that idle counters are dropped and active ones
// kept.
func TestMemoryEvicts(t *testing.T) {
	base := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return base })
	const keys = 3 * minSweep
	for i := range keys {
		r := Request{Limits: []Limit{{Kind: RequestsPerMinute, Scope: "key:k" + strconv.Itoa(i), Max: 10}}, Now: base}
		if _, err := m.Take(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	busy := Request{Limits: []Limit{
		{Kind: Concurrent, Scope: KeyScope("busy"), Max: 10},
		{Kind: TokensPerMonth, Scope: KeyScope("busy"), Max: 10},
	}, Tokens: 5, ID: "busy-1"}
	later := base.Add(time.Hour)
	busy.Now = later
	if _, err := m.Take(t.Context(), busy); err != nil {
		t.Fatal(err)
	}
	for range 2 * keys {
		if _, err := m.Take(t.Context(), Request{Now: later}); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got != 1 {
		t.Errorf("after an hour idle, Len() = %d, want 1 (the busy key)", got)
	}
	// The kept counters still count.
	busy.ID = "busy-2"
	if _, err := m.Take(t.Context(), busy); err != nil {
		t.Fatal(err)
	}
	busy.ID = "busy-3"
	if _, err := m.Take(t.Context(), busy); err == nil {
		t.Error("month budget of 10 admitted 15 after a sweep")
	}

	// A scope whose only counter is a concurrency lease is kept while the
	// lease lives and evicted once it has expired, settled or not.
	lease := Request{Limits: []Limit{{Kind: Concurrent, Scope: KeyScope("lease"), Max: 1}}, Now: later, ID: "l1", Lease: time.Minute}
	if _, err := m.Take(t.Context(), lease); err != nil {
		t.Fatal(err)
	}
	sweep := func(at time.Time) {
		for range 2 * keys {
			if _, err := m.Take(t.Context(), Request{Now: at}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sweep(later.Add(59 * time.Second))
	if got := m.Len(); got != 2 {
		t.Errorf("with a live lease, Len() = %d, want 2", got)
	}
	sweep(later.Add(time.Minute))
	if got := m.Len(); got != 1 {
		t.Errorf("after the lease expired, Len() = %d, want 1", got)
	}
}

// TestMemoryClock checks that a request without Now uses the store's clock.
func TestMemoryClock(t *testing.T) {
	now := time.Date(2026, 3, 14, 23, 59, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return now })
	r := Request{Limits: []Limit{{Kind: TokensPerDay, Scope: KeyScope("k"), Max: 10}}, Tokens: 10}
	g, err := m.Take(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if g.At != now {
		t.Errorf("At = %v, want the clock's %v", g.At, now)
	}
	_, err = m.Take(t.Context(), r)
	if e, ok := errors.AsType[*ExceededError](err); !ok || e.RetryAfter != time.Minute {
		t.Fatalf("Take = %v, want a refusal for 1m", err)
	}
	now = now.Add(time.Minute)
	if _, err := m.Take(t.Context(), r); err != nil {
		t.Errorf("next day: %v", err)
	}
	// A refund settled without a Now or Taken is in the clock's window.
	qs, err := m.Settle(t.Context(), Settlement{Limits: r.Limits, Tokens: -4})
	if err != nil || qs[0].Remaining != 4 {
		t.Errorf("Settle = %+v, %v; want 4 remaining", qs, err)
	}
}

func TestExceededError(t *testing.T) {
	tests := []struct {
		limit  Limit
		reason string
		msg    string
	}{
		{Limit{RequestsPerMinute, "key:abc", 10}, "rate_limited",
			"rate limit exceeded: key abc limit requests_per_minute of 10; retry after 1.5s"},
		{Limit{Concurrent, "principal:p1", 2}, "rate_limited",
			"rate limit exceeded: principal p1 limit concurrent of 2; retry after 1.5s"},
		{Limit{CostPerMonth, "principal:p1", 5000000}, "budget_exceeded",
			"budget exceeded: principal p1 limit cost_per_month of 5000000; retry after 1.5s"},
		{Limit{TokensPerDay, "key:abc", 100}, "budget_exceeded",
			"budget exceeded: key abc limit tokens_per_day of 100; retry after 1.5s"},
	}
	for _, tt := range tests {
		e := &ExceededError{Limit: tt.limit, RetryAfter: 1500 * time.Millisecond}
		if got := e.Error(); got != tt.msg {
			t.Errorf("Error() = %q, want %q", got, tt.msg)
		}
		if reason, wait := e.LimitExceeded(); reason != tt.reason || wait != e.RetryAfter {
			t.Errorf("LimitExceeded() = %q, %v; want %q, %v", reason, wait, tt.reason, e.RetryAfter)
		}
	}
}

func TestKindIndex(t *testing.T) {
	for i, k := range kinds {
		if k.index() != i || !k.Valid() {
			t.Errorf("%s: index %d, Valid %v; want %d, true", k, k.index(), k.Valid(), i)
		}
	}
	if Kind("tokens_per_week").Valid() {
		t.Error("tokens_per_week is Valid")
	}
}

func TestInterval(t *testing.T) {
	const minute = int64(time.Minute / Resolution)
	tests := []struct {
		units, max int64
		want       int64
	}{
		{1, 60, int64(time.Second / Resolution)},
		{1, 7, minute/7 + 1},   // rounded up
		{-1, 7, -(minute / 7)}, // a refund, rounded toward zero
		{0, 7, 0},
		{10_000_000, 10_000_000, minute},
		{7, 1 << 62, 1},        // less than one unit of Resolution
		{-7, 1 << 62, 0},       // refunds nothing
		{1 << 62, 1, MaxUnits}, // saturates
		{-1 << 63, 1, -MaxUnits},
		{1 << 40, 1 << 41, minute / 2},
	}
	for _, tt := range tests {
		l := Limit{Kind: TokensPerMinute, Scope: "key:k", Max: tt.max}
		if got := l.Interval(tt.units); got != tt.want {
			t.Errorf("Limit{Max: %d}.Interval(%d) = %d, want %d", tt.max, tt.units, got, tt.want)
		}
	}
}

func TestRateQuota(t *testing.T) {
	const now = 1_000_000_000
	tests := []struct {
		max, tat  int64
		remaining int64
		reset     time.Duration
	}{
		{10, 0, 10, 0},                                         // fresh
		{10, now - 1, 10, 0},                                   // passed
		{10, now + 6_000_000, 9, 6 * time.Second},              // one taken
		{10, now + 60_000_000, 0, time.Minute},                 // all taken
		{10, now + 90_000_000, 0, 90 * time.Second},            // overspent
		{1 << 62, now + 30_000_000, 1 << 61, 30 * time.Second}, // (1min−d)·Max overflows 64 bits
		{7, now + 8_571_429, 5, 8_571_429 * time.Microsecond},
	}
	for _, tt := range tests {
		l := Limit{Kind: TokensPerMinute, Scope: "key:k", Max: tt.max}
		want := Quota{Limit: l, Remaining: tt.remaining, Reset: tt.reset}
		if got := l.RateQuota(tt.tat, now); got != want {
			t.Errorf("Limit{Max: %d}.RateQuota(now%+d, now) = %+v, want %+v", tt.max, tt.tat-now, got, want)
		}
	}
}

func TestBudgetQuota(t *testing.T) {
	l := Limit{Kind: TokensPerDay, Scope: "key:k", Max: 1 << 60}
	if got, want := l.BudgetQuota(1, 10, 4), (Quota{Limit: l, Remaining: MaxUnits - 1, Reset: 6 * time.Microsecond, Used: 1}); got != want {
		t.Errorf("BudgetQuota over MaxUnits = %+v, want %+v", got, want)
	}
	l.Max = 5
	if got, want := l.BudgetQuota(7, 10, 11), (Quota{Limit: l, Used: 7}); got != want {
		t.Errorf("BudgetQuota overspent and ended = %+v, want %+v", got, want)
	}
}

func TestWindow(t *testing.T) {
	at := time.Date(2026, 3, 1, 3, 0, 0, 0, time.FixedZone("UTC+5", 5*3600)) // Feb 28 in UTC
	tests := []struct {
		kind       Kind
		start, end time.Time
		ok         bool
	}{
		{TokensPerDay, time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), true},
		{CostPerMonth, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), true},
		{TokensPerMinute, time.Time{}, time.Time{}, false},
	}
	for _, tt := range tests {
		start, end, ok := tt.kind.Window(at)
		if !start.Equal(tt.start) || !end.Equal(tt.end) || ok != tt.ok {
			t.Errorf("%s.Window(%v) = %v, %v, %v; want %v, %v, %v", tt.kind, at, start, end, ok, tt.start, tt.end, tt.ok)
		}
	}
}

func TestLeaseTerm(t *testing.T) {
	tests := []struct {
		lease time.Duration
		want  int64
	}{
		{0, int64(DefaultLease / Resolution)},
		{time.Nanosecond, 1},
		{1001 * time.Nanosecond, 2},
		{time.Second, 1_000_000},
		{1<<63 - 1, MaxUnits},
	}
	for _, tt := range tests {
		if got := (Request{Lease: tt.lease}).LeaseTerm(); got != tt.want {
			t.Errorf("Request{Lease: %v}.LeaseTerm() = %d, want %d", tt.lease, got, tt.want)
		}
	}
}

// BenchmarkMemoryTakeSettle takes and settles a request under every kind
// of limit of a key and its principal, as the gateway does per call.
func BenchmarkMemoryTakeSettle(b *testing.B) {
	base := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return base })
	var lims []Limit
	for _, scope := range []string{KeyScope("k1"), PrincipalScope("p1")} {
		for _, k := range kinds {
			lims = append(lims, Limit{Kind: k, Scope: scope, Max: 1 << 50})
		}
	}
	r := Request{Limits: lims, Tokens: 1000, Cost: 50, Now: base, ID: "req-1"}
	s := Settlement{Limits: lims, Taken: base, Tokens: -400, Cost: -20, Now: base, ID: "req-1"}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Take(ctx, r); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Settle(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
