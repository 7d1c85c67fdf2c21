package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// miniPrice is gpt-4o-mini's price, $0.15 and $0.60 per million tokens.
var miniPrice = proxy.Price{InputPerMillion: 150_000, OutputPerMillion: 600_000}

// TestCostPerDay runs calls against a cost budget of 2000 micro-dollars.
// Each reserves its priced worst case (3 input + 997 output tokens: 600
// µ$) and is settled to the price of the usage the upstream reports,
// rounded up per call, overspend included; the call whose reservation no
// longer fits is refused, and a smaller one still passes.
func TestCostPerDay(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{Prices: map[string]proxy.Price{"gpt-4o-mini": miniPrice}}, envOptions{})
	key, id := e.limitedKey(t, internalID, apikey.Limits{CostPerDay: 2000})
	budget := keyLimit(id, ratelimit.CostPerDay, 2000)
	steps := []struct {
		name      string
		maxTokens int
		in, out   int64
		// reserved is the call's priced reservation; cost what it is
		// charged; used the budget's use after it.
		reserved, cost, used int64
		refused              bool
	}{
		{name: "Large", maxTokens: 997, in: 1000, out: 500, reserved: 600, cost: 150 + 300, used: 450},
		{name: "RoundedUp", maxTokens: 997, in: 11, out: 7, reserved: 600, cost: 2 + 5, used: 457}, // 1.65 + 4.2
		{name: "OneTokenEach", maxTokens: 997, in: 1, out: 1, reserved: 600, cost: 1 + 1, used: 459},
		{name: "Overspend", maxTokens: 997, in: 2000, out: 1000, reserved: 600, cost: 300 + 600, used: 1359},
		{name: "LastFit", maxTokens: 997, in: 200, out: 100, reserved: 600, cost: 30 + 60, used: 1449}, // 1359 + 600 ≤ 2000
		{name: "DoesNotFit", maxTokens: 997, reserved: 600, refused: true, used: 1449},                 // 1449 + 600 > 2000
		{name: "SmallFits", maxTokens: 10, in: 11, out: 7, reserved: 1 + 6, cost: 7, used: 1456},
	}
	for _, s := range steps {
		e.up.setHandler(usageHandler(s.in, s.out))
		before := e.remainingOf(t, budget)
		resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", s.maxTokens))
		if s.refused {
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("%s: status = %d %s, want 429", s.name, resp.StatusCode, b)
			}
			want := fmt.Sprintf("budget exceeded: key %s limit cost_per_day of 2000; retry after 20h55m55s", id)
			if eb := checkErrorShape(t, provider.APIOpenAI, 429, b); eb.code() != "budget_exceeded" || eb.Error.Message != want {
				t.Errorf("%s: refusal = %s %q, want budget_exceeded %q", s.name, eb.code(), eb.Error.Message, want)
			}
			if got, want := resp.Header.Get("RateLimit"), `"key_cost_per_day";r=0;t=`+untilMidnight; got != want {
				t.Errorf("%s: RateLimit = %q, want %q", s.name, got, want)
			}
			if got, want := resp.Header.Get("RateLimit-Policy"), `"key_cost_per_day";q=2000;w=86400;qu="usd-micros"`; got != want {
				t.Errorf("%s: RateLimit-Policy = %q, want %q", s.name, got, want)
			}
		} else {
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status = %d %s, want 200", s.name, resp.StatusCode, b)
			}
			// The answer's headers show the budget with the reservation
			// taken.
			want := fmt.Sprintf(`"key_cost_per_day";r=%d;t=%s`, before-s.reserved, untilMidnight)
			if got := resp.Header.Get("RateLimit"); got != want {
				t.Errorf("%s: RateLimit = %q, want %q", s.name, got, want)
			}
			e.auditor.waitUsage(t)
		}
		if got := e.remainingOf(t, budget); got != 2000-s.used {
			t.Errorf("%s: budget left = %d, want %d (charged %d, want %d)", s.name, got, 2000-s.used, before-got, s.cost)
		}
	}
}

