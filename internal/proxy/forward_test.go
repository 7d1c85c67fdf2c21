package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/provider"
)

// newForwardEnv is a test environment with a recording limiter, and a key
// of the internal principal that may call something on every route.
func newForwardEnv(t *testing.T) (*testEnv, *fakeLimiter, string) {
	t.Helper()
	lim := &fakeLimiter{}
	e := newTestEnv(t, envOptions{limiter: lim})
	k := e.key(t, "chat:gpt-4o-mini", "offline", "code:claude-sonnet-4-*", "code:claude-haiku-4-5", "retrieval:hr-docs", "search")
	return e, lim, k
}

// checkSettledOnce checks that every reservation was settled exactly once.
func checkSettledOnce(t *testing.T, lim *fakeLimiter, want int) {
	t.Helper()
	rs := lim.reservationsMade()
	if len(rs) != want {
		t.Errorf("%d reservations made, want %d", len(rs), want)
	}
	for i, r := range rs {
		if n := r.settles.Load(); n != 1 {
			t.Errorf("reservation %d settled %d times, want once", i, n)
		}
	}
}

// TestForward checks what an allowed request looks like when it reaches
// the upstream: the route table's path, the canonical body, the upstream's
// credential instead of the client's, and no query string.
func TestForward(t *testing.T) {
	tests := []struct {
		name   string
		method string
		target string
		header []string
		body   string

		wantPath string
		wantBody string
		// wantHeader are headers the upstream must see, with their values;
		// "" means absent.
		wantHeader map[string]string
		feature    string
		resource   string
		usage      audit.Usage
		maxTokens  int64
	}{
		{name: "ChatAlias", target: "/v1/chat/completions?api-version=2024-01-01&user=x",
			header: []string{"Authorization: Bearer {{key}}", "Cookie: session=abc", "X-Forwarded-For: 10.9.9.9",
				"Forwarded: for=10.9.9.9", "X-Real-Ip: 10.9.9.9", "Proxy-Authorization: Basic eDp5", "Connection: X-Hop",
				"X-Hop: 1", "X-Forwarded-Host: evil.example", "OpenAI-Organization: org-1"},
			body:     `{ "model" : "chatbot-v1", "messages":[ {"role":"user","content":"h\u00e9"} ] , "max_tokens": 64, "temperature": 0.50 }`,
			wantPath: "/openai/v1/chat/completions",
			wantBody: `{"model":"gpt-4o-mini","messages":[ {"role":"user","content":"h\u00e9"} ],"max_tokens":64,"temperature":0.50}`,
			wantHeader: map[string]string{"Authorization": "Bearer " + openAISecret, "X-Api-Key": "", "Cookie": "",
				"X-Forwarded-For": "", "Forwarded": "", "X-Real-Ip": "", "Proxy-Authorization": "", "X-Hop": "",
				"X-Forwarded-Host": "", "Content-Type": "application/json", "OpenAI-Organization": "org-1"},
			feature: "chat", resource: "gpt-4o-mini", maxTokens: 64,
			usage: audit.Usage{Status: 200, InputTokens: 11, OutputTokens: 7, UsageKnown: true, Outcome: "ok"}},
		{name: "ChatCanonical", target: "/v1/chat/completions",
			header:     []string{"Authorization: Bearer {{key}}"},
			body:       `{"messages":[],"model":"gpt-4o-mini","metadata":{"model":"gpt-4o"}}`,
			wantPath:   "/openai/v1/chat/completions",
			wantBody:   `{"messages":[],"model":"gpt-4o-mini","metadata":{"model":"gpt-4o"}}`,
			wantHeader: map[string]string{"Authorization": "Bearer " + openAISecret},
			feature:    "chat", resource: "gpt-4o-mini",
			usage: audit.Usage{Status: 200, InputTokens: 11, OutputTokens: 7, UsageKnown: true, Outcome: "ok"}},
		{name: "MessagesAlias", target: "/v1/messages?beta=true",
			header:   []string{"X-Api-Key: {{key}}", "Anthropic-Version: 2023-06-01", "Anthropic-Beta: tools-2024", "Cookie: a=b"},
			body:     `{"model":"coder","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}`,
			wantPath: "/anthropic/v1/messages",
			wantBody: `{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}`,
			wantHeader: map[string]string{"X-Api-Key": anthropicSecret, "Authorization": "", "Cookie": "",
				"Anthropic-Version": "2023-06-01", "Anthropic-Beta": "tools-2024"},
			feature: "code", resource: "claude-sonnet-4-5", maxTokens: 32,
			usage: audit.Usage{Status: 200, InputTokens: 13, OutputTokens: 5, UsageKnown: true, Outcome: "ok"}},
		{name: "MessagesWithBearer", target: "/v1/messages",
			header:     []string{"Authorization: Bearer {{key}}", "Anthropic-Version: 2023-06-01"},
			body:       `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}`,
			wantPath:   "/anthropic/v1/messages",
			wantBody:   `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}`,
			wantHeader: map[string]string{"X-Api-Key": anthropicSecret, "Authorization": ""},
			feature:    "code", resource: "claude-haiku-4-5", maxTokens: 1,
			usage: audit.Usage{Status: 200, InputTokens: 13, OutputTokens: 5, UsageKnown: true, Outcome: "ok"}},
		{name: "DatasetInBody", target: "/v1/retrieve?dataset=sales-kb",
			header:     []string{"Authorization: Bearer {{key}}"},
			body:       `{"dataset": "hr-docs", "query": "leave policy"}`,
			wantPath:   "/rag/v1/retrieve",
			wantBody:   `{"dataset":"hr-docs","query":"leave policy"}`,
			wantHeader: map[string]string{"Authorization": "", "X-Api-Key": ""},
			feature:    "retrieval", resource: "hr-docs",
			usage: audit.Usage{Status: 200, Outcome: "ok"}},
		{name: "DatasetInPath", method: "GET", target: "/v1/datasets/hr-docs/search?q=leave",
			header:     []string{"Authorization: Bearer {{key}}"},
			wantPath:   "/rag/v1/datasets/hr-docs/search",
			wantHeader: map[string]string{"Authorization": ""},
			feature:    "search", resource: "hr-docs",
			usage: audit.Usage{Status: 200, Outcome: "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, lim, key := newForwardEnv(t)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequestWithContext(t.Context(), method, e.url(tt.target), strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.header {
				name, value, _ := strings.Cut(strings.ReplaceAll(h, "{{key}}", key), ": ")
				req.Header.Add(name, value)
			}
			resp, body := e.do(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
			}
			if n := e.up.count(); n != 1 {
				t.Fatalf("the upstream received %d requests, want 1", n)
			}
			got := e.up.last(t)
			if got.Method != method || got.Path != tt.wantPath || got.RawQuery != "" {
				t.Errorf("upstream request = %s %s?%s, want %s %s without a query", got.Method, got.Path, got.RawQuery, method, tt.wantPath)
			}
			if string(got.Body) != tt.wantBody {
				t.Errorf("upstream body =\n%s\nwant\n%s", got.Body, tt.wantBody)
			}
			for name, want := range tt.wantHeader {
				if v := got.Header.Values(name); strings.Join(v, ", ") != want {
					t.Errorf("upstream header %s = %q, want %q", name, v, want)
				}
			}
			for name, vs := range got.Header {
				for _, v := range vs {
					if strings.Contains(v, key) {
						t.Errorf("upstream header %s carries the client's key", name)
					}
				}
			}
			ev := e.auditor.lastAuthz(t)
			if ev.Decision != "allow" || ev.Feature != tt.feature || ev.Resource != tt.resource {
				t.Errorf("authz event = %s %s %s, want allow %s %s", ev.Decision, ev.Feature, ev.Resource, tt.feature, tt.resource)
			}
			u := e.auditor.waitUsage(t)
			if ev.RequestID != u.RequestID || resp.Header.Get("X-Request-Id") != u.RequestID {
				t.Errorf("request ids: authz %q, usage %q, response %q; want all equal", ev.RequestID, u.RequestID, resp.Header.Get("X-Request-Id"))
			}
			u.RequestID, u.KeyID, u.Latency = "", "", 0
			if diff := cmp.Diff(tt.usage, u); diff != "" {
				t.Errorf("usage event mismatch (-want +got):\n%s", diff)
			}
			checkSettledOnce(t, lim, 1)
			if r := lim.requests[0]; r.Feature != tt.feature || r.Resource != tt.resource || r.MaxOutputTokens != tt.maxTokens {
				t.Errorf("limit request = %s %s max %d, want %s %s max %d", r.Feature, r.Resource, r.MaxOutputTokens, tt.feature, tt.resource, tt.maxTokens)
			}
		})
	}
}

