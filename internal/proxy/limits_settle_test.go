package proxy_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// TestSettleWithoutUsage checks the calls whose usage cannot be measured:
// answered without usage, failed upstream, or unreachable. Each is charged
// its whole reservation (3 + 10 tokens), gives its concurrency slot back,
// and is answered with the limit headers of the call.
func TestSettleWithoutUsage(t *testing.T) {
	tests := []struct {
		name    string
		model   string
		handler http.HandlerFunc
		status  int
		outcome string
	}{
		{name: "AnsweredWithoutUsage", model: "gpt-4o-mini", status: 200, outcome: "ok",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`)
			}},
		{name: "StreamWithoutUsage", model: "gpt-4o-mini", status: 200, outcome: "ok",
			handler: streamHandler(openAIStream[:2], nil, nil)},
		{name: "UpstreamError", model: "gpt-4o-mini", status: 500, outcome: "upstream_error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, `{"error":{"message":"boom","type":"server_error"}}`)
			}},
		{name: "Unreachable", model: "dead-model", status: 502, outcome: "upstream_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
			key, k, _ := e.mintKey(t, keySpec{scopes: []string{"chat:gpt-4o-mini", "offline"},
				edit: func(k *apikey.Key) { k.Limits = apikey.Limits{Concurrent: 1, TokensPerDay: 1000} }})
			e.up.setHandler(tt.handler)
			resp, b := e.post(t, key, "/v1/chat/completions", chatBody(tt.model, 10))
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, b, tt.status)
			}
			if got, want := resp.Header.Get("RateLimit"), `"key_concurrent";r=0;t=0, "key_tokens_per_day";r=987;t=`+untilMidnight; got != want {
				t.Errorf("RateLimit = %q, want %q", got, want)
			}
			u := e.auditor.waitUsage(t)
			if u.Outcome != tt.outcome || u.UsageKnown {
				t.Errorf("usage event = %+v, want outcome %s, usage not known", u, tt.outcome)
			}
			got := e.remaining(t, keyLimit(k.ID, ratelimit.Concurrent, 1), keyLimit(k.ID, ratelimit.TokensPerDay, 1000))
			if diff := cmp.Diff([]int64{1, 1000 - estimate3 - 10}, got); diff != "" {
				t.Errorf("slots and tokens left (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNotForwardedRefunds checks that a call reserved but then refused by
// the gateway itself, because the audit log cannot record it, is not
// charged: it was never forwarded, so its usage is known to be nothing.
func TestNotForwardedRefunds(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
	key, id := e.limitedKey(t, internalID, apikey.Limits{Concurrent: 1, TokensPerDay: 1000})
	e.auditor.fail.Store(true)
	resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", 10))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d %s, want 503", resp.StatusCode, b)
	}
	if eb := checkErrorShape(t, provider.APIOpenAI, resp.StatusCode, b); eb.code() != "audit_unavailable" {
		t.Errorf("error.code = %q, want audit_unavailable", eb.code())
	}
	if n := e.up.count(); n != 0 {
		t.Fatalf("the upstream received %d requests, want none", n)
	}
	got := e.remaining(t, keyLimit(id, ratelimit.Concurrent, 1), keyLimit(id, ratelimit.TokensPerDay, 1000))
	if diff := cmp.Diff([]int64{1, 1000}, got); diff != "" {
		t.Errorf("slots and tokens left after a call never forwarded (-want +got):\n%s", diff)
	}
}
