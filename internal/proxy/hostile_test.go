package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/provider"
)

// hostileCase is one request that must be refused before it reaches the
// upstream.
type hostileCase struct {
	name   string
	method string // default POST
	target string // request target, default /v1/chat/completions
	// header lines, "Name: value", sent in order (repeats allowed).
	header []string
	body   string
	// raw sends the request over a net.Conn exactly as written, for
	// request lines and headers Go's client would normalize or refuse.
	raw bool

	status int
	api    provider.API // the error's shape
	// reason is the deny event's reason, and the OpenAI error code.
	reason string
	// scope is the required_scope the error names.
	scope   string
	wwwAuth bool
	// server says Go's HTTP server refuses the request itself: the gateway
	// never sees it, so no deny event is recorded.
	server bool
}

// TestHostileRequests sends requests that try to get around a gate, each
// of which must be refused with the right status and error shape, be
// recorded as one deny event, and never reach the upstream.
func TestHostileRequests(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	good := e.key(t, "chat:gpt-4o-mini", "code:claude-haiku-4-5", "retrieval:hr-docs")
	bearer := "Authorization: Bearer " + good
	edited := func(edit func(*apikey.Key)) string {
		text, _, _ := e.mintKey(t, keySpec{scopes: []string{"chat"}, edit: edit})
		return text
	}
	admin, _, _ := e.mintKey(t, keySpec{class: apikey.ClassAdmin, scopes: []string{"chat"}})
	revoked := edited(func(k *apikey.Key) { k.Status = apikey.StatusRevoked })
	suspended := edited(func(k *apikey.Key) { k.Status = apikey.StatusSuspended })
	expired := edited(func(k *apikey.Key) { k.ExpiresAt = t0.Add(-time.Minute) })
	notYet := edited(func(k *apikey.Key) { k.NotBefore = t0.Add(time.Minute) })
	elsewhere := edited(func(k *apikey.Key) { k.CIDRs = mustPrefixes("10.0.0.0/8", "::1/128") })
	disabled, _, _ := e.mintKey(t, keySpec{principal: disabledID, scopes: []string{"chat"}})
	unknown, err := apikey.Generate(nil, apikey.ClassData, apikey.EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	badSum := good[:len(good)-1] + flip(good[len(good)-1:])

	const okBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	const okMessage = `{"model":"claude-haiku-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	oai, ant := provider.APIOpenAI, provider.APIAnthropic
	anthropicKey := []string{"X-Api-Key: " + good, "Anthropic-Version: 2023-06-01"}
	deep := `{"model":"gpt-4o-mini","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	big := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("a", 20<<10) + `"}]}`
	h2c := []string{bearer, "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"}

	tests := []hostileCase{
		// Credentials.
		{name: "MissingKey", body: okBody, status: 401, api: oai, reason: "missing_key", wwwAuth: true},
		{name: "MissingKeyMessages", target: "/v1/messages", header: []string{"Anthropic-Version: 2023-06-01"}, body: okMessage,
			status: 401, api: ant, reason: "missing_key", wwwAuth: true},
		{name: "BothHeaders", header: []string{bearer, "X-Api-Key: " + good}, body: okBody, status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
		{name: "AuthorizationTwice", header: []string{bearer, bearer}, body: okBody, status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
		{name: "XApiKeyTwice", target: "/v1/messages", header: append([]string{"X-Api-Key: " + good}, anthropicKey...), body: okMessage,
			status: 400, api: ant, reason: "invalid_request", wwwAuth: true},
		{name: "BasicScheme", header: []string{"Authorization: Basic " + good}, body: okBody, status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
		{name: "EmptyBearer", header: []string{"Authorization: Bearer "}, body: okBody, status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
		{name: "BearerTwoSpaces", header: []string{"Authorization: Bearer  " + good}, body: okBody, status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
		{name: "EmptyXApiKey", target: "/v1/messages", header: []string{"X-Api-Key: ", "Anthropic-Version: 2023-06-01"}, body: okMessage,
			status: 400, api: ant, reason: "invalid_request", wwwAuth: true},
		{name: "KeyInQueryAPIKey", target: "/v1/chat/completions?api_key=" + good, body: okBody, status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
		{name: "KeyInQueryKey", target: "/v1/chat/completions?key=" + good, header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
		{name: "KeyInQueryValue", target: "/v1/models?q=" + good, header: []string{bearer}, method: "GET", status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
		{name: "AdminKey", header: []string{"Authorization: Bearer " + admin}, body: okBody, status: 401, api: oai, reason: "wrong_key_class", wwwAuth: true},
		{name: "MalformedKey", header: []string{"Authorization: Bearer sgk_live_0123456789"}, body: okBody, status: 401, api: oai, reason: "malformed_key", wwwAuth: true},
		{name: "WrongChecksum", header: []string{"Authorization: Bearer " + badSum}, body: okBody, status: 401, api: oai, reason: "malformed_key", wwwAuth: true},
		{name: "UnknownID", header: []string{"Authorization: Bearer " + unknown.Secret.Reveal()}, body: okBody, status: 401, api: oai, reason: "invalid_key", wwwAuth: true},
		{name: "Revoked", header: []string{"Authorization: Bearer " + revoked}, body: okBody, status: 401, api: oai, reason: "key_revoked", wwwAuth: true},
		{name: "RevokedMessages", target: "/v1/messages", header: []string{"X-Api-Key: " + revoked}, body: okMessage, status: 401, api: ant, reason: "key_revoked", wwwAuth: true},
		{name: "Suspended", header: []string{"Authorization: Bearer " + suspended}, body: okBody, status: 401, api: oai, reason: "key_suspended", wwwAuth: true},
		{name: "Expired", header: []string{"Authorization: Bearer " + expired}, body: okBody, status: 401, api: oai, reason: "key_expired", wwwAuth: true},
		{name: "NotYetValid", header: []string{"Authorization: Bearer " + notYet}, body: okBody, status: 401, api: oai, reason: "key_not_yet_valid", wwwAuth: true},
		{name: "PrincipalDisabled", header: []string{"Authorization: Bearer " + disabled}, body: okBody, status: 401, api: oai, reason: "principal_disabled", wwwAuth: true},
		{name: "ClientOutsideCIDRs", header: []string{"Authorization: Bearer " + elsewhere}, body: okBody, status: 401, api: oai, reason: "client_not_allowed", wwwAuth: true},
		{name: "ForwardedForIsNotTrusted", header: []string{"Authorization: Bearer " + elsewhere, "X-Forwarded-For: 10.1.2.3", "X-Real-Ip: 10.1.2.3"},
			body: okBody, status: 401, api: oai, reason: "client_not_allowed", wwwAuth: true},

		// Paths.
		{name: "DoubleSlash", raw: true, target: "//v1/chat/completions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "InnerDoubleSlash", raw: true, target: "/v1//chat/completions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "DotSegment", raw: true, target: "/v1/./chat/completions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "DotDotSegment", raw: true, target: "/v1/embeddings/../chat/completions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "EncodedSlash", raw: true, target: "/v1/chat%2fcompletions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "EncodedSlashUpper", raw: true, target: "/v1/chat%2Fcompletions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "EncodedDots", raw: true, target: "/v1/embeddings/%2e%2e/chat/completions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "EncodedBackslash", raw: true, target: "/v1/chat%5ccompletions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "Backslash", raw: true, target: `/v1\chat/completions`, header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "EncodedNUL", raw: true, target: "/v1/chat/completions%00", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "AbsoluteForm", raw: true, target: "http://evil/v1/chat/completions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "AbsoluteFormSameHost", raw: true, target: "http://gateway/v1/chat/completions", header: []string{bearer}, body: okBody, status: 400, api: oai, reason: "invalid_path"},
		{name: "AsteriskForm", raw: true, method: "OPTIONS", target: "*", header: []string{bearer}, status: 200, server: true},
		{name: "UnknownPath", target: "/v1/chat/completion", header: []string{bearer}, body: okBody, status: 404, api: oai, reason: "not_found"},
		{name: "TrailingSlash", target: "/v1/chat/completions/", header: []string{bearer}, body: okBody, status: 404, api: oai, reason: "not_found"},
		{name: "UpperCasePath", target: "/V1/chat/completions", header: []string{bearer}, body: okBody, status: 404, api: oai, reason: "not_found"},
		{name: "UpstreamOnlyPath", target: "/v1/retrieve/../../rag/v1/retrieve", raw: true, header: []string{bearer}, body: `{"dataset":"hr-docs"}`, status: 400, api: oai, reason: "invalid_path"},
		{name: "WrongMethod", method: "GET", header: []string{bearer}, status: 405, api: oai, reason: "method_not_allowed"},
		{name: "WrongMethodMessages", method: "PUT", target: "/v1/messages", header: anthropicKey, body: okMessage, status: 405, api: ant, reason: "method_not_allowed"},
		{name: "PostModels", target: "/v1/models", header: []string{bearer}, body: okBody, status: 405, api: oai, reason: "method_not_allowed"},
		{name: "MethodOverride", method: "GET", header: []string{bearer, "X-Http-Method-Override: POST"}, status: 405, api: oai, reason: "method_not_allowed"},

		// Bodies.
		{name: "OverCap", header: []string{bearer}, body: big, status: 413, api: oai, reason: "request_too_large"},
		{name: "OverCapMessages", target: "/v1/messages", header: anthropicKey, body: big, status: 413, api: ant, reason: "request_too_large"},
		{name: "EmptyBody", header: []string{bearer}, status: 400, api: oai, reason: "invalid_request"},
		{name: "InvalidJSON", header: []string{bearer}, body: `{"model":"gpt-4o-mini",`, status: 400, api: oai, reason: "invalid_request"},
		{name: "NotAnObject", header: []string{bearer}, body: `["gpt-4o-mini"]`, status: 400, api: oai, reason: "invalid_request"},
		{name: "TrailingData", header: []string{bearer}, body: okBody + `{"model":"gpt-4o"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "TrailingGarbage", header: []string{bearer}, body: okBody + "\x00", status: 400, api: oai, reason: "invalid_request"},
		{name: "DuplicateModel", header: []string{bearer}, body: `{"model":"gpt-4o-mini","model":"gpt-4o"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "DuplicateModelEscaped", header: []string{bearer}, body: `{"model":"gpt-4o-mini","m\u006fdel":"gpt-4o"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "CaseVariantModel", header: []string{bearer}, body: `{"model":"gpt-4o-mini","MODEL":"gpt-4o"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "CaseVariantModelOnly", header: []string{bearer}, body: `{"Model":"gpt-4o-mini"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "InvalidUTF8", header: []string{bearer}, body: "{\"model\":\"gpt-4o-mini\",\"user\":\"\xff\xfe\"}", status: 400, api: oai, reason: "invalid_request"},
		{name: "LoneSurrogate", header: []string{bearer}, body: `{"model":"gpt-4o-mini","user":"\ud800"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ByteOrderMark", header: []string{bearer}, body: "\xef\xbb\xbf" + okBody, status: 400, api: oai, reason: "invalid_request"},
		{name: "DeepNesting", header: []string{bearer}, body: deep, status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelNotString", header: []string{bearer}, body: `{"model":["gpt-4o-mini"]}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelNull", header: []string{bearer}, body: `{"model":null}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelMissing", header: []string{bearer}, body: `{"messages":[]}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelTrailingSpace", header: []string{bearer}, body: `{"model":"gpt-4o-mini "}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelLeadingTab", header: []string{bearer}, body: `{"model":"\tgpt-4o-mini"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelZeroWidth", header: []string{bearer}, body: "{\"model\":\"gpt-4o-mini\u200b\"}", status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelZeroWidthEscaped", header: []string{bearer}, body: `{"model":"gpt-4o-mini\u200b"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelCyrillicO", header: []string{bearer}, body: `{"model":"gpt-4` + "\u043e" + `-mini"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelNULEscaped", header: []string{bearer}, body: `{"model":"gpt-4o-mini\u0000"}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ModelUpperCase", header: []string{bearer}, body: `{"model":"GPT-4o-mini"}`, status: 404, api: oai, reason: "model_not_found"},
		{name: "ModelPrefixOfServed", header: []string{bearer}, body: `{"model":"gpt-4o-min"}`, status: 404, api: oai, reason: "model_not_found"},
		{name: "ModelPattern", header: []string{bearer}, body: `{"model":"gpt-4o*"}`, status: 404, api: oai, reason: "model_not_found"},
		{name: "ModelUpperCaseMessages", target: "/v1/messages", header: anthropicKey, body: `{"model":"Claude-haiku-4-5","max_tokens":1,"messages":[]}`,
			status: 404, api: ant, reason: "model_not_found"},
		{name: "ModelsField", header: []string{bearer}, body: `{"model":"gpt-4o-mini","models":["gpt-4o"]}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "FallbacksField", header: []string{bearer}, body: `{"model":"gpt-4o-mini","fallbacks":["gpt-4o"]}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "ExtraBodyModel", header: []string{bearer}, body: `{"model":"gpt-4o-mini","extra_body":{"model":"gpt-4o"}}`, status: 400, api: oai, reason: "invalid_request"},
		{name: "AliasToDeniedModel", header: []string{bearer}, body: `{"model":"big"}`, status: 403, api: oai, reason: "missing_scope", scope: "chat:gpt-4o"},
		{name: "AliasToDeniedModelMessages", target: "/v1/messages", header: anthropicKey, body: `{"model":"coder","max_tokens":1,"messages":[]}`,
			status: 403, api: ant, reason: "missing_scope", scope: "code:claude-sonnet-4-5"},
		{name: "OtherFeatureOnSharedEndpoint", header: []string{bearer}, body: `{"model":"dead-model"}`, status: 403, api: oai, reason: "missing_scope", scope: "offline:dead-model"},
		{name: "ToolNotAllowed", target: "/v1/responses", header: []string{bearer}, body: `{"model":"gpt-4o-mini","input":"hi","tools":[{"type":"code_interpreter","container":{"type":"auto"}}]}`,
			status: 403, api: oai, reason: "tool_not_allowed"},
		{name: "MCPServerNotAllowed", target: "/v1/responses", header: []string{bearer}, body: `{"model":"gpt-4o-mini","input":"hi","tools":[{"type":"mcp","server_label":"x","server_url":"https://evil.example.net/sse"}]}`,
			status: 403, api: oai, reason: "tool_not_allowed"},
		{name: "WebSearchOptionsNotAllowedMessages", target: "/v1/messages", header: anthropicKey,
			body:   `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}`,
			status: 403, api: ant, reason: "tool_not_allowed"},
		{name: "DatasetDenied", target: "/v1/retrieve", header: []string{bearer}, body: `{"dataset":"sales-kb","query":"q"}`,
			status: 403, api: oai, reason: "missing_scope", scope: "retrieval:sales-kb"},
		{name: "DatasetNotServed", target: "/v1/retrieve", header: []string{bearer}, body: `{"dataset":"payroll","query":"q"}`,
			status: 404, api: oai, reason: "dataset_not_found"},
		{name: "DatasetDuplicated", target: "/v1/retrieve", header: []string{bearer}, body: `{"dataset":"hr-docs","dataset":"payroll"}`,
			status: 400, api: oai, reason: "invalid_request"},
		{name: "DatasetNotString", target: "/v1/retrieve", header: []string{bearer}, body: `{"dataset":["hr-docs"]}`,
			status: 400, api: oai, reason: "invalid_request"},
		{name: "DatasetInPathDenied", method: "GET", target: "/v1/datasets/hr-docs/search", header: []string{bearer},
			status: 403, api: oai, reason: "missing_scope", scope: "search:hr-docs"},
		{name: "DatasetInPathEncoded", method: "GET", raw: true, target: "/v1/datasets/hr%2ddocs/search", header: []string{bearer},
			status: 403, api: oai, reason: "missing_scope", scope: "search:hr-docs"},

		// Headers.
		{name: "ConnectionNamesXApiKey", raw: true, header: []string{bearer, "X-Api-Key: " + good, "Connection: X-Api-Key"}, body: okBody,
			status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
		{name: "ConnectionNamesAuthorization", raw: true, target: "/v1/messages", header: []string{"Authorization: Bearer " + revoked, "X-Api-Key: " + good, "Connection: Authorization"},
			body: okMessage, status: 400, api: ant, reason: "invalid_request", wwwAuth: true},
		{name: "UpgradeH2C", raw: true, header: h2c, body: okBody, status: 400, api: oai, reason: "invalid_request"},
		{name: "UpgradeWebSocket", raw: true, method: "GET", target: "/v1/models", header: []string{bearer, "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}, status: 400, api: oai, reason: "invalid_request"},
		{name: "UpgradeWithoutConnection", raw: true, header: []string{bearer, "Upgrade: h2c"}, body: okBody, status: 400, api: oai, reason: "invalid_request"},
		{name: "ChunkedAndContentLength", raw: true, header: []string{bearer, "Transfer-Encoding: chunked", "Content-Length: 15"},
			body: chunked(`{"model":"big"}` + strings.Repeat(" ", 40)), status: 403, api: oai, reason: "missing_scope", scope: "chat:gpt-4o"},
		{name: "ContentLengthTwiceDiffering", raw: true, header: []string{bearer, "Content-Length: 10", "Content-Length: 2"},
			body: `{"model":"big"}`, status: 400, server: true},
		{name: "UnsupportedTransferEncoding", raw: true, header: []string{bearer, "Transfer-Encoding: gzip, chunked"},
			body: chunked(`{"model":"big"}`), status: 501, server: true},
		{name: "SpaceInTarget", raw: true, target: "/v1/chat/completions /x", header: []string{bearer},
			body: okBody, status: 400, server: true},
		{name: "BareLFHeader", raw: true, header: []string{bearer + "\nX-Api-Key: " + good}, body: okBody,
			status: 400, api: oai, reason: "invalid_request", wwwAuth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, calls := len(e.auditor.authzEvents()), e.up.count()
			resp, body := e.send(t, tt)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.status, body)
			}
			if n := e.up.count() - calls; n != 0 {
				t.Fatalf("the upstream received %d requests, want none", n)
			}
			events := e.auditor.authzEvents()[before:]
			if tt.server {
				if len(events) != 0 {
					t.Errorf("the gateway recorded %d events for a request Go's server refuses itself", len(events))
				}
				return
			}
			eb := checkErrorShape(t, tt.api, tt.status, body)
			if tt.api == provider.APIOpenAI && eb.code() != tt.reason {
				t.Errorf("error.code = %q, want %q (body %s)", eb.code(), tt.reason, body)
			}
			if eb.Error.RequiredScope != tt.scope {
				t.Errorf("error.required_scope = %q, want %q", eb.Error.RequiredScope, tt.scope)
			}
			if got := resp.Header.Get("WWW-Authenticate"); (got != "") != tt.wwwAuth {
				t.Errorf("WWW-Authenticate = %q, want present %v", got, tt.wwwAuth)
			}
			if strings.Contains(string(body), good[9:]) {
				t.Errorf("the error body repeats the key's secret: %s", body)
			}
			if len(events) != 1 {
				t.Fatalf("the gateway recorded %d authz events, want one deny: %+v", len(events), events)
			}
			ev := events[0]
			if ev.Decision != "deny" || ev.Reason != tt.reason || ev.Status != tt.status {
				t.Errorf("authz event = decision %q, reason %q, status %d; want deny, %q, %d", ev.Decision, ev.Reason, ev.Status, tt.reason, tt.status)
			}
			if tt.scope != "" && ev.Scope != tt.scope {
				t.Errorf("authz event scope = %q, want %q", ev.Scope, tt.scope)
			}
		})
	}
	if n := e.up.count(); n != 0 {
		t.Errorf("the upstream received %d requests in all, want none", n)
	}
	served := 0
	for _, tt := range tests {
		if !tt.server {
			served++
		}
	}
	if deny := countDecisions(e.auditor.authzEvents(), "deny"); deny != served {
		t.Errorf("%d deny events for %d refused requests", deny, served)
	}
	if allow := countDecisions(e.auditor.authzEvents(), "allow"); allow != 0 {
		t.Errorf("%d allow events, want none", allow)
	}
}

// send sends tt to the gateway: with Go's client, or as written.
func (e *testEnv) send(t *testing.T, tt hostileCase) (*http.Response, []byte) {
	t.Helper()
	method, target := tt.method, tt.target
	if method == "" {
		method = http.MethodPost
	}
	if target == "" {
		target = "/v1/chat/completions"
	}
	if tt.raw {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gateway\r\n", method, target)
		framed := false
		for _, h := range tt.header {
			b.WriteString(h + "\r\n")
			name, _, _ := strings.Cut(h, ":")
			framed = framed || strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding")
		}
		if !framed {
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(tt.body))
		}
		b.WriteString("\r\n" + tt.body)
		return e.sendRaw(t, b.String())
	}
	var body *strings.Reader
	if tt.body != "" {
		body = strings.NewReader(tt.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.url(target), nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if body != nil {
		req.Body, req.ContentLength = io.NopCloser(body), int64(body.Len())
	}
	for _, h := range tt.header {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Add(name, value)
	}
	return e.do(t, req)
}

func countDecisions(events []audit.Authz, d string) int {
	n := 0
	for _, ev := range events {
		if ev.Decision == d {
			n++
		}
	}
	return n
}

// chunked encodes s as one chunk and the last chunk.
func chunked(s string) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(s), s)
}

// flip changes a base62 character into another.
func flip(c string) string {
	if c == "0" {
		return "1"
	}
	return "0"
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