// The stream events of the tests.
var (
	openAIStream = []string{
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"he"}}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"llo"}}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`,
		`data: [DONE]`,
	}
	anthropicStream = []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":21,\"cache_read_input_tokens\":4,\"output_tokens\":1}}}",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}",
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":6}}",
		"event: message_stop\ndata: {\"type\":\"message_stop\"}",
	}
)

// streamHandler answers with events as server-sent events, flushing each.
// After the first event it waits for gate to close (nil: no wait); if the
// request is cancelled meanwhile, it closes cancelled (if not nil) and
// stops.
func streamHandler(events []string, gate, cancelled chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for i, ev := range events {
			io.WriteString(w, ev+"\n\n")
			rc.Flush()
			if i == 0 && gate != nil {
				select {
				case <-gate:
				case <-r.Context().Done():
					if cancelled != nil {
						close(cancelled)
					}
					return
				}
			}
		}
	}
}

// readEvent reads one server-sent event (up to its blank line).
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v (read so far %q)", err, lines)
		}
		l = strings.TrimSuffix(l, "\n")
		if l == "" {
			return strings.Join(lines, "\n")
		}
		lines = append(lines, l)
	}
}

// TestStreamUsage checks that usage is read from streamed answers of both
// APIs and that the client receives the stream unchanged.
func TestStreamUsage(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		body   string
		events []string
		want   audit.Usage
	}{
		{name: "OpenAI", path: "/v1/chat/completions", events: openAIStream,
			body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
			want: audit.Usage{Status: 200, InputTokens: 9, OutputTokens: 3, UsageKnown: true, Outcome: "ok"}},
		{name: "Anthropic", path: "/v1/messages", events: anthropicStream,
			body: `{"model":"claude-haiku-4-5","stream":true,"max_tokens":8,"messages":[]}`,
			want: audit.Usage{Status: 200, InputTokens: 25, OutputTokens: 6, UsageKnown: true, Outcome: "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, lim, key := newForwardEnv(t)
			e.up.setHandler(streamHandler(tt.events, nil, nil))
			resp, body := e.post(t, key, tt.path, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
			}
			if want := strings.Join(tt.events, "\n\n") + "\n\n"; string(body) != want {
				t.Errorf("client received\n%s\nwant\n%s", body, want)
			}
			u := e.auditor.waitUsage(t)
			u.RequestID, u.KeyID, u.Latency = "", "", 0
			if diff := cmp.Diff(tt.want, u); diff != "" {
				t.Errorf("usage event mismatch (-want +got):\n%s", diff)
			}
			checkSettledOnce(t, lim, 1)
		})
	}
}

// TestStreamFlushes shows that each event reaches the client as the
// upstream produces it: the upstream sends the rest of its stream only
// after the client has read the first event.
func TestStreamFlushes(t *testing.T) {
	e, lim, key := newForwardEnv(t)
	gate := make(chan struct{})
	e.up.setHandler(streamHandler(openAIStream, gate, nil))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url("/v1/chat/completions"),
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	r := bufio.NewReader(resp.Body)
	if got := readEvent(t, r); got != openAIStream[0] {
		t.Fatalf("first event = %q, want %q", got, openAIStream[0])
	}
	close(gate)
	for _, want := range openAIStream[1:] {
		if got := readEvent(t, r); got != want {
			t.Errorf("event = %q, want %q", got, want)
		}
	}
	if u := e.auditor.waitUsage(t); u.Outcome != "ok" || u.InputTokens != 9 || u.OutputTokens != 3 {
		t.Errorf("usage event = %+v, want ok with 9 and 3 tokens", u)
	}
	checkSettledOnce(t, lim, 1)
}

// TestClientDisconnectCancelsUpstream checks that a client going away in
// the middle of a stream cancels the upstream call, and that the call is
// settled as a client abort.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	e, lim, key := newForwardEnv(t)
	gate, cancelled := make(chan struct{}), make(chan struct{})
	defer close(gate)
	e.up.setHandler(streamHandler(openAIStream, gate, cancelled))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url("/v1/chat/completions"),
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := readEvent(t, bufio.NewReader(resp.Body)); got != openAIStream[0] {
		t.Fatalf("first event = %q, want %q", got, openAIStream[0])
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not cancelled after the client went away")
	}
	u := e.auditor.waitUsage(t)
	if u.Outcome != "client_abort" {
		t.Errorf("usage outcome = %q, want client_abort (%+v)", u.Outcome, u)
	}
	checkSettledOnce(t, lim, 1)
}

// TestUpstreamFailures checks how upstream errors reach the client: with
// their status but scrubbed, or as the gateway's own 502.
func TestUpstreamFailures(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		body    string
		handler func(up *fakeUpstream) http.HandlerFunc
		status  int
		outcome string
		// gateway says the error is the gateway's own, in the API's shape.
		gateway bool
		api     provider.API
	}{
		{name: "Status500Scrubbed", path: "/v1/chat/completions", body: `{"model":"gpt-4o-mini"}`,
			handler: func(up *fakeUpstream) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Set-Cookie", "upstream=1")
					w.WriteHeader(http.StatusInternalServerError)
					fmt.Fprintf(w, `{"error":{"message":"calling %s/openai/v1 (host %s) with %s failed","type":"server_error"}}`,
						up.srv.URL, mustHost(up.srv.URL), r.Header.Get("Authorization"))
				}
			},
			status: 500, outcome: "upstream_error"},
		{name: "Status429PassedOn", path: "/v1/messages", body: `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}`,
			handler: func(up *fakeUpstream) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", "7")
					w.WriteHeader(http.StatusTooManyRequests)
					fmt.Fprintf(w, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down, key %s"}}`, r.Header.Get("X-Api-Key"))
				}
			},
			status: 429, outcome: "upstream_error"},
		{name: "Redirect", path: "/v1/chat/completions", body: `{"model":"gpt-4o-mini"}`,
			handler: func(up *fakeUpstream) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, up.srv.URL+"/elsewhere", http.StatusFound)
				}
			},
			status: 502, outcome: "upstream_error", gateway: true, api: provider.APIOpenAI},
		{name: "RedirectMessages", path: "/v1/messages", body: `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}`,
			handler: func(up *fakeUpstream) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "https://evil.example/steal", http.StatusTemporaryRedirect)
				}
			},
			status: 502, outcome: "upstream_error", gateway: true, api: provider.APIAnthropic},
		{name: "Unreachable", path: "/v1/chat/completions", body: `{"model":"dead-model"}`,
			status: 502, outcome: "upstream_error", gateway: true, api: provider.APIOpenAI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, lim, key := newForwardEnv(t)
			if tt.handler != nil {
				e.up.setHandler(tt.handler(e.up))
			}
			resp, body := e.post(t, key, tt.path, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.status, body)
			}
			for _, secret := range []string{e.up.srv.URL, mustHost(e.up.srv.URL), openAISecret, anthropicSecret, "127.0.0.1", "evil.example"} {
				if strings.Contains(string(body), secret) {
					t.Errorf("the response body contains %q: %s", secret, body)
				}
			}
			for _, h := range []string{"Location", "Set-Cookie"} {
				if v := resp.Header.Get(h); v != "" {
					t.Errorf("response header %s = %q, want none", h, v)
				}
			}
			if tt.gateway {
				eb := checkErrorShape(t, tt.api, tt.status, body)
				if tt.api == provider.APIOpenAI && eb.code() != tt.outcome {
					t.Errorf("error.code = %q, want %q", eb.code(), tt.outcome)
				}
			}
			u := e.auditor.waitUsage(t)
			if u.Status != tt.status || u.Outcome != tt.outcome {
				t.Errorf("usage event = status %d, outcome %q; want %d, %q", u.Status, u.Outcome, tt.status, tt.outcome)
			}
			checkSettledOnce(t, lim, 1)
		})
	}
}

func mustHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	return u.Host
}

// TestRefusedBeforeForward checks that the gates that depend on other
// systems fail closed: the key store, the limiter and the audit log. A
// refusal there forwards nothing.
func TestRefusedBeforeForward(t *testing.T) {
	tests := []struct {
		name       string
		limitErr   error
		auditFails bool
		storeDown  bool
		status     int
		reason     string
		retryAfter string
		settled    int // reservations made, each settled once
	}{
		{name: "AuditUnwritable", auditFails: true, status: 503, reason: "audit_unavailable", settled: 1},
		{name: "RateLimited", limitErr: &limitError{reason: "rate_limited", after: 1500 * time.Millisecond},
			status: 429, reason: "rate_limited", retryAfter: "2"},
		{name: "BudgetExceeded", limitErr: fmt.Errorf("reserve: %w", &limitError{reason: "budget_exceeded", after: time.Hour}),
			status: 429, reason: "budget_exceeded", retryAfter: "3600"},
		{name: "LimiterDown", limitErr: fmt.Errorf("redis: connection refused"), status: 503, reason: "limiter_unavailable", retryAfter: "1"},
		{name: "KeyStoreDown", storeDown: true, status: 503, reason: "key_store_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, lim, key := newForwardEnv(t)
			lim.setErr(tt.limitErr)
			e.auditor.fail.Store(tt.auditFails)
			if tt.storeDown {
				e.keys.setErr(fmt.Errorf("redis: connection refused"))
			}
			resp, body := e.post(t, key, "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[]}`)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.status, body)
			}
			if n := e.up.count(); n != 0 {
				t.Errorf("the upstream received %d requests, want none", n)
			}
			if eb := checkErrorShape(t, provider.APIOpenAI, tt.status, body); eb.code() != tt.reason {
				t.Errorf("error.code = %q, want %q", eb.code(), tt.reason)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if strings.Contains(string(body), "redis") {
				t.Errorf("the body shows the limiter's error: %s", body)
			}
			if !tt.auditFails {
				ev := e.auditor.lastAuthz(t)
				if ev.Decision != "deny" || ev.Reason != tt.reason || ev.Status != tt.status {
					t.Errorf("authz event = %+v, want deny %s %d", ev, tt.reason, tt.status)
				}
				if !tt.storeDown && ev.Resource != "gpt-4o-mini" {
					t.Errorf("authz event resource = %q, want the authorized gpt-4o-mini", ev.Resource)
				}
				if n := countDecisions(e.auditor.authzEvents(), "allow"); n != 0 {
					t.Errorf("%d allow events for a refused request", n)
				}
			}
			e.auditor.noUsage(t)
			checkSettledOnce(t, lim, tt.settled)
		})
	}
}

