package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// TestAudienceDefaults checks that a key gets the default limits of its
// principal's audience for every kind it does not set, and the lower of
// its own and the default for the kinds it sets (defaults are ceilings a
// self-service key cannot raise), as the RateLimit-Policy of a call shows.
func TestAudienceDefaults(t *testing.T) {
	audiences := map[apikey.Audience]apikey.Limits{
		apikey.AudienceExternal: {RequestsPerMinute: 60, TokensPerDay: 5000},
		apikey.AudienceInternal: {RequestsPerMinute: 100},
	}
	tests := []struct {
		name       string
		principal  apikey.PrincipalID
		key        apikey.Limits
		wantPolicy string
	}{
		{name: "ExternalDefaults", principal: externalID,
			wantPolicy: `"key_requests_per_minute";q=60;w=60, "key_tokens_per_day";q=5000;w=86400;qu="tokens"`},
		{name: "ExternalKeyWins", principal: externalID, key: apikey.Limits{RequestsPerMinute: 5},
			wantPolicy: `"key_requests_per_minute";q=5;w=60, "key_tokens_per_day";q=5000;w=86400;qu="tokens"`},
		{name: "ExternalKeyAddsKind", principal: externalID, key: apikey.Limits{TokensPerMinute: 40000, TokensPerDay: 3000},
			wantPolicy: `"key_requests_per_minute";q=60;w=60, "key_tokens_per_minute";q=40000;w=60;qu="tokens", ` +
				`"key_tokens_per_day";q=3000;w=86400;qu="tokens"`},
		{name: "ExternalKeyCannotRaise", principal: externalID, key: apikey.Limits{RequestsPerMinute: 1 << 40, TokensPerDay: 9000},
			wantPolicy: `"key_requests_per_minute";q=60;w=60, "key_tokens_per_day";q=5000;w=86400;qu="tokens"`},
		{name: "InternalDefaults", principal: internalID,
			wantPolicy: `"key_requests_per_minute";q=100;w=60`},
		{name: "InternalKeyWins", principal: internalID, key: apikey.Limits{RequestsPerMinute: 7, Concurrent: 3},
			wantPolicy: `"key_requests_per_minute";q=7;w=60, "key_concurrent";q=3;w=1;qu="concurrent-requests"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{Audiences: audiences}, envOptions{})
			key, _ := e.limitedKey(t, tt.principal, tt.key)
			resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", 10))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d %s, want 200", resp.StatusCode, b)
			}
			if got := resp.Header.Get("RateLimit-Policy"); got != tt.wantPolicy {
				t.Errorf("RateLimit-Policy = %q, want %q", got, tt.wantPolicy)
			}
			e.auditor.waitUsage(t)
		})
	}
}

// TestAudienceDefaultEnforced checks that an audience default is enforced,
// not only reported: an external key without limits of its own gets the
// third call of a minute refused by the default of 2.
func TestAudienceDefaultEnforced(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{Audiences: map[apikey.Audience]apikey.Limits{
		apikey.AudienceExternal: {RequestsPerMinute: 2}}}, envOptions{})
	ext, extID := e.limitedKey(t, externalID, apikey.Limits{})
	in, _ := e.limitedKey(t, internalID, apikey.Limits{})
	for i, want := range []int{200, 200, 429} {
		resp, b := e.post(t, ext, "/v1/chat/completions", chatBody("gpt-4o-mini", 10))
		if resp.StatusCode != want {
			t.Fatalf("external call %d = %d %s, want %d", i, resp.StatusCode, b, want)
		}
		if want == http.StatusOK {
			e.auditor.waitUsage(t)
		}
	}
	if got := e.remainingOf(t, keyLimit(extID, ratelimit.RequestsPerMinute, 2)); got != 0 {
		t.Errorf("external key's requests left = %d, want 0", got)
	}
	for i := range 3 {
		resp, b := e.post(t, in, "/v1/chat/completions", chatBody("gpt-4o-mini", 10))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("internal call %d = %d %s, want 200: the external default applies to external keys only", i, resp.StatusCode, b)
		}
		if h := resp.Header.Get("RateLimit"); h != "" {
			t.Errorf("internal key without limits: RateLimit = %q, want none", h)
		}
		e.auditor.waitUsage(t)
	}
}

// TestFeatureLimits checks that a feature's limits are counted per key and
// feature: a key that used up its one request a minute on chat may still
// call code, and another key may still call chat.
func TestFeatureLimits(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{Features: map[string]apikey.Limits{
		"chat": {RequestsPerMinute: 1},
		"code": {RequestsPerMinute: 1},
	}}, envOptions{})
	keyA, idA := e.limitedKey(t, internalID, apikey.Limits{})
	keyB, idB := e.limitedKey(t, internalID, apikey.Limits{})
	keys := map[string]string{"A": keyA, "B": keyB}
	ids := map[string]apikey.ID{"A": idA, "B": idB}
	steps := []struct {
		name string
		key  string
		path string
		want int
		// wantState is the RateLimit header; {key} is the key's id.
		wantState string
		message   string
	}{
		{name: "AChat", key: "A", path: "/v1/chat/completions", want: 200,
			wantState: `"key_feature_requests_per_minute";r=0;t=60`},
		{name: "AChatAgain", key: "A", path: "/v1/chat/completions", want: 429,
			wantState: `"key_feature_requests_per_minute";r=0;t=60`,
			message:   "rate limit exceeded: key {key}/feature:chat limit requests_per_minute of 1; retry after 1m0s"},
		{name: "BChat", key: "B", path: "/v1/chat/completions", want: 200,
			wantState: `"key_feature_requests_per_minute";r=0;t=60`},
		{name: "ACode", key: "A", path: "/v1/messages", want: 200,
			wantState: `"key_feature_requests_per_minute";r=0;t=60`},
		{name: "ACodeAgain", key: "A", path: "/v1/messages", want: 429,
			wantState: `"key_feature_requests_per_minute";r=0;t=60`,
			message:   "rate limit exceeded: key {key}/feature:code limit requests_per_minute of 1; retry after 1m0s"},
	}
	for _, s := range steps {
		body := chatBody("gpt-4o-mini", 10)
		if s.path == "/v1/messages" {
			body = messagesBody("claude-haiku-4-5", 10)
		}
		resp, b := e.post(t, keys[s.key], s.path, body)
		if resp.StatusCode != s.want {
			t.Fatalf("%s: status = %d %s, want %d", s.name, resp.StatusCode, b, s.want)
		}
		if got := resp.Header.Get("RateLimit"); got != s.wantState {
			t.Errorf("%s: RateLimit = %q, want %q", s.name, got, s.wantState)
		}
		if s.want == http.StatusOK {
			e.auditor.waitUsage(t)
			continue
		}
		if want := strings.ReplaceAll(s.message, "{key}", string(ids[s.key])); !strings.Contains(string(b), want) {
			t.Errorf("%s: body %s does not say %q", s.name, b, want)
		}
		if ev := e.auditor.lastAuthz(t); ev.Decision != "deny" || ev.Reason != "rate_limited" {
			t.Errorf("%s: authz event = %s %s, want deny rate_limited", s.name, ev.Decision, ev.Reason)
		}
	}
	feature := func(id apikey.ID, f string) ratelimit.Limit {
		return ratelimit.Limit{Kind: ratelimit.RequestsPerMinute, Scope: proxy.FeatureScope(id, f), Max: 1}
	}
	got := e.remaining(t, feature(idA, "chat"), feature(idA, "code"), feature(idB, "chat"), feature(idB, "code"))
	if diff := cmp.Diff([]int64{0, 0, 0, 1}, got); diff != "" {
		t.Errorf("requests left per key and feature (A chat, A code, B chat, B code) (-want +got):\n%s", diff)
	}
	if n := e.up.count(); n != 3 {
		t.Errorf("the upstream received %d requests, want 3", n)
	}
}