// TestCostUnpriced checks that a call under a cost limit for a model the
// price table does not price is refused with 503 limit_unpriced, naming
// the model, and not forwarded; that "*" prices every other model; and
// that a call without cost limits needs no price.
func TestCostUnpriced(t *testing.T) {
	const principal apikey.PrincipalID = "unpriced@example.com"
	unpricedMsg := func(model string) string {
		return fmt.Sprintf("a cost limit applies to this request, but model %q has no price in the gateway's configuration; the operator must add it to prices", model)
	}
	tests := []struct {
		name      string
		prices    map[string]proxy.Price
		key       apikey.Limits
		principal apikey.Limits
		path      string
		body      string
		status    int
		message   string
		// charged is the cost the call is charged, read from the cost
		// limit named by costLimit.
		costLimit func(apikey.ID) ratelimit.Limit
		charged   int64
	}{
		{name: "KeyCostUnpricedModel", prices: map[string]proxy.Price{"gpt-4o-mini": miniPrice},
			key: apikey.Limits{CostPerDay: 1_000_000}, path: "/v1/chat/completions", body: chatBody("gpt-4o", 10),
			status: 503, message: unpricedMsg("gpt-4o")},
		{name: "PrincipalCostUnpricedModel", prices: map[string]proxy.Price{"gpt-4o-mini": miniPrice},
			principal: apikey.Limits{CostPerMonth: 1_000_000}, path: "/v1/chat/completions", body: chatBody("gpt-4o", 10),
			status: 503, message: unpricedMsg("gpt-4o")},
		{name: "NoPricesAtAll", key: apikey.Limits{CostPerMonth: 1_000_000},
			path: "/v1/messages", body: messagesBody("claude-haiku-4-5", 10),
			status: 503, message: unpricedMsg("claude-haiku-4-5")},
		{name: "WildcardPrices", prices: map[string]proxy.Price{"gpt-4o-mini": miniPrice, "*": {InputPerMillion: 3_000_000, OutputPerMillion: 15_000_000}},
			key: apikey.Limits{CostPerDay: 1_000_000}, path: "/v1/chat/completions", body: chatBody("gpt-4o", 10),
			status:    200,
			costLimit: func(id apikey.ID) ratelimit.Limit { return keyLimit(id, ratelimit.CostPerDay, 1_000_000) },
			charged:   33 + 105}, // 11·3 + 7·15
		{name: "OwnPriceBeforeWildcard", prices: map[string]proxy.Price{"gpt-4o-mini": miniPrice, "*": {InputPerMillion: 3_000_000, OutputPerMillion: 15_000_000}},
			key: apikey.Limits{CostPerDay: 1_000_000}, path: "/v1/chat/completions", body: chatBody("gpt-4o-mini", 10),
			status:    200,
			costLimit: func(id apikey.ID) ratelimit.Limit { return keyLimit(id, ratelimit.CostPerDay, 1_000_000) },
			charged:   2 + 5},
		{name: "NoCostLimitNeedsNoPrice", prices: map[string]proxy.Price{"gpt-4o-mini": miniPrice},
			key: apikey.Limits{TokensPerDay: 1000}, path: "/v1/chat/completions", body: chatBody("gpt-4o", 10),
			status:    200,
			costLimit: func(id apikey.ID) ratelimit.Limit { return keyLimit(id, ratelimit.TokensPerDay, 1000) },
			charged:   18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{Prices: tt.prices}, envOptions{})
			e.addPrincipal(principal, apikey.AudienceInternal, tt.principal)
			key, id := e.limitedKey(t, principal, tt.key)
			e.up.setHandler(usageHandler(11, 7))
			resp, b := e.post(t, key, tt.path, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, b, tt.status)
			}
			if tt.status == http.StatusOK {
				e.auditor.waitUsage(t)
				limit := tt.costLimit(id)
				if got := limit.Max - e.remainingOf(t, limit); got != tt.charged {
					t.Errorf("charged %d to %s, want %d", got, limit.Kind, tt.charged)
				}
				return
			}
			api := provider.APIOpenAI
			if tt.path == "/v1/messages" {
				api = provider.APIAnthropic
			}
			eb := checkErrorShape(t, api, tt.status, b)
			if api == provider.APIOpenAI && eb.code() != "limit_unpriced" {
				t.Errorf("error.code = %q, want limit_unpriced", eb.code())
			}
			if eb.Error.Message != tt.message {
				t.Errorf("message = %q, want %q", eb.Error.Message, tt.message)
			}
			if n := e.up.count(); n != 0 {
				t.Errorf("the upstream received %d requests, want none", n)
			}
			if ev := e.auditor.lastAuthz(t); ev.Decision != "deny" || ev.Reason != "limit_unpriced" || ev.Status != 503 {
				t.Errorf("authz event = %s %s %d, want deny limit_unpriced 503", ev.Decision, ev.Reason, ev.Status)
			}
			if n := len(e.auditor.authzEvents()); n != 1 {
				t.Errorf("%d authz events, want the deny only", n)
			}
			for _, name := range limitHeaderNames {
				if v := resp.Header.Get(name); v != "" {
					t.Errorf("%s = %q on a 503, want none", name, v)
				}
			}
			if strings.Contains(string(b), "sk-") {
				t.Errorf("the body shows a credential: %s", b)
			}
			e.auditor.noUsage(t)
		})
	}
}
