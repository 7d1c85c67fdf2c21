package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// TestLimitRefusals checks a refusal by each kind of scope and window:
// 429 in the API's shape with the limit's reason as code, Retry-After,
// the refusing limit in RateLimit-Policy and RateLimit with r=0, OpenAI's
// headers on OpenAI routes only, a message naming the key or principal,
// the kind and the limit, a deny event, and nothing forwarded.
//
// The calls before the refused one are answered with 11 input and 7
// output tokens (18); each reserves 3 + max_tokens.
func TestLimitRefusals(t *testing.T) {
	const principal apikey.PrincipalID = "refused@example.com"
	tests := []struct {
		name      string
		key       apikey.Limits
		principal apikey.Limits
		path      string
		// before are the bodies of the calls that pass; refused is the
		// body of the one refused.
		before  []string
		refused string

		reason     string
		retryAfter string
		// message is the refusal's message; {key} stands for the key's id.
		message string
		headers map[string]string
	}{
		{name: "KeyRequestsPerMinute", path: "/v1/chat/completions",
			key:    apikey.Limits{RequestsPerMinute: 2},
			before: []string{chatBody("gpt-4o-mini", 10), chatBody("gpt-4o-mini", 10)}, refused: chatBody("gpt-4o-mini", 10),
			// Two requests of 2 a minute move the bucket a minute ahead; a
			// third fits in 30 s.
			reason: "rate_limited", retryAfter: "30",
			message: "rate limit exceeded: key {key} limit requests_per_minute of 2; retry after 30s",
			headers: map[string]string{
				"RateLimit-Policy":               `"key_requests_per_minute";q=2;w=60`,
				"RateLimit":                      `"key_requests_per_minute";r=0;t=30`,
				"X-Ratelimit-Limit-Requests":     "2",
				"X-Ratelimit-Remaining-Requests": "0",
				"X-Ratelimit-Reset-Requests":     "30s",
			}},
		{name: "KeyRequestsPerMinuteMessages", path: "/v1/messages",
			key:    apikey.Limits{RequestsPerMinute: 2},
			before: []string{messagesBody("claude-haiku-4-5", 10), messagesBody("claude-haiku-4-5", 10)}, refused: messagesBody("claude-haiku-4-5", 10),
			reason: "rate_limited", retryAfter: "30",
			message: "rate limit exceeded: key {key} limit requests_per_minute of 2; retry after 30s",
			headers: map[string]string{
				"RateLimit-Policy": `"key_requests_per_minute";q=2;w=60`,
				"RateLimit":        `"key_requests_per_minute";r=0;t=30`,
			}},
		{name: "KeyTokensPerMinuteTooLarge", path: "/v1/chat/completions",
			// A reservation of 1000 tokens can never pass a limit of 500
			// a minute: it is refused for a minute.
			key:     apikey.Limits{TokensPerMinute: 500},
			refused: chatBody("gpt-4o-mini", 997),
			reason:  "rate_limited", retryAfter: "60",
			message: "rate limit exceeded: key {key} limit tokens_per_minute of 500; retry after 1m0s",
			headers: map[string]string{
				"RateLimit-Policy":             `"key_tokens_per_minute";q=500;w=60;qu="tokens"`,
				"RateLimit":                    `"key_tokens_per_minute";r=0;t=60`,
				"X-Ratelimit-Limit-Tokens":     "500",
				"X-Ratelimit-Remaining-Tokens": "0",
				"X-Ratelimit-Reset-Tokens":     "1m0s",
			}},
		{name: "PrincipalTokensPerDay", path: "/v1/chat/completions",
			key:       apikey.Limits{RequestsPerMinute: 60},
			principal: apikey.Limits{TokensPerDay: 50},
			// 18 used; 103 more do not fit in 50.
			before: []string{chatBody("gpt-4o-mini", 10)}, refused: chatBody("gpt-4o-mini", 100),
			reason: "budget_exceeded", retryAfter: untilMidnight,
			message: "budget exceeded: principal refused@example.com limit tokens_per_day of 50; retry after 20h55m55s",
			headers: map[string]string{
				"RateLimit-Policy": `"principal_tokens_per_day";q=50;w=86400;qu="tokens"`,
				"RateLimit":        `"principal_tokens_per_day";r=0;t=` + untilMidnight,
			}},
		{name: "PrincipalTokensPerDayMessages", path: "/v1/messages",
			principal: apikey.Limits{TokensPerDay: 50},
			before:    []string{messagesBody("claude-haiku-4-5", 10)}, refused: messagesBody("claude-haiku-4-5", 100),
			reason: "budget_exceeded", retryAfter: untilMidnight,
			message: "budget exceeded: principal refused@example.com limit tokens_per_day of 50; retry after 20h55m55s",
			headers: map[string]string{
				"RateLimit-Policy": `"principal_tokens_per_day";q=50;w=86400;qu="tokens"`,
				"RateLimit":        `"principal_tokens_per_day";r=0;t=` + untilMidnight,
			}},
		{name: "KeyTokensPerMonth", path: "/v1/chat/completions",
			key:     apikey.Limits{TokensPerMonth: 500},
			refused: chatBody("gpt-4o-mini", 997),
			// January 2030 has 31 days (2678400 s); the test clock is
			// 2580955 s before February.
			reason: "budget_exceeded", retryAfter: "2580955",
			message: "budget exceeded: key {key} limit tokens_per_month of 500; retry after 716h55m55s",
			headers: map[string]string{
				"RateLimit-Policy": `"key_tokens_per_month";q=500;w=2678400;qu="tokens"`,
				"RateLimit":        `"key_tokens_per_month";r=0;t=2580955`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
			e.addPrincipal(principal, apikey.AudienceInternal, tt.principal)
			key, id := e.limitedKey(t, principal, tt.key)
			e.up.setHandler(usageHandler(11, 7))
			for i, body := range tt.before {
				resp, b := e.post(t, key, tt.path, body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("call %d = %d %s, want 200", i, resp.StatusCode, b)
				}
				e.auditor.waitUsage(t)
			}
			resp, b := e.post(t, key, tt.path, tt.refused)
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("status = %d %s, want 429", resp.StatusCode, b)
			}
			api := provider.APIOpenAI
			if tt.path == "/v1/messages" {
				api = provider.APIAnthropic
			}
			eb := checkErrorShape(t, api, http.StatusTooManyRequests, b)
			if api == provider.APIOpenAI && eb.code() != tt.reason {
				t.Errorf("error.code = %q, want %q", eb.code(), tt.reason)
			}
			if want := strings.ReplaceAll(tt.message, "{key}", string(id)); eb.Error.Message != want {
				t.Errorf("message = %q, want %q", eb.Error.Message, want)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			for _, name := range limitHeaderNames {
				if got := strings.Join(resp.Header.Values(name), " | "); got != tt.headers[name] {
					t.Errorf("%s = %q, want %q", name, got, tt.headers[name])
				}
			}
			ev := e.auditor.lastAuthz(t)
			if ev.Decision != "deny" || ev.Reason != tt.reason || ev.Status != http.StatusTooManyRequests || ev.KeyID != string(id) {
				t.Errorf("authz event = %+v, want deny %s 429 of key %s", ev, tt.reason, id)
			}
			if n := e.up.count(); n != len(tt.before) {
				t.Errorf("the upstream received %d requests, want %d", n, len(tt.before))
			}
			e.auditor.noUsage(t)
		})
	}
}

