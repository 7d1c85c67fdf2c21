package proxy_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// TestStoreLimiter runs requests through the gateway with the in-memory
// limits store: a key limited to 2 requests a minute gets the third
// refused with 429, Retry-After and a rate_limited deny event, and the
// upstream sees only two; a token budget smaller than the reservation
// refuses with budget_exceeded.
func TestStoreLimiter(t *testing.T) {
	var env *testEnv
	now := func() time.Time { return env.clock.Now() }
	lim := proxy.NewStoreLimiter(proxy.LimiterConfig{Store: ratelimit.NewMemory(now), DefaultOutput: 100, Now: now})
	env = newTestEnv(t, envOptions{limiter: lim})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":10}`

	rpm, _, _ := env.mintKey(t, keySpec{principal: internalID, scopes: []string{"chat"},
		edit: func(k *apikey.Key) { k.Limits.RequestsPerMinute = 2 }})
	for i, want := range []int{200, 200, 429} {
		resp, b := env.post(t, rpm, "/v1/chat/completions", body)
		if resp.StatusCode != want {
			t.Fatalf("request %d = %d %s, want %d", i, resp.StatusCode, b, want)
		}
		if want == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if n := env.up.count(); n != 2 {
		t.Errorf("upstream saw %d requests, want 2", n)
	}
	events := env.auditor.authzEvents()
	if last := events[len(events)-1]; last.Decision != "deny" || last.Reason != "rate_limited" {
		t.Errorf("last authz event = %s %s, want deny rate_limited", last.Decision, last.Reason)
	}

	budget, _, _ := env.mintKey(t, keySpec{principal: internalID, scopes: []string{"chat"},
		edit: func(k *apikey.Key) { k.Limits.TokensPerDay = 5 }})
	resp, b := env.post(t, budget, "/v1/chat/completions", body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("request over the token budget = %d %s, want 429", resp.StatusCode, b)
	}
	if e := checkErrorShape(t, "openai", resp.StatusCode, b); e.code() != "budget_exceeded" {
		t.Errorf("code = %q, want budget_exceeded", e.code())
	}
	if n := env.up.count(); n != 2 {
		t.Errorf("upstream saw %d requests, want still 2", n)
	}
}
