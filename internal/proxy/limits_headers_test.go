package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/proxy"
)

// untilMidnight is the time from the test clock (t0, 03:04:05 UTC) to the
// end of its UTC day, in seconds: when a day budget is whole again.
const untilMidnight = "75355"

// The headers of the limits of an answer, and of the upstream's own.
var (
	limitHeaderNames = []string{"RateLimit-Policy", "RateLimit",
		"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests",
		"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"}
	upstreamOnlyHeaderNames = []string{"X-Ratelimit-Limit-Tokens-Usage-Based",
		"Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Input-Tokens-Remaining"}
)

// TestLimitHeaders checks the headers of an allowed call: one
// RateLimit-Policy and RateLimit item per limit of the key, of its
// feature and of its principal, with their exact quota, window, unit,
// remaining and reset after the call's reservation; OpenAI's
// x-ratelimit-* headers on OpenAI routes only, from the tightest
// per-minute limit; and none of the upstream's own limit headers.
//
// Every call reserves 1000 tokens (3 of input estimate, 997 of
// max_tokens), which costs 600 micro-dollars at gpt-4o-mini's price
// (⌈3·0.15⌉ + ⌈997·0.60⌉). On the test clock a day budget is whole again
// in 75355 s. A per-minute limit of N reserving c moves its bucket by
// c·60 s/N: 1 s for one request of 60, 1.5 s for 1000 tokens of 40000.
func TestLimitHeaders(t *testing.T) {
	const principal apikey.PrincipalID = "headers@example.com"
	tests := []struct {
		name      string
		key       apikey.Limits
		principal apikey.Limits
		features  map[string]apikey.Limits
		path      string
		body      string
		// want are the headers of the answer; "" means absent.
		want map[string]string
	}{
		{name: "KeyPerMinute", path: "/v1/chat/completions", body: chatBody("gpt-4o-mini", 997),
			key: apikey.Limits{RequestsPerMinute: 60, TokensPerMinute: 40000},
			want: map[string]string{
				"RateLimit-Policy":               `"key_requests_per_minute";q=60;w=60, "key_tokens_per_minute";q=40000;w=60;qu="tokens"`,
				"RateLimit":                      `"key_requests_per_minute";r=59;t=1, "key_tokens_per_minute";r=39000;t=2`,
				"X-Ratelimit-Limit-Requests":     "60",
				"X-Ratelimit-Remaining-Requests": "59",
				"X-Ratelimit-Reset-Requests":     "1s",
				"X-Ratelimit-Limit-Tokens":       "40000",
				"X-Ratelimit-Remaining-Tokens":   "39000",
				"X-Ratelimit-Reset-Tokens":       "1.5s",
			}},
		{name: "EveryScope", path: "/v1/chat/completions", body: chatBody("gpt-4o-mini", 997),
			key:       apikey.Limits{RequestsPerMinute: 60, Concurrent: 2, TokensPerDay: 100000, CostPerDay: 5_000_000},
			features:  map[string]apikey.Limits{"chat": {RequestsPerMinute: 10}},
			principal: apikey.Limits{RequestsPerMinute: 30, TokensPerMinute: 40000, TokensPerDay: 1000000},
			want: map[string]string{
				"RateLimit-Policy": `"key_requests_per_minute";q=60;w=60, "key_concurrent";q=2;w=1;qu="concurrent-requests", ` +
					`"key_tokens_per_day";q=100000;w=86400;qu="tokens", "key_cost_per_day";q=5000000;w=86400;qu="usd-micros", ` +
					`"key_feature_requests_per_minute";q=10;w=60, ` +
					`"principal_requests_per_minute";q=30;w=60, "principal_tokens_per_minute";q=40000;w=60;qu="tokens", ` +
					`"principal_tokens_per_day";q=1000000;w=86400;qu="tokens"`,
				"RateLimit": `"key_requests_per_minute";r=59;t=1, "key_concurrent";r=1;t=0, ` +
					`"key_tokens_per_day";r=99000;t=` + untilMidnight + `, "key_cost_per_day";r=4999400;t=` + untilMidnight + `, ` +
					`"key_feature_requests_per_minute";r=9;t=6, ` +
					`"principal_requests_per_minute";r=29;t=2, "principal_tokens_per_minute";r=39000;t=2, ` +
					`"principal_tokens_per_day";r=999000;t=` + untilMidnight,
				// The tightest of the three per-minute request limits: the
				// feature's.
				"X-Ratelimit-Limit-Requests":     "10",
				"X-Ratelimit-Remaining-Requests": "9",
				"X-Ratelimit-Reset-Requests":     "6s",
				"X-Ratelimit-Limit-Tokens":       "40000",
				"X-Ratelimit-Remaining-Tokens":   "39000",
				"X-Ratelimit-Reset-Tokens":       "1.5s",
			}},
		{name: "TighterPrincipal", path: "/v1/chat/completions", body: chatBody("gpt-4o-mini", 997),
			key:       apikey.Limits{RequestsPerMinute: 60, TokensPerMinute: 40000},
			principal: apikey.Limits{RequestsPerMinute: 20, TokensPerMinute: 100000},
			want: map[string]string{
				"RateLimit-Policy": `"key_requests_per_minute";q=60;w=60, "key_tokens_per_minute";q=40000;w=60;qu="tokens", ` +
					`"principal_requests_per_minute";q=20;w=60, "principal_tokens_per_minute";q=100000;w=60;qu="tokens"`,
				"RateLimit": `"key_requests_per_minute";r=59;t=1, "key_tokens_per_minute";r=39000;t=2, ` +
					`"principal_requests_per_minute";r=19;t=3, "principal_tokens_per_minute";r=99000;t=1`,
				"X-Ratelimit-Limit-Requests":     "20",
				"X-Ratelimit-Remaining-Requests": "19",
				"X-Ratelimit-Reset-Requests":     "3s",
				"X-Ratelimit-Limit-Tokens":       "40000",
				"X-Ratelimit-Remaining-Tokens":   "39000",
				"X-Ratelimit-Reset-Tokens":       "1.5s",
			}},
		{name: "MessagesNoOpenAIHeaders", path: "/v1/messages", body: messagesBody("claude-haiku-4-5", 997),
			key: apikey.Limits{RequestsPerMinute: 60, TokensPerMinute: 40000, TokensPerMonth: 2000000},
			want: map[string]string{
				// January 2030 has 31 days; the test clock is 29 days
				// and 75355 s before February.
				"RateLimit-Policy": `"key_requests_per_minute";q=60;w=60, "key_tokens_per_minute";q=40000;w=60;qu="tokens", ` +
					`"key_tokens_per_month";q=2000000;w=2678400;qu="tokens"`,
				"RateLimit": `"key_requests_per_minute";r=59;t=1, "key_tokens_per_minute";r=39000;t=2, ` +
					`"key_tokens_per_month";r=1999000;t=2580955`,
			}},
		{name: "NoLimits", path: "/v1/chat/completions", body: chatBody("gpt-4o-mini", 997),
			want: map[string]string{}},
		{name: "NoLimitsMessages", path: "/v1/messages", body: messagesBody("claude-haiku-4-5", 997),
			want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{Features: tt.features,
				Prices: map[string]proxy.Price{"gpt-4o-mini": {InputPerMillion: 150_000, OutputPerMillion: 600_000}}}, envOptions{})
			e.addPrincipal(principal, apikey.AudienceInternal, tt.principal)
			key, _ := e.limitedKey(t, principal, tt.key)
			e.up.setHandler(usageHandler(11, 7))
			resp, body := e.post(t, key, tt.path, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
			}
			for _, name := range limitHeaderNames {
				if got, want := strings.Join(resp.Header.Values(name), " | "), tt.want[name]; got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, name := range upstreamOnlyHeaderNames {
				if v := resp.Header.Values(name); len(v) != 0 {
					t.Errorf("the upstream's header %s = %q reached the client", name, v)
				}
			}
			e.auditor.waitUsage(t)
		})
	}
}
