package proxy_test

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/metrics"
	"github.com/scopegate/scopegate/internal/metrics/metricstest"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
	"github.com/scopegate/scopegate/internal/scope"
)

// sample is a sample a metrics test expects: its name, a subset of its
// labels, and the sum of the matching samples.
type sample struct {
	name   string
	labels []string
	value  float64
}

// labelsOf builds the label list of scopegate_requests_total.
func requestLabels(feature, endpoint, decision, reason, status string) []string {
	return []string{"feature", feature, "endpoint", endpoint, "decision", decision, "reason", reason, "status", status}
}

const metricsBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":10}`

// TestMetrics sends known traffic through the gateway and checks the
// exact values the /metrics handler then shows.
func TestMetrics(t *testing.T) {
	tests := []struct {
		name string
		// limiter, if set, is the gateway's limiter (given the env's clock).
		limiter func(now func() time.Time) proxy.Limiter
		do      func(t *testing.T, e *testEnv)
		want    []sample
	}{
		{
			name: "Allowed",
			do: func(t *testing.T, e *testEnv) {
				key := e.key(t, "chat:gpt-4o-mini")
				for range 2 {
					wantStatus(t, e.post, key, "/v1/chat/completions", metricsBody, http.StatusOK)
					e.auditor.waitUsage(t)
				}
			},
			want: []sample{
				{"scopegate_requests_total", requestLabels("chat", "chat.completions", "allow", "ok", "200"), 2},
				{"scopegate_requests_total", nil, 2},
				{"scopegate_tokens_total", []string{"feature", "chat", "direction", "in"}, 22},
				{"scopegate_tokens_total", []string{"feature", "chat", "direction", "out"}, 14},
				{"scopegate_added_latency_seconds_count", []string{"feature", "chat", "decision", "allow"}, 2},
				{"scopegate_upstream_latency_seconds_count", []string{"feature", "chat"}, 2},
				{"scopegate_upstream_duration_seconds_count", []string{"feature", "chat"}, 2},
			},
		},
		{
			name: "Streamed",
			do: func(t *testing.T, e *testEnv) {
				e.up.setHandler(streamHandler(anthropicStream, nil, nil))
				body := `{"model":"claude-haiku-4-5","stream":true,"max_tokens":8,"messages":[]}`
				wantStatus(t, e.post, e.key(t, "code"), "/v1/messages", body, http.StatusOK)
				e.auditor.waitUsage(t)
			},
			want: []sample{
				{"scopegate_requests_total", requestLabels("code", "messages", "allow", "ok", "200"), 1},
				{"scopegate_tokens_total", []string{"feature", "code", "direction", "in"}, 25},
				{"scopegate_tokens_total", []string{"feature", "code", "direction", "out"}, 6},
				{"scopegate_upstream_latency_seconds_count", []string{"feature", "code"}, 1},
			},
		},
		{
			name: "UpstreamError",
			do: func(t *testing.T, e *testEnv) {
				e.up.setHandler(func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusInternalServerError)
					io.WriteString(w, `{"error":{"message":"boom"}}`)
				})
				wantStatus(t, e.post, e.key(t, "chat"), "/v1/chat/completions", metricsBody, http.StatusInternalServerError)
				e.auditor.waitUsage(t)
			},
			want: []sample{
				{"scopegate_requests_total", requestLabels("chat", "chat.completions", "allow", "upstream_error", "500"), 1},
				{"scopegate_tokens_total", nil, 0},
			},
		},
		{
			name: "UpstreamUnreachable",
			do: func(t *testing.T, e *testEnv) {
				body := `{"model":"dead-model","messages":[]}`
				wantStatus(t, e.post, e.key(t, "offline"), "/v1/chat/completions", body, http.StatusBadGateway)
				e.auditor.waitUsage(t)
			},
			want: []sample{
				{"scopegate_requests_total", requestLabels("offline", "chat.completions", "allow", "upstream_error", "502"), 1},
				{"scopegate_added_latency_seconds_count", []string{"feature", "offline", "decision", "allow"}, 1},
				{"scopegate_upstream_latency_seconds_count", []string{"feature", "offline"}, 0}, // no headers came
				{"scopegate_upstream_duration_seconds_count", []string{"feature", "offline"}, 1},
			},
		},
		{
			name: "Denied",
			do: func(t *testing.T, e *testEnv) {
				wantStatus(t, e.post, e.key(t, "code"), "/v1/chat/completions", metricsBody, http.StatusForbidden)
				wantStatus(t, e.post, e.key(t, "chat"), "/v1/nowhere", metricsBody, http.StatusNotFound)
				wantStatus(t, e.post, "sgk_live_"+strings.Repeat("A", 65), "/v1/chat/completions", metricsBody, http.StatusUnauthorized)
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url("/v1/chat/completions"), strings.NewReader(metricsBody))
				if err != nil {
					t.Fatal(err)
				}
				if resp, b := e.do(t, req); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("POST without a key = %d %s, want 401", resp.StatusCode, b)
				}
			},
			want: []sample{
				{"scopegate_requests_total", requestLabels("chat", "chat.completions", "deny", "missing_scope", "403"), 1},
				{"scopegate_requests_total", requestLabels("none", "unknown", "deny", "not_found", "404"), 1},
				{"scopegate_requests_total", requestLabels("none", "chat.completions", "deny", "malformed_key", "401"), 1},
				{"scopegate_requests_total", requestLabels("none", "chat.completions", "deny", "missing_key", "401"), 1},
				{"scopegate_requests_total", []string{"decision", "deny"}, 4},
				{"scopegate_added_latency_seconds_count", []string{"decision", "deny"}, 4},
				{"scopegate_upstream_duration_seconds_count", nil, 0},
			},
		},
		{
			name: "AuditDown",
			do: func(t *testing.T, e *testEnv) {
				key := e.key(t, "chat")
				e.auditor.fail.Store(true)
				wantStatus(t, e.post, key, "/v1/chat/completions", metricsBody, http.StatusServiceUnavailable)
			},
			want: []sample{
				{"scopegate_requests_total", requestLabels("chat", "chat.completions", "deny", "audit_unavailable", "503"), 1},
			},
		},
		{
			name: "ModelsList",
			do: func(t *testing.T, e *testEnv) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url("/v1/models"), nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+e.key(t, "chat"))
				if resp, b := e.do(t, req); resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /v1/models = %d %s", resp.StatusCode, b)
				}
			},
			want: []sample{
				{"scopegate_requests_total", requestLabels("none", "models.list", "allow", "ok", "200"), 1},
				{"scopegate_added_latency_seconds_count", []string{"feature", "none", "decision", "allow"}, 1},
			},
		},
		{
			name: "RateLimited",
			limiter: func(now func() time.Time) proxy.Limiter {
				return proxy.NewStoreLimiter(proxy.LimiterConfig{Store: ratelimit.NewMemory(now), DefaultOutput: 100, Now: now,
					Features: map[string]apikey.Limits{"chat": {TokensPerMinute: 1000}}})
			},
			do: func(t *testing.T, e *testEnv) {
				rpm, _, _ := e.mintKey(t, keySpec{scopes: []string{"chat"}, edit: func(k *apikey.Key) { k.Limits.RequestsPerMinute = 1 }})
				wantStatus(t, e.post, rpm, "/v1/chat/completions", metricsBody, http.StatusOK)
				e.auditor.waitUsage(t)
				wantStatus(t, e.post, rpm, "/v1/chat/completions", metricsBody, http.StatusTooManyRequests)
				budget, _, _ := e.mintKey(t, keySpec{scopes: []string{"chat"}, edit: func(k *apikey.Key) { k.Limits.TokensPerDay = 5 }})
				wantStatus(t, e.post, budget, "/v1/chat/completions", metricsBody, http.StatusTooManyRequests)
				big := strings.Replace(metricsBody, `"max_tokens":10`, `"max_tokens":5000`, 1)
				wantStatus(t, e.post, e.key(t, "chat"), "/v1/chat/completions", big, http.StatusTooManyRequests)
				e.keys.addPrincipal(apikey.Principal{ID: "capped@example.com", Kind: apikey.KindService, Audience: apikey.AudienceInternal,
					Status: apikey.PrincipalActive, Ceiling: scope.MustParseSet("chat"), Limits: apikey.Limits{Concurrent: 1, TokensPerMonth: 3}})
				capped, _, _ := e.mintKey(t, keySpec{principal: "capped@example.com", scopes: []string{"chat"}})
				wantStatus(t, e.post, capped, "/v1/chat/completions", metricsBody, http.StatusTooManyRequests)
			},
			want: []sample{
				{"scopegate_limiter_refusals_total", []string{"kind", "requests_per_minute", "scope_type", "key", "reason", "rate_limited"}, 1},
				{"scopegate_limiter_refusals_total", []string{"kind", "tokens_per_day", "scope_type", "key", "reason", "budget_exceeded"}, 1},
				{"scopegate_limiter_refusals_total", []string{"kind", "tokens_per_minute", "scope_type", "key_feature", "reason", "rate_limited"}, 1},
				{"scopegate_limiter_refusals_total", []string{"kind", "tokens_per_month", "scope_type", "principal", "reason", "budget_exceeded"}, 1},
				{"scopegate_limiter_refusals_total", nil, 4},
				{"scopegate_requests_total", requestLabels("chat", "chat.completions", "deny", "rate_limited", "429"), 2},
				{"scopegate_requests_total", requestLabels("chat", "chat.completions", "deny", "budget_exceeded", "429"), 2},
				{"scopegate_requests_total", requestLabels("chat", "chat.completions", "allow", "ok", "200"), 1},
			},
		},
		{
			name: "LimiterDown",
			limiter: func(func() time.Time) proxy.Limiter {
				l := &fakeLimiter{}
				l.setErr(errors.New("limits store unreachable"))
				return l
			},
			do: func(t *testing.T, e *testEnv) {
				wantStatus(t, e.post, e.key(t, "chat"), "/v1/chat/completions", metricsBody, http.StatusServiceUnavailable)
			},
			want: []sample{
				{"scopegate_limiter_refusals_total", []string{"kind", "none", "scope_type", "none", "reason", "limiter_unavailable"}, 1},
				{"scopegate_requests_total", requestLabels("chat", "chat.completions", "deny", "limiter_unavailable", "503"), 1},
			},
		},
		{
			name: "KeyCache",
			do: func(t *testing.T, e *testEnv) {
				key := e.key(t, "chat")
				for range 3 { // key and principal: missed once, then found twice each
					wantStatus(t, e.post, key, "/v1/chat/completions", metricsBody, http.StatusOK)
					e.auditor.waitUsage(t)
				}
			},
			want: []sample{
				{"scopegate_key_cache_hits_total", nil, 4},
				{"scopegate_key_cache_misses_total", nil, 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New()
			var e *testEnv
			opts := envOptions{metrics: m}
			if tt.limiter != nil {
				opts.limiter = tt.limiter(func() time.Time { return e.clock.Now() })
			}
			e = newTestEnv(t, opts)
			if err := m.WatchKeyCache(e.cache); err != nil {
				t.Fatal(err)
			}
			tt.do(t, e)
			s := metricstest.Get(t, m.Handler())
			for _, w := range tt.want {
				if got := s.Sum(w.name, w.labels...); got != w.value {
					t.Errorf("%s%q = %v, want %v", w.name, w.labels, got, w.value)
				}
			}
			if t.Failed() {
				t.Logf("scopegate_requests_total:\n%s", grepLines(s.Text, "scopegate_requests_total{"))
			}
		})
	}
}

