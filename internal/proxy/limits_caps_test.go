package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// TestOutputCapForwarded checks that a request naming no output maximum is
// forwarded with the cap its reservation assumed, when a token or cost
// limit applies, so the upstream cannot produce more than was reserved;
// and that nothing is added when the request names its own, or no limit
// counts tokens.
func TestOutputCapForwarded(t *testing.T) {
	tests := []struct {
		name    string
		limits  apikey.Limits
		body    string
		wantCap any // the forwarded max_completion_tokens, nil for none
		wantMax any // the forwarded max_tokens
	}{
		{"TokenLimitNoMaximum", apikey.Limits{TokensPerDay: 10_000},
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"abcdefgh"}]}`, float64(100), nil},
		{"TokenLimitOwnMaximum", apikey.Limits{TokensPerDay: 10_000}, chatBody("gpt-4o-mini", 7), nil, float64(7)},
		{"OnlyRequestLimits", apikey.Limits{RequestsPerMinute: 10},
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"abcdefgh"}]}`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
			key, _ := e.limitedKey(t, internalID, tt.limits)
			resp, b := e.post(t, key, "/v1/chat/completions", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d %s", resp.StatusCode, b)
			}
			var sent map[string]any
			if err := json.Unmarshal(e.up.last(t).Body, &sent); err != nil {
				t.Fatal(err)
			}
			if sent["max_completion_tokens"] != tt.wantCap || sent["max_tokens"] != tt.wantMax {
				t.Errorf("forwarded max_completion_tokens = %v, max_tokens = %v; want %v and %v",
					sent["max_completion_tokens"], sent["max_tokens"], tt.wantCap, tt.wantMax)
			}
			e.auditor.waitUsage(t)
		})
	}
}

// TestChoicesMultiplyReservation checks that a request for n completions
// reserves n times its output, so that n cannot overspend a budget: with
// an upstream that reports no usage, the reservation is what is charged.
func TestChoicesMultiplyReservation(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
	key, id := e.limitedKey(t, internalID, apikey.Limits{TokensPerDay: 1000})
	e.up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"c1","object":"chat.completion","choices":[]}`))
	})
	resp, b := e.post(t, key, "/v1/chat/completions",
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"abcdefgh"}],"max_tokens":50,"n":4}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d %s", resp.StatusCode, b)
	}
	e.auditor.waitUsage(t)
	if got, want := e.remainingOf(t, keyLimit(id, ratelimit.TokensPerDay, 1000)), int64(1000-(estimate3+4*50)); got != want {
		t.Errorf("remaining = %d, want %d: n=4 reserves four times max_tokens", got, want)
	}
}

// TestCustomRoutesSkipUsageLimits checks that token and cost limits do not
// apply to custom routes, which report no usage: a key with a cost limit
// and no price for the dataset still calls them, and no tokens are
// charged, while its request limit still counts.
func TestCustomRoutesSkipUsageLimits(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
	text, _, _ := e.mintKey(t, keySpec{principal: internalID, scopes: []string{"retrieval"},
		edit: func(k *apikey.Key) {
			k.Limits = apikey.Limits{RequestsPerMinute: 2, TokensPerDay: 10, CostPerDay: 1}
		}})
	for i, want := range []int{200, 200, 429} {
		resp, b := e.post(t, text, "/v1/retrieve", `{"dataset":"hr-docs","query":"a long query well past ten tokens of budget"}`)
		if resp.StatusCode != want {
			t.Fatalf("call %d = %d %s, want %d", i, resp.StatusCode, b, want)
		}
	}
}

// failingTakeStore takes, then reports a lost answer: what a Redis whose
// reply times out does.
type failingTakeStore struct{ *ratelimit.Memory }

func (s failingTakeStore) Take(ctx context.Context, r ratelimit.Request) (ratelimit.Grant, error) {
	s.Memory.Take(ctx, r)
	return ratelimit.Grant{}, errors.New("redis: i/o timeout")
}

// TestLostTakeGivesBackLease checks that a Take whose answer was lost does
// not keep the concurrency slot it may hold: the limiter gives it back.
func TestLostTakeGivesBackLease(t *testing.T) {
	mem := ratelimit.NewMemory(time.Now)
	lim := proxy.NewStoreLimiter(proxy.LimiterConfig{Store: failingTakeStore{mem}})
	key := &apikey.Key{ID: "k1", Limits: apikey.Limits{Concurrent: 1}}
	p := &apikey.Principal{ID: "p1", Audience: apikey.AudienceInternal}
	if _, err := lim.Reserve(t.Context(), proxy.LimitRequest{Metered: true, Key: key, Principal: p, RequestID: "r1"}); err == nil {
		t.Fatal("Reserve succeeded over a failing store")
	}
	lim.Wait()
	conc := ratelimit.Limit{Kind: ratelimit.Concurrent, Scope: ratelimit.KeyScope("k1"), Max: 1}
	if _, err := mem.Take(t.Context(), ratelimit.Request{Limits: []ratelimit.Limit{conc}, ID: "r2"}); err != nil {
		t.Errorf("the slot of the lost take is still held: %v", err)
	}
}
