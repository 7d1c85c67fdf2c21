package proxy_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
)

// TestExplainAgreesWithServeHTTP sends each request through the gateway
// and asks Explain about it, with the same key: both must reach the same
// status, reason and required scope, and Explain must never call the
// upstream.
func TestExplainAgreesWithServeHTTP(t *testing.T) {
	revoked := func(k *apikey.Key) { k.Status = apikey.StatusRevoked }
	tests := []struct {
		name   string
		key    keySpec
		method string
		path   string
		body   string
		// raw sends the request as written (for targets Go's client
		// would rewrite).
		raw bool

		status int
		reason string
	}{
		{name: "Allowed", key: keySpec{scopes: []string{"chat:gpt-4o-mini"}},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o-mini","messages":[]}`, status: 200, reason: "allowed"},
		{name: "AllowedAlias", key: keySpec{scopes: []string{"chat:gpt-4o-mini"}},
			path: "/v1/responses", body: `{"model":"chatbot-v1","input":"hi"}`, status: 200, reason: "allowed"},
		{name: "AllowedMessages", key: keySpec{scopes: []string{"code"}},
			path: "/v1/messages", body: `{"model":"coder","max_tokens":1,"messages":[]}`, status: 200, reason: "allowed"},
		{name: "AllowedDatasetInBody", key: keySpec{scopes: []string{"retrieval:hr-docs"}},
			path: "/v1/retrieve", body: `{"dataset":"hr-docs"}`, status: 200, reason: "allowed"},
		{name: "AllowedDatasetInPath", key: keySpec{scopes: []string{"search"}}, method: "GET",
			path: "/v1/datasets/hr-docs/search", status: 200, reason: "allowed"},
		{name: "GetIgnoresBody", key: keySpec{scopes: []string{"search"}}, method: "GET",
			path: "/v1/datasets/hr-docs/search", body: `not json`, status: 200, reason: "allowed"},
		{name: "ModelsList", key: keySpec{scopes: []string{"chat"}}, method: "GET",
			path: "/v1/models", status: 200, reason: "allowed"},
		{name: "MissingScope", key: keySpec{scopes: []string{"chat:gpt-4o-mini"}},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 403, reason: "missing_scope"},
		{name: "AliasToDeniedModel", key: keySpec{scopes: []string{"chat:gpt-4o-mini"}},
			path: "/v1/chat/completions", body: `{"model":"big"}`, status: 403, reason: "missing_scope"},
		{name: "SharedEndpointOtherFeature", key: keySpec{scopes: []string{"chat"}},
			path: "/v1/chat/completions", body: `{"model":"dead-model"}`, status: 403, reason: "missing_scope"},
		{name: "EmptyScopes", key: keySpec{},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o-mini"}`, status: 403, reason: "missing_scope"},
		{name: "ModelNotServed", key: keySpec{scopes: []string{"chat"}},
			path: "/v1/chat/completions", body: `{"model":"gpt-5"}`, status: 404, reason: "model_not_found"},
		{name: "DatasetNotServed", key: keySpec{scopes: []string{"retrieval"}},
			path: "/v1/retrieve", body: `{"dataset":"payroll"}`, status: 404, reason: "dataset_not_found"},
		{name: "DatasetDenied", key: keySpec{scopes: []string{"retrieval:hr-docs"}},
			path: "/v1/retrieve", body: `{"dataset":"sales-kb"}`, status: 403, reason: "missing_scope"},
		{name: "ExternalInternalHeld", key: keySpec{principal: externalID, scopes: []string{"code"}},
			path: "/v1/messages", body: `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}`, status: 403, reason: "audience_mismatch"},
		{name: "ExternalInternalNotHeld", key: keySpec{principal: externalID, scopes: []string{"chat"}},
			path: "/v1/messages", body: `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}`, status: 404, reason: "model_not_found"},
		{name: "TestKeyNonTestUpstream", key: keySpec{env: apikey.EnvTest, scopes: []string{"code"}},
			path: "/v1/messages", body: `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}`, status: 403, reason: "test_key_not_allowed"},
		{name: "TestKeyTestUpstream", key: keySpec{env: apikey.EnvTest, scopes: []string{"chat"}},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 200, reason: "allowed"},
		{name: "ToolNotAllowed", key: keySpec{scopes: []string{"chat"}},
			path: "/v1/responses", body: `{"model":"gpt-4o","input":"x","tools":[{"type":"file_search"}]}`, status: 403, reason: "tool_not_allowed"},
		{name: "InvalidBody", key: keySpec{scopes: []string{"chat"}},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o","model":"gpt-4o-mini"}`, status: 400, reason: "invalid_request"},
		{name: "BodyTooLarge", key: keySpec{scopes: []string{"chat"}},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o","x":"` + strings.Repeat("x", 17<<10) + `"}`, status: 413, reason: "request_too_large"},
		{name: "UnknownPath", key: keySpec{scopes: []string{"chat"}},
			path: "/v1/chat", body: `{"model":"gpt-4o"}`, status: 404, reason: "not_found"},
		{name: "WrongMethod", key: keySpec{scopes: []string{"chat"}}, method: "GET",
			path: "/v1/chat/completions", status: 405, reason: "method_not_allowed"},
		{name: "UncleanPath", key: keySpec{scopes: []string{"chat"}}, raw: true,
			path: "/v1/./chat/completions", body: `{"model":"gpt-4o"}`, status: 400, reason: "invalid_path"},
		{name: "LeadingDoubleSlash", key: keySpec{scopes: []string{"chat"}}, raw: true,
			path: "//v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 400, reason: "invalid_path"},
		{name: "KeyInQuery", key: keySpec{scopes: []string{"chat"}},
			path: "/v1/chat/completions?api_key=sgk_x", body: `{"model":"gpt-4o"}`, status: 400, reason: "invalid_request"},
		{name: "Revoked", key: keySpec{scopes: []string{"chat"}, edit: revoked},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 401, reason: "key_revoked"},
		{name: "RevokedModelsList", key: keySpec{scopes: []string{"chat"}, edit: revoked}, method: "GET",
			path: "/v1/models", status: 401, reason: "key_revoked"},
		{name: "RevokedUncleanPath", key: keySpec{scopes: []string{"chat"}, edit: revoked}, raw: true,
			path: "/v1/../v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 400, reason: "invalid_path"},
		{name: "RevokedUnknownPath", key: keySpec{scopes: []string{"chat"}, edit: revoked},
			path: "/v2/chat/completions", body: `{"model":"gpt-4o"}`, status: 404, reason: "not_found"},
		{name: "RevokedWrongMethod", key: keySpec{scopes: []string{"chat"}, edit: revoked}, method: "DELETE",
			path: "/v1/messages", status: 405, reason: "method_not_allowed"},
		{name: "RevokedInvalidBody", key: keySpec{scopes: []string{"chat"}, edit: revoked},
			path: "/v1/chat/completions", body: `{"model":`, status: 401, reason: "key_revoked"},
		{name: "Suspended", key: keySpec{scopes: []string{"chat"}, edit: func(k *apikey.Key) { k.Status = apikey.StatusSuspended }},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 401, reason: "key_suspended"},
		{name: "Expired", key: keySpec{scopes: []string{"chat"}, edit: func(k *apikey.Key) { k.ExpiresAt = t0 }},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 401, reason: "key_expired"},
		{name: "NotYetValid", key: keySpec{scopes: []string{"chat"}, edit: func(k *apikey.Key) { k.NotBefore = t0.Add(time.Second) }},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 401, reason: "key_not_yet_valid"},
		{name: "ClientOutsideCIDRs", key: keySpec{scopes: []string{"chat"}, edit: func(k *apikey.Key) { k.CIDRs = mustPrefixes("192.0.2.0/24") }},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 401, reason: "client_not_allowed"},
		{name: "ClientInsideCIDRs", key: keySpec{scopes: []string{"chat"}, edit: func(k *apikey.Key) { k.CIDRs = mustPrefixes("127.0.0.0/8") }},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 200, reason: "allowed"},
		{name: "PrincipalDisabled", key: keySpec{principal: disabledID, scopes: []string{"chat"}},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 401, reason: "principal_disabled"},
		{name: "AdminKey", key: keySpec{class: apikey.ClassAdmin, scopes: []string{"chat"}},
			path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, status: 401, reason: "wrong_key_class"},
	}
	e := newTestEnv(t, envOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, k, p := e.mintKey(t, tt.key)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}

			calls := e.up.count()
			x := e.gw.Explain(t.Context(), k, p, method, tt.path, []byte(tt.body), localhost)
			if n := e.up.count() - calls; n != 0 {
				t.Fatalf("Explain called the upstream %d times", n)
			}

			header := "Authorization: Bearer " + text
			if strings.HasPrefix(tt.path, "/v1/messages") {
				header = "X-Api-Key: " + text
			}
			resp, body := e.send(t, hostileCase{method: method, target: tt.path, header: []string{header}, body: tt.body, raw: tt.raw})
			if tt.reason == "allowed" {
				e.auditor.waitUsage(t)
			}
			ev := e.auditor.lastAuthz(t)
			if resp.StatusCode != tt.status || ev.Reason != tt.reason {
				t.Fatalf("ServeHTTP: %d %s, want %d %s (body %s)", resp.StatusCode, ev.Reason, tt.status, tt.reason, body)
			}
			if x.Status != resp.StatusCode || x.Reason != ev.Reason || x.Allow != (ev.Decision == "allow") {
				t.Errorf("Explain = %d %s (allow %v, stage %s: %s), ServeHTTP = %d %s (%s)",
					x.Status, x.Reason, x.Allow, x.Stage, x.Message, resp.StatusCode, ev.Reason, ev.Decision)
			}
			if resp.StatusCode < 400 {
				checkExplainedForward(t, e, x, ev.Feature, ev.Resource, calls)
				return
			}
			eb := checkErrorShape(t, apiOf(tt.path), resp.StatusCode, body)
			if x.RequiredScope != eb.Error.RequiredScope {
				t.Errorf("Explain.RequiredScope = %q, ServeHTTP's required_scope = %q", x.RequiredScope, eb.Error.RequiredScope)
			}
		})
	}
}

// checkExplainedForward checks that an allowed Explanation names the
// feature, resource and upstream path the gateway used.
func checkExplainedForward(t *testing.T, e *testEnv, x proxy.Explanation, feature, resource string, calls int) {
	t.Helper()
	if x.Feature != feature || x.Resource != resource {
		t.Errorf("Explain granted %s %s, ServeHTTP %s %s", x.Feature, x.Resource, feature, resource)
	}
	if e.up.count() == calls { // GET /v1/models
		return
	}
	if up := e.up.last(t); x.UpstreamPath != up.Path {
		t.Errorf("Explain.UpstreamPath = %q, the upstream received %q", x.UpstreamPath, up.Path)
	}
}

func apiOf(path string) provider.API {
	if strings.HasPrefix(path, "/v1/messages") {
		return provider.APIAnthropic
	}
	return provider.APIOpenAI
}