// wantStatus posts body to path with key and fails unless the answer has
// status.
func wantStatus(t *testing.T, post func(testing.TB, string, string, string) (*http.Response, []byte), key, path, body string, status int) {
	t.Helper()
	if resp, b := post(t, key, path, body); resp.StatusCode != status {
		t.Fatalf("POST %s = %d %s, want %d", path, resp.StatusCode, b, status)
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// The bounded label sets: every value a scopegate_ label may take with the
// test configuration. Anything else is a leak of an unbounded value.
var (
	boundedLabels = map[string][]string{
		"feature":    {"chat", "azure-chat", "offline", "code", "retrieval", "search", "none", "other"},
		"endpoint":   {"chat.completions", "responses", "completions", "embeddings", "messages", "models.list", "POST /v1/retrieve", "GET /v1/datasets/{dataset}/search", "unknown", "other"},
		"decision":   {"allow", "deny", "other"},
		"direction":  {"in", "out"},
		"kind":       {"requests_per_minute", "tokens_per_minute", "concurrent", "tokens_per_day", "tokens_per_month", "cost_per_day", "cost_per_month", "none", "other"},
		"scope_type": {"key", "key_feature", "principal", "none", "other"},
		"reason": {
			// How allowed calls end.
			"ok", "upstream_error", "timeout", "client_abort", "stream_cut",
			// Refusals: request, credential, policy, limits, dependencies.
			"invalid_path", "invalid_request", "not_found", "method_not_allowed", "request_too_large",
			"missing_key", "malformed_key", "invalid_key", "wrong_key_class", "key_suspended", "key_revoked",
			"key_expired", "key_not_yet_valid", "principal_disabled", "client_not_allowed", "wrong_env",
			"missing_scope", "model_not_found", "dataset_not_found", "audience_mismatch", "test_key_not_allowed", "tool_not_allowed",
			"rate_limited", "budget_exceeded", "limit_unpriced", "limiter_unavailable", "audit_unavailable", "key_store_unavailable",
			"other",
		},
	}
	statusLabel = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
	leLabel     = regexp.MustCompile(`^([0-9.e+-]+|\+Inf)$`)
)

// TestMetricsLeakNothing sends traffic carrying canaries (a key's secret
// and id, a principal, a client address, a client-chosen model, a path)
// and checks that none of them is in /metrics, and that every label value
// of a scopegate_ metric belongs to its bounded set.
func TestMetricsLeakNothing(t *testing.T) {
	m := metrics.New()
	var e *testEnv
	now := func() time.Time { return e.clock.Now() }
	lim := proxy.NewStoreLimiter(proxy.LimiterConfig{Store: ratelimit.NewMemory(now), DefaultOutput: 100, Now: now})
	e = newTestEnv(t, envOptions{metrics: m, limiter: lim})
	if err := m.WatchKeyCache(e.cache); err != nil {
		t.Fatal(err)
	}
	const principal apikey.PrincipalID = "canary-principal-5mZq@example.com"
	e.keys.addPrincipal(apikey.Principal{ID: principal, Kind: apikey.KindUser, Audience: apikey.AudienceInternal,
		Team: "canary-team-Vx2", Status: apikey.PrincipalActive, Ceiling: scope.MustParseSet("chat", "retrieval")})
	key, rec, _ := e.mintKey(t, keySpec{principal: principal, scopes: []string{"chat:o3-*", "retrieval:hr-docs"},
		edit: func(k *apikey.Key) { k.Limits.RequestsPerMinute = 2 }})
	secret := key[len("sgk_live_")+17:]
	unknown, err := apikey.Generate(nil, apikey.ClassData, apikey.EnvLive) // well formed, never stored
	if err != nil {
		t.Fatal(err)
	}
	canaries := []string{key, secret, string(rec.ID), unknown.Secret.Reveal(), string(unknown.ID), string(principal), "canary-team-Vx2",
		"o3-canary-model-Qw7", "canary-path-Jk4", "canary-dataset-Rt8", localhost.String()}

	model := `{"model":"o3-canary-model-Qw7","messages":[{"role":"user","content":"hi"}]}`
	e.post(t, key, "/v1/chat/completions", model) // allowed: a client-chosen model under o3-*
	e.auditor.waitUsage(t)
	e.post(t, key, "/v1/chat/completions", `{"model":"gpt-4o","messages":[]}`)     // missing_scope
	e.post(t, key, "/v1/retrieve", `{"dataset":"canary-dataset-Rt8","query":"x"}`) // dataset_not_found
	e.post(t, unknown.Secret.Reveal(), "/v1/chat/completions", model)              // invalid_key
	e.post(t, key, "/v1/canary-path-Jk4", model)                                   // not_found
	e.sendRaw(t, "GET /v1/canary-path-Jk4/../models HTTP/1.1\r\nHost: x\r\n\r\n")  // invalid_path
	e.post(t, key, "/v1/chat/completions", model)                                  // allowed
	e.auditor.waitUsage(t)
	e.post(t, key, "/v1/chat/completions", model)                  // rate_limited
	e.post(t, key, "/v1/chat/completions?key="+key, model)         // a key in the query
	e.post(t, key[:len(key)-1]+"x", "/v1/chat/completions", model) // malformed_key

	s := metricstest.Get(t, m.Handler())
	for _, c := range canaries {
		if strings.Contains(s.Text, c) {
			t.Errorf("/metrics contains the canary %q", c)
		}
	}
	seen := map[string]bool{}
	for _, x := range s.Samples {
		if !strings.HasPrefix(x.Name, "scopegate_") {
			continue
		}
		for k, v := range x.Labels {
			seen[k+"="+v] = true
			var ok bool
			switch k {
			case "status":
				ok = statusLabel.MatchString(v) || v == "other"
			case "le":
				ok = leLabel.MatchString(v)
			default:
				ok = slices.Contains(boundedLabels[k], v)
			}
			if !ok {
				t.Errorf("%s has label %s=%q, outside its bounded set", x.Name, k, v)
			}
		}
	}
	// The traffic above must have produced these, or the test checked
	// nothing.
	for _, want := range []string{"reason=missing_scope", "reason=dataset_not_found", "reason=invalid_key", "reason=not_found",
		"reason=invalid_path", "reason=rate_limited", "endpoint=unknown", "endpoint=POST /v1/retrieve", "scope_type=key"} {
		if !seen[want] {
			t.Errorf("no scopegate_ sample has %s; seen %v", want, seen)
		}
	}
}
