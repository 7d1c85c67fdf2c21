package ratelimit

import (
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
		if err := m.Take(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	busy := Request{Limits: []Limit{
		{Kind: Concurrent, Scope: KeyScope("busy"), Max: 10},
		{Kind: TokensPerMonth, Scope: KeyScope("busy"), Max: 10},
	}, Tokens: 5}
	later := base.Add(time.Hour)
	busy.Now = later
	if err := m.Take(t.Context(), busy); err != nil {
		t.Fatal(err)
	}
	for range 2 * keys {
		if err := m.Take(t.Context(), Request{Now: later}); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got != 1 {
		t.Errorf("after an hour idle, Len() = %d, want 1 (the busy key)", got)
	}
	// The kept counters still count.
	if err := m.Take(t.Context(), busy); err != nil {
		t.Fatal(err)
	}
	if err := m.Take(t.Context(), busy); err == nil {
		t.Error("month budget of 10 admitted 15 after a sweep")
	}
}

// TestMemoryClock checks that a request without Now uses the store's clock.
func TestMemoryClock(t *testing.T) {
	now := time.Date(2026, 3, 14, 23, 59, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return now })
	r := Request{Limits: []Limit{{Kind: TokensPerDay, Scope: KeyScope("k"), Max: 10}}, Tokens: 10}
	if err := m.Take(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	err := m.Take(t.Context(), r)
	if e, ok := err.(*ExceededError); !ok || e.RetryAfter != time.Minute {
		t.Fatalf("Take = %v, want a refusal for 1m", err)
	}
	now = now.Add(time.Minute)
	if err := m.Take(t.Context(), r); err != nil {
		t.Errorf("next day: %v", err)
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
	tests := []struct {
		c, max int64
		up     bool
		want   int64
	}{
		{1, 60, true, int64(time.Second)},
		{1, 7, true, int64(time.Minute)/7 + 1},
		{1, 7, false, int64(time.Minute) / 7},
		{10_000_000, 10_000_000, true, int64(time.Minute)},
		{1 << 62, 1, true, 1<<63 - 1},
	}
	for _, tt := range tests {
		if got := interval(tt.c, tt.max, tt.up); got != tt.want {
			t.Errorf("interval(%d, %d, %v) = %d, want %d", tt.c, tt.max, tt.up, got, tt.want)
		}
	}
}

func BenchmarkReserveSettle(b *testing.B) {
	base := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return base })
	var lims []Limit
	for _, scope := range []string{KeyScope("k1"), PrincipalScope("p1")} {
		for _, k := range []Kind{RequestsPerMinute, TokensPerMinute, Concurrent, TokensPerDay, TokensPerMonth, CostPerDay, CostPerMonth} {
			lims = append(lims, Limit{Kind: k, Scope: scope, Max: 1 << 60})
		}
	}
	r := Request{Limits: lims, Tokens: 1000, Cost: 50, Now: base}
	s := Settlement{Limits: lims, Taken: base, Tokens: -400, Cost: -20, Now: base}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Take(ctx, r); err != nil {
			b.Fatal(err)
		}
		if err := m.Settle(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