// TestDeniedRequestsReserveNothing checks that the limiter is asked only
// about authorized requests.
func TestDeniedRequestsReserveNothing(t *testing.T) {
	e, lim, key := newForwardEnv(t)
	for _, body := range []string{`{"model":"gpt-4o"}`, `{"model":"nope"}`, `{"model":1}`} {
		resp, _ := e.post(t, key, "/v1/chat/completions", body)
		if resp.StatusCode < 400 {
			t.Errorf("%s: status %d, want a refusal", body, resp.StatusCode)
		}
	}
	if len(lim.requests) != 0 {
		t.Errorf("the limiter was asked %d times about refused requests", len(lim.requests))
	}
}

// TestModelsList checks that GET /v1/models lists exactly what the key may
// call, in both APIs' shapes, without calling the upstream.
func TestModelsList(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	// Datasets and prefix patterns name no model: they are not listed.
	key := e.key(t, "chat:gpt-4o-mini", "chat:o3-*", "code:claude-haiku-4-5", "retrieval", "search:hr-docs")
	extKey, _, _ := e.mintKey(t, keySpec{principal: externalID, scopes: []string{"chat:gpt-4o", "code"}})
	tests := []struct {
		name   string
		key    string
		header string
		want   []string
	}{
		{name: "OpenAI", key: key, header: "Authorization", want: []string{"chatbot-v1", "claude-haiku-4-5", "gpt-4o-mini"}},
		{name: "Anthropic", key: key, header: "X-Api-Key", want: []string{"chatbot-v1", "claude-haiku-4-5", "gpt-4o-mini"}},
		{name: "External", key: extKey, header: "Authorization", want: []string{"big", "gpt-4o"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url("/v1/models"), nil)
			v := tt.key
			if tt.header == "Authorization" {
				v = "Bearer " + v
			}
			req.Header.Set(tt.header, v)
			resp, body := e.do(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d (body %s)", resp.StatusCode, body)
			}
			var list struct {
				Data []struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			var got []string
			for _, m := range list.Data {
				got = append(got, m.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("models mismatch (-want +got):\n%s", diff)
			}
			e.auditor.waitUsage(t)
		})
	}
	if n := e.up.count(); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}