// TestLimitAllOrNothing checks that a call refused by one limit takes
// nothing from the others: the store's counters after the refusal are
// those after the call before it, and the next call's headers count from
// there.
func TestLimitAllOrNothing(t *testing.T) {
	const principal apikey.PrincipalID = "allornothing@example.com"
	tests := []struct {
		name      string
		key       apikey.Limits
		principal apikey.Limits
		features  map[string]apikey.Limits
		// refused is the max_tokens of the refused call; the first call
		// asks for 10 and uses 18 tokens.
		refused int
		// wantRefusedBy is the RateLimit item of the refusal.
		wantRefusedBy string
		// remaining are the limits to read after the refusal, and what
		// each must have left: what the first call left.
		remaining func(key apikey.ID) []ratelimit.Limit
		want      []int64
		// next, when not zero, is the max_tokens of a call after the
		// refusal that passes, and wantNext its RateLimit header.
		next     int
		wantNext string
	}{
		{name: "PrincipalBudgetRefuses",
			key:       apikey.Limits{RequestsPerMinute: 60, TokensPerDay: 1000},
			principal: apikey.Limits{TokensPerDay: 50},
			refused:   100, wantRefusedBy: `"principal_tokens_per_day";r=0;t=` + untilMidnight,
			remaining: func(key apikey.ID) []ratelimit.Limit {
				return []ratelimit.Limit{keyLimit(key, ratelimit.RequestsPerMinute, 60), keyLimit(key, ratelimit.TokensPerDay, 1000),
					principalLimit(principal, ratelimit.TokensPerDay, 50)}
			},
			want: []int64{59, 982, 32},
			// The refused call used no request of the key: 58 are left
			// after the next, not 57.
			next: 10,
			wantNext: `"key_requests_per_minute";r=58;t=2, "key_tokens_per_day";r=969;t=` + untilMidnight +
				`, "principal_tokens_per_day";r=19;t=` + untilMidnight},
		{name: "KeyRateRefuses",
			key:       apikey.Limits{RequestsPerMinute: 1},
			principal: apikey.Limits{RequestsPerMinute: 60, TokensPerMinute: 6000, TokensPerDay: 1000},
			refused:   10, wantRefusedBy: `"key_requests_per_minute";r=0;t=60`,
			remaining: func(key apikey.ID) []ratelimit.Limit {
				return []ratelimit.Limit{principalLimit(principal, ratelimit.RequestsPerMinute, 60),
					principalLimit(principal, ratelimit.TokensPerMinute, 6000), principalLimit(principal, ratelimit.TokensPerDay, 1000)}
			},
			// 13 reserved, settled to 18: the bucket is 180 ms ahead.
			want: []int64{59, 5982, 982}},
		{name: "FeatureRefuses",
			key:       apikey.Limits{TokensPerDay: 1000},
			features:  map[string]apikey.Limits{"chat": {Concurrent: 5, RequestsPerMinute: 1}},
			principal: apikey.Limits{TokensPerDay: 1000},
			refused:   10, wantRefusedBy: `"key_feature_requests_per_minute";r=0;t=60`,
			remaining: func(key apikey.ID) []ratelimit.Limit {
				return []ratelimit.Limit{keyLimit(key, ratelimit.TokensPerDay, 1000),
					{Kind: ratelimit.Concurrent, Scope: proxy.FeatureScope(key, "chat"), Max: 5},
					principalLimit(principal, ratelimit.TokensPerDay, 1000)}
			},
			want: []int64{982, 5, 982}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{Features: tt.features}, envOptions{})
			e.addPrincipal(principal, apikey.AudienceInternal, tt.principal)
			key, id := e.limitedKey(t, principal, tt.key)
			e.up.setHandler(usageHandler(11, 7))
			if resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", 10)); resp.StatusCode != http.StatusOK {
				t.Fatalf("first call = %d %s, want 200", resp.StatusCode, b)
			}
			e.auditor.waitUsage(t)
			limits := tt.remaining(id)
			before := e.remaining(t, limits...)
			if diff := cmp.Diff(tt.want, before); diff != "" {
				t.Errorf("remaining after the first call (-want +got):\n%s", diff)
			}

			resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", tt.refused))
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("status = %d %s, want 429", resp.StatusCode, b)
			}
			if got := resp.Header.Get("RateLimit"); got != tt.wantRefusedBy {
				t.Errorf("RateLimit = %q, want %q", got, tt.wantRefusedBy)
			}
			if diff := cmp.Diff(tt.want, e.remaining(t, limits...)); diff != "" {
				t.Errorf("the refused call took from other limits (-want +got):\n%s", diff)
			}
			if tt.next == 0 {
				return
			}
			resp, b = e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", tt.next))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("next call = %d %s, want 200", resp.StatusCode, b)
			}
			if got := resp.Header.Get("RateLimit"); got != tt.wantNext {
				t.Errorf("RateLimit of the next call = %q, want %q", got, tt.wantNext)
			}
			e.auditor.waitUsage(t)
		})
	}
}
