package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// TestLimiterUnavailable checks calls while the limits store cannot be
// reached: refused with 503 limiter_unavailable and Retry-After 1, and
// not forwarded, unless every limit of the call (the key's, its
// feature's, its principal's) is of a kind listed in FailOpen, in which
// case the call is forwarded unlimited.
func TestLimiterUnavailable(t *testing.T) {
	const principal apikey.PrincipalID = "down@example.com"
	perMinute := []ratelimit.Kind{ratelimit.RequestsPerMinute, ratelimit.TokensPerMinute}
	every := []ratelimit.Kind{ratelimit.RequestsPerMinute, ratelimit.TokensPerMinute, ratelimit.Concurrent,
		ratelimit.TokensPerDay, ratelimit.TokensPerMonth, ratelimit.CostPerDay, ratelimit.CostPerMonth}
	tests := []struct {
		name      string
		failOpen  []ratelimit.Kind
		key       apikey.Limits
		principal apikey.Limits
		features  map[string]apikey.Limits
		path      string
		body      string
		wantOK    bool
	}{
		{name: "FailsClosed", key: apikey.Limits{RequestsPerMinute: 60}},
		{name: "FailsClosedMessages", key: apikey.Limits{RequestsPerMinute: 60}, path: "/v1/messages"},
		{name: "OpenPerMinute", failOpen: perMinute, key: apikey.Limits{RequestsPerMinute: 60, TokensPerMinute: 40000}, wantOK: true},
		{name: "OpenPerMinuteMessages", failOpen: perMinute, key: apikey.Limits{RequestsPerMinute: 60}, path: "/v1/messages", wantOK: true},
		{name: "KeyBudgetNotListed", failOpen: perMinute, key: apikey.Limits{RequestsPerMinute: 60, TokensPerDay: 1000}},
		{name: "PrincipalBudgetNotListed", failOpen: perMinute, key: apikey.Limits{RequestsPerMinute: 60},
			principal: apikey.Limits{CostPerMonth: 1_000_000}},
		{name: "FeatureLimitNotListed", failOpen: perMinute, key: apikey.Limits{RequestsPerMinute: 60},
			features: map[string]apikey.Limits{"chat": {Concurrent: 4}}},
		{name: "OpenEveryKind", failOpen: every,
			key:       apikey.Limits{RequestsPerMinute: 60, TokensPerMinute: 40000, Concurrent: 2, TokensPerDay: 1000, TokensPerMonth: 10000, CostPerDay: 100, CostPerMonth: 1000},
			principal: apikey.Limits{TokensPerDay: 100000},
			features:  map[string]apikey.Limits{"chat": {Concurrent: 4}},
			wantOK:    true},
		// No limit applies: the store is not asked.
		{name: "NoLimits", wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{FailOpen: tt.failOpen, Features: tt.features,
				Prices: map[string]proxy.Price{"gpt-4o-mini": miniPrice}}, envOptions{})
			e.addPrincipal(principal, apikey.AudienceInternal, tt.principal)
			key, _ := e.limitedKey(t, principal, tt.key)
			e.store.down.Store(true)
			path, body, api := "/v1/chat/completions", chatBody("gpt-4o-mini", 10), provider.APIOpenAI
			if tt.path == "/v1/messages" {
				path, body, api = tt.path, messagesBody("claude-haiku-4-5", 10), provider.APIAnthropic
			}
			resp, b := e.post(t, key, path, body)
			if tt.wantOK {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status = %d %s, want 200: forwarded unlimited", resp.StatusCode, b)
				}
				if n := e.up.count(); n != 1 {
					t.Errorf("the upstream received %d requests, want 1", n)
				}
				for _, name := range limitHeaderNames {
					if v := resp.Header.Get(name); v != "" {
						t.Errorf("%s = %q on an unlimited call, want none", name, v)
					}
				}
				if u := e.auditor.waitUsage(t); u.Outcome != "ok" {
					t.Errorf("usage outcome = %q, want ok", u.Outcome)
				}
				return
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status = %d %s, want 503", resp.StatusCode, b)
			}
			eb := checkErrorShape(t, api, http.StatusServiceUnavailable, b)
			if api == provider.APIOpenAI && eb.code() != "limiter_unavailable" {
				t.Errorf("error.code = %q, want limiter_unavailable", eb.code())
			}
			if want := "the gateway cannot check limits right now; try again shortly"; eb.Error.Message != want {
				t.Errorf("message = %q, want %q", eb.Error.Message, want)
			}
			if got := resp.Header.Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After = %q, want 1", got)
			}
			if strings.Contains(string(b), "10.9.8.7") || strings.Contains(string(b), "redis") {
				t.Errorf("the body shows the store's error: %s", b)
			}
			if n := e.up.count(); n != 0 {
				t.Errorf("the upstream received %d requests, want none", n)
			}
			if ev := e.auditor.lastAuthz(t); ev.Decision != "deny" || ev.Reason != "limiter_unavailable" || ev.Status != 503 {
				t.Errorf("authz event = %s %s %d, want deny limiter_unavailable 503", ev.Decision, ev.Reason, ev.Status)
			}
			e.auditor.noUsage(t)
		})
	}
}

// TestLimiterRecovers checks that calls pass again, and are counted, as
// soon as the store is back, without a restart.
func TestLimiterRecovers(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
	key, id := e.limitedKey(t, internalID, apikey.Limits{RequestsPerMinute: 60})
	e.store.down.Store(true)
	if resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", 10)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("store down: status = %d %s, want 503", resp.StatusCode, b)
	}
	e.store.down.Store(false)
	resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", 10))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("store back: status = %d %s, want 200", resp.StatusCode, b)
	}
	if got, want := resp.Header.Get("RateLimit"), `"key_requests_per_minute";r=59;t=1`; got != want {
		t.Errorf("RateLimit = %q, want %q: the call while down took nothing", got, want)
	}
	e.auditor.waitUsage(t)
	if got := e.remainingOf(t, keyLimit(id, ratelimit.RequestsPerMinute, 60)); got != 59 {
		t.Errorf("requests left = %d, want 59", got)
	}
}
