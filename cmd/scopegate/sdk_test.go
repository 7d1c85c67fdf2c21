package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// End-to-end tests through run() with the official OpenAI and Anthropic Go
// SDKs as clients: the gateway runs "scopegate serve" with a config file
// that declares the in-process mock upstream and a plain HTTP retrieval
// service (a fake started here), and every answer, allowed or denied, is
// read the way an application would read it.

// sdkConfig is the configuration the SDK tests serve. %s is the retrieval
// fake's URL; the retrieval credential comes from the environment.
const sdkConfig = `
upstreams:
  mock: {kind: mock}
  rag:
    kind: http
    base_url: %s
    api_key: ${RAG_API_KEY}
features:
  chat:
    audience: external
    upstream: mock
    endpoints: [chat.completions, responses, embeddings, messages]
    models: [mock-small, mock-large, mock-embed]
    aliases: {chat-default: mock-small}
  code:
    audience: internal
    upstream: mock
    endpoints: [chat.completions, messages]
    models: ["claude-*"]
  retrieval:
    audience: internal
    upstream: rag
    endpoints: [{method: POST, path: /v1/retrieve}]
    datasets: {from: body.dataset, allow: [hr-docs, sales-kb]}
  datasets-by-path:
    audience: internal
    upstream: rag
    endpoints: [{method: POST, path: "/v1/datasets/{dataset}/search"}]
    datasets: {from: path.dataset, allow: [hr-docs]}
`

// ragCredential is the retrieval upstream's credential: only the gateway
// holds it, and only the upstream may see it.
const ragCredential = "rag-upstream-credential-5f3a9c"

// prompt is short enough that the mock echoes all of it.
const prompt = "Say hello to scopegate"

// retrievalCall is one request the retrieval fake received.
type retrievalCall struct {
	method, path, query string
	authorization       string
	apiKey              string
	body                []byte
}

// retrievalFake is a plain HTTP retrieval service that records its calls.
type retrievalFake struct {
	mu    sync.Mutex
	calls []retrievalCall
}

func (f *retrievalFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, retrievalCall{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
		authorization: r.Header.Get("Authorization"), apiKey: r.Header.Get("X-Api-Key"), body: b})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"results":[{"id":"doc-1","text":"Holiday policy: 25 days."}]}`)
}

// since returns the calls after the first n.
func (f *retrievalFake) since(n int) []retrievalCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]retrievalCall(nil), f.calls[n:]...)
}

func (f *retrievalFake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// sdkWorld is a running gateway with the principals and keys the SDK tests
// use.
type sdkWorld struct {
	*gateway
	rag  *retrievalFake
	root string
	// External principal "partner-app" (ceiling chat, code:claude-*).
	small   keyRecord // chat:mock-small
	chat    keyRecord // chat
	extCode keyRecord // code:claude-sonnet-4-*, refused by audience
	// Internal principal "build-bot" (ceiling chat, code, retrieval,
	// datasets-by-path).
	internal keyRecord // code:claude-sonnet-4-*, retrieval:hr-docs, datasets-by-path:hr-docs
	codeOnly keyRecord // code:claude-sonnet-4-*
}

func newSDKWorld(t *testing.T) *sdkWorld {
	t.Helper()
	rag := &retrievalFake{}
	srv := httptest.NewServer(rag)
	t.Cleanup(srv.Close)
	be := backend{name: "SDK", config: func(t *testing.T) (string, map[string]string) {
		return fmt.Sprintf(sdkConfig, srv.URL), map[string]string{"RAG_API_KEY": ragCredential}
	}}
	g := startGateway(t, be)
	w := &sdkWorld{gateway: g, rag: rag, root: g.info.AdminKey}
	for _, p := range []map[string]any{
		{"id": "partner-app", "kind": "service", "audience": "external", "scopes": []string{"chat", "code:claude-*"}},
		{"id": "build-bot", "kind": "service", "audience": "internal", "scopes": []string{"chat", "code", "retrieval", "datasets-by-path"}},
	} {
		g.admin(w.root, "POST", "/admin/v1/principals", p, http.StatusCreated, nil)
	}
	w.small = w.newKey("partner-app", "chat:mock-small")
	w.chat = w.newKey("partner-app", "chat")
	w.extCode = w.newKey("partner-app", "code:claude-sonnet-4-*")
	w.internal = w.newKey("build-bot", "code:claude-sonnet-4-*", "retrieval:hr-docs", "datasets-by-path:hr-docs")
	w.codeOnly = w.newKey("build-bot", "code:claude-sonnet-4-*")
	return w
}

func (w *sdkWorld) newKey(principal string, scopes ...string) keyRecord {
	w.t.Helper()
	return w.createKey(w.root, map[string]any{"principal": principal, "scopes": scopes})
}

func (w *sdkWorld) openai(key string) openai.Client {
	return openai.NewClient(ooption.WithBaseURL("http://"+w.info.DataAddr+"/v1/"), ooption.WithAPIKey(key), ooption.WithMaxRetries(0))
}

func (w *sdkWorld) anthropic(key string) anthropic.Client {
	return anthropic.NewClient(aoption.WithoutEnvironmentDefaults(), aoption.WithBaseURL("http://"+w.info.DataAddr),
		aoption.WithAPIKey(key), aoption.WithMaxRetries(0))
}

// auditEvents returns the audit log's events of kind event.
func (w *sdkWorld) auditEvents(t *testing.T, event string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(readAuditLog(t, w.dataDir)))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line is not JSON: %v: %s", err, sc.Text())
		}
		if e["event"] == event {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// auditEvent returns the one event of kind event for requestID.
//
// A usage event is written after the client has the whole answer, so it may
// land a moment after the call returns: the log is read again until the
// event is there or 10 seconds pass.
func (w *sdkWorld) auditEvent(t *testing.T, event, requestID string) map[string]any {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		var found []map[string]any
		for _, e := range w.auditEvents(t, event) {
			if e["req"] == requestID {
				found = append(found, e)
			}
		}
		if len(found) > 1 {
			t.Fatalf("audit log has %d %s events for request %s, want 1", len(found), event, requestID)
		}
		if len(found) == 1 {
			return found[0]
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("audit log has no %s event for request %s", event, requestID)
		}
	}
}

// chatParams asks model to answer prompt.
func chatParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
	}
}

// messageParams asks model to answer prompt, in Anthropic's API.
func messageParams(model string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     model,
		MaxTokens: 256,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))},
	}
}

// messageText joins the text blocks of m.
func messageText(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// chatOK makes a non-streamed chat completion for model and checks that it
// is the mock's answer as wantModel, the canonical id.
func (w *sdkWorld) chatOK(t *testing.T, key, model, wantModel string) *openai.ChatCompletion {
	t.Helper()
	c := w.openai(key)
	resp, err := c.Chat.Completions.New(t.Context(), chatParams(model))
	if err != nil {
		t.Fatalf("Chat.Completions.New(%s) = %v", model, describe(err))
	}
	if len(resp.Choices) != 1 {
		t.Fatalf("Chat.Completions.New(%s): %d choices, want 1", model, len(resp.Choices))
	}
	if got, want := resp.Choices[0].Message.Content, wantModel+" says: "+prompt; got != want {
		t.Errorf("Chat.Completions.New(%s) content = %q, want %q", model, got, want)
	}
	if resp.Model != wantModel {
		t.Errorf("Chat.Completions.New(%s) model = %q, want %q", model, resp.Model, wantModel)
	}
	return resp
}

// describe prints an SDK error with its body, which the OpenAI SDK's
// Error() leaves out.
func describe(err error) string {
	if e, ok := errors.AsType[*openai.Error](err); ok {
		return fmt.Sprintf("%v %s", err, e.RawJSON())
	}
	return err.Error()
}

func TestSDKs(t *testing.T) {
	w := newSDKWorld(t)

	t.Run("ChatCompletion", func(t *testing.T) {
		resp := w.chatOK(t, w.small.Key, "mock-small", "mock-small")
		u := resp.Usage
		if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage = %d prompt + %d completion = %d total, want both > 0 and a matching total", u.PromptTokens, u.CompletionTokens, u.TotalTokens)
		}
	})

	t.Run("ChatCompletionStream", func(t *testing.T) {
		c := w.openai(w.small.Key)
		whole := w.chatOK(t, w.small.Key, "mock-small", "mock-small")
		params := chatParams("mock-small")
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := c.Chat.Completions.NewStreaming(t.Context(), params)
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			chunks++
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("chunk %d was not accepted by the accumulator", chunks)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", describe(err))
		}
		if chunks < 3 {
			t.Errorf("stream had %d chunks, want the reply in several", chunks)
		}
		if len(acc.Choices) != 1 {
			t.Fatalf("accumulated %d choices, want 1", len(acc.Choices))
		}
		if got, want := acc.Choices[0].Message.Content, whole.Choices[0].Message.Content; got != want {
			t.Errorf("streamed text = %q, want the non-streamed %q", got, want)
		}
		if acc.Usage.CompletionTokens <= 0 || acc.Usage.PromptTokens != whole.Usage.PromptTokens || acc.Usage.CompletionTokens != whole.Usage.CompletionTokens {
			t.Errorf("streamed usage = %d/%d, want the non-streamed %d/%d", acc.Usage.PromptTokens, acc.Usage.CompletionTokens, whole.Usage.PromptTokens, whole.Usage.CompletionTokens)
		}
	})

	t.Run("Responses", func(t *testing.T) {
		c := w.openai(w.chat.Key)
		params := responses.ResponseNewParams{Model: "mock-large", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)}}
		resp, err := c.Responses.New(t.Context(), params)
		if err != nil {
			t.Fatalf("Responses.New = %v", describe(err))
		}
		want := "mock-large says: " + prompt
		if got := resp.OutputText(); got != want {
			t.Errorf("Responses.New output = %q, want %q", got, want)
		}
		if resp.Usage.InputTokens <= 0 || resp.Usage.OutputTokens <= 0 {
			t.Errorf("Responses.New usage = %d in, %d out, want both > 0", resp.Usage.InputTokens, resp.Usage.OutputTokens)
		}

		stream := c.Responses.NewStreaming(t.Context(), params)
		defer stream.Close()
		var deltas strings.Builder
		var completed *responses.Response
		for stream.Next() {
			switch ev := stream.Current(); ev.Type {
			case "response.output_text.delta":
				deltas.WriteString(ev.Delta)
			case "response.completed":
				r := ev.AsResponseCompleted().Response
				completed = &r
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("Responses stream: %v", describe(err))
		}
		if completed == nil {
			t.Fatal("Responses stream ended without response.completed")
		}
		if deltas.String() != want || completed.OutputText() != want {
			t.Errorf("Responses stream text: deltas %q, completed %q, want %q", deltas.String(), completed.OutputText(), want)
		}
		if completed.Usage.InputTokens != resp.Usage.InputTokens || completed.Usage.OutputTokens != resp.Usage.OutputTokens {
			t.Errorf("Responses stream usage = %d/%d, want the non-streamed %d/%d", completed.Usage.InputTokens, completed.Usage.OutputTokens, resp.Usage.InputTokens, resp.Usage.OutputTokens)
		}
	})

	t.Run("Embeddings", func(t *testing.T) {
		c := w.openai(w.chat.Key)
		resp, err := c.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
			Model: "mock-embed",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"holiday policy", "expense policy"}},
		})
		if err != nil {
			t.Fatalf("Embeddings.New = %v", describe(err))
		}
		if len(resp.Data) != 2 {
			t.Fatalf("Embeddings.New returned %d vectors, want 2", len(resp.Data))
		}
		for i, d := range resp.Data {
			if len(d.Embedding) != 8 || d.Index != int64(i) {
				t.Errorf("vector %d: index %d, length %d, want index %d and the mock's 8 dimensions", i, d.Index, len(d.Embedding), i)
			}
		}
		if cmp.Equal(resp.Data[0].Embedding, resp.Data[1].Embedding) {
			t.Error("two different inputs got the same vector")
		}
		if resp.Usage.PromptTokens != 4 || resp.Usage.TotalTokens != 4 {
			t.Errorf("usage = %d prompt, %d total, want 4 (the mock counts words)", resp.Usage.PromptTokens, resp.Usage.TotalTokens)
		}
	})

	t.Run("AliasAuthorizedAsCanonical", func(t *testing.T) {
		var httpResp *http.Response
		c := w.openai(w.small.Key)
		resp, err := c.Chat.Completions.New(t.Context(), chatParams("chat-default"), ooption.WithResponseInto(&httpResp))
		if err != nil {
			t.Fatalf("Chat.Completions.New(chat-default) = %v", describe(err))
		}
		if got, want := resp.Choices[0].Message.Content, "mock-small says: "+prompt; got != want || resp.Model != "mock-small" {
			t.Errorf("chat-default answered model %q, %q; want mock-small, %q", resp.Model, got, want)
		}
		id := httpResp.Header.Get("X-Request-Id")
		e := w.auditEvent(t, "authz", id)
		want := map[string]any{"decision": "allow", "reason": "allowed", "feature": "chat", "scope": "chat:mock-small",
			"resource": "mock-small", "endpoint": "chat.completions", "key": w.small.ID, "principal": "partner-app"}
		for k, v := range want {
			if e[k] != v {
				t.Errorf("authz event %s = %v, want %v", k, e[k], v)
			}
		}
		u := w.auditEvent(t, "usage", id)
		if u["outcome"] != "ok" || u["tokens_in"] != float64(resp.Usage.PromptTokens) || u["tokens_out"] != float64(resp.Usage.CompletionTokens) {
			t.Errorf("usage event = %v, want outcome ok and tokens %d/%d", u, resp.Usage.PromptTokens, resp.Usage.CompletionTokens)
		}
	})

	t.Run("UpstreamErrorPassedOn", func(t *testing.T) {
		c := w.openai(w.small.Key)
		_, err := c.Chat.Completions.New(t.Context(), chatParams("mock-small"), ooption.WithHeader("X-Mock-Status", "503"))
		apiErr, ok := errors.AsType[*openai.Error](err)
		if !ok || apiErr.StatusCode != 503 || !strings.Contains(apiErr.Message, "mock error") {
			t.Fatalf("Chat.Completions.New with an upstream 503 = %v, want the upstream's 503 as an *openai.Error", describe(err))
		}
		if strings.Contains(apiErr.RawJSON(), "127.0.0.1") {
			t.Errorf("upstream error body names an address: %s", apiErr.RawJSON())
		}
		id := apiErr.Response.Header.Get("X-Request-Id")
		if e := w.auditEvent(t, "authz", id); e["decision"] != "allow" {
			t.Errorf("authz event = %v, want allow", e)
		}
		if u := w.auditEvent(t, "usage", id); u["outcome"] != "upstream_error" || u["status"] != float64(503) {
			t.Errorf("usage event = %v, want outcome upstream_error, status 503", u)
		}
	})

	t.Run("AnthropicMessages", func(t *testing.T) {
		tests := []struct {
			name, key, model string
		}{
			{"ChatScope", w.small.Key, "mock-small"},
			{"CodeScopeInternal", w.internal.Key, "claude-sonnet-4-x"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := w.anthropic(tt.key)
				msg, err := c.Messages.New(t.Context(), messageParams(tt.model))
				if err != nil {
					t.Fatalf("Messages.New(%s) = %v", tt.model, err)
				}
				want := tt.model + " says: " + prompt
				if got := messageText(msg); got != want || msg.Model != tt.model || msg.StopReason != anthropic.StopReasonEndTurn {
					t.Errorf("Messages.New(%s) = model %q, %q, stop %q; want %q, end_turn", tt.model, msg.Model, got, msg.StopReason, want)
				}
				if msg.Usage.InputTokens <= 0 || msg.Usage.OutputTokens <= 0 {
					t.Errorf("Messages.New(%s) usage = %d in, %d out, want both > 0", tt.model, msg.Usage.InputTokens, msg.Usage.OutputTokens)
				}

				stream := c.Messages.NewStreaming(t.Context(), messageParams(tt.model))
				defer stream.Close()
				var acc anthropic.Message
				for stream.Next() {
					if err := acc.Accumulate(stream.Current()); err != nil {
						t.Fatalf("Accumulate: %v", err)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatalf("Messages stream(%s): %v", tt.model, err)
				}
				if got := messageText(&acc); got != want {
					t.Errorf("streamed text = %q, want %q", got, want)
				}
				if acc.Usage.InputTokens != msg.Usage.InputTokens || acc.Usage.OutputTokens != msg.Usage.OutputTokens {
					t.Errorf("streamed usage = %d/%d, want the non-streamed %d/%d", acc.Usage.InputTokens, acc.Usage.OutputTokens, msg.Usage.InputTokens, msg.Usage.OutputTokens)
				}
			})
		}
	})

	t.Run("Retrieval", func(t *testing.T) {
		tests := []struct {
			name, key, path, body string
			status                int
			code, requiredScope   string
			// upstreamPath is where the fake must be called; "" means not at all.
			upstreamPath string
		}{
			{name: "OK", key: w.internal.Key, path: "/v1/retrieve", body: `{"dataset":"hr-docs","query":"holiday policy","top_k":3}`,
				status: 200, upstreamPath: "/v1/retrieve"},
			{name: "ErrMissingScope", key: w.internal.Key, path: "/v1/retrieve", body: `{"dataset":"sales-kb","query":"pipeline"}`,
				status: 403, code: "missing_scope", requiredScope: "retrieval:sales-kb"},
			{name: "ErrDatasetNotServed", key: w.internal.Key, path: "/v1/retrieve", body: `{"dataset":"payroll","query":"x"}`,
				status: 404, code: "dataset_not_found"},
			{name: "ErrExternalPrincipal", key: w.chat.Key, path: "/v1/retrieve", body: `{"dataset":"hr-docs","query":"x"}`,
				status: 404, code: "dataset_not_found"},
			{name: "PathParamOK", key: w.internal.Key, path: "/v1/datasets/hr-docs/search", body: `{"query":"holiday policy"}`,
				status: 200, upstreamPath: "/v1/datasets/hr-docs/search"},
			{name: "PathParamErrMissingScope", key: w.codeOnly.Key, path: "/v1/datasets/hr-docs/search", body: `{"query":"x"}`,
				status: 403, code: "missing_scope", requiredScope: "datasets-by-path:hr-docs"},
			{name: "PathParamErrDatasetNotServed", key: w.internal.Key, path: "/v1/datasets/sales-kb/search", body: `{"query":"x"}`,
				status: 404, code: "dataset_not_found"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := w.rag.count()
				code, b := w.do("POST", "http://"+w.info.DataAddr+tt.path, tt.key, nil, tt.body)
				if code != tt.status {
					t.Fatalf("POST %s = %d %s, want %d", tt.path, code, b, tt.status)
				}
				calls := w.rag.since(before)
				if tt.upstreamPath == "" {
					var e struct {
						Error struct {
							Message, Code string
							RequiredScope string `json:"required_scope"`
						}
					}
					if err := json.Unmarshal(b, &e); err != nil {
						t.Fatalf("error body is not JSON: %s", b)
					}
					if e.Error.Code != tt.code || e.Error.RequiredScope != tt.requiredScope || e.Error.Message == "" {
						t.Errorf("POST %s = code %q, required_scope %q, message %q; want %q, %q", tt.path, e.Error.Code, e.Error.RequiredScope, e.Error.Message, tt.code, tt.requiredScope)
					}
					if tt.requiredScope != "" && !strings.Contains(e.Error.Message, tt.requiredScope) {
						t.Errorf("message %q does not name the required scope %s", e.Error.Message, tt.requiredScope)
					}
					if len(calls) != 0 {
						t.Errorf("a refused request reached the retrieval upstream %d times", len(calls))
					}
					return
				}
				if !strings.Contains(string(b), "Holiday policy") {
					t.Errorf("answer %s is not the upstream's", b)
				}
				if len(calls) != 1 {
					t.Fatalf("retrieval upstream called %d times, want 1", len(calls))
				}
				got := calls[0]
				if got.method != "POST" || got.path != tt.upstreamPath || got.query != "" {
					t.Errorf("upstream got %s %s?%s, want POST %s", got.method, got.path, got.query, tt.upstreamPath)
				}
				if got.authorization != "Bearer "+ragCredential || got.apiKey != "" {
					t.Errorf("upstream got Authorization %q and x-api-key %q, want the upstream credential only", got.authorization, got.apiKey)
				}
				if strings.Contains(got.authorization+string(got.body), tt.key[len(tt.key)-20:]) {
					t.Error("the client's key reached the upstream")
				}
				var sent, received any
				json.Unmarshal([]byte(tt.body), &sent)
				if err := json.Unmarshal(got.body, &received); err != nil || !cmp.Equal(sent, received) {
					t.Errorf("upstream body = %s, want %s", got.body, tt.body)
				}
			})
		}
	})

	t.Run("Denied", func(t *testing.T) {
		// Keys in each state a key can be refused for, made here so that
		// the states do not leak into the other subtests.
		suspended := w.newKey("partner-app", "chat:mock-small")
		w.admin(w.root, "POST", "/admin/v1/keys/"+suspended.ID+"/suspend", nil, http.StatusOK, nil)
		revoked := w.newKey("partner-app", "chat:mock-small")
		w.admin(w.root, "POST", "/admin/v1/keys/"+revoked.ID+"/revoke", nil, http.StatusOK, nil)
		fenced := w.createKey(w.root, map[string]any{"principal": "partner-app", "scopes": []string{"chat:mock-small"}, "cidrs": []string{"10.0.0.0/8"}})
		expiring := w.createKey(w.root, map[string]any{"principal": "partner-app", "scopes": []string{"chat:mock-small"}, "ttl": "20m"})
		w.chatOK(t, expiring.Key, "mock-small", "mock-small")
		w.clock.Advance(21 * time.Minute)

		tests := []struct {
			name, key, model string
			status           int
			code             string
			// message is a part of the error message; requiredScope the
			// body's required_scope.
			message, requiredScope string
		}{
			{"ErrMissingScope", w.small.Key, "mock-large", 403, "missing_scope", "chat:mock-large", "chat:mock-large"},
			{"ErrModelOutsidePattern", w.internal.Key, "claude-opus-4", 403, "missing_scope", "code:claude-opus-4", "code:claude-opus-4"},
			{"ErrAudienceMismatch", w.extCode.Key, "claude-sonnet-4-x", 403, "audience_mismatch", `feature "code" is internal`, ""},
			{"ErrModelNotServed", w.chat.Key, "gpt-4o", 404, "model_not_found", `"gpt-4o"`, ""},
			{"ErrSuspended", suspended.Key, "mock-small", 401, "key_suspended", "suspended", ""},
			{"ErrRevoked", revoked.Key, "mock-small", 401, "key_revoked", "revoked", ""},
			{"ErrExpired", expiring.Key, "mock-small", 401, "key_expired", "expired", ""},
			{"ErrClientNotAllowed", fenced.Key, "mock-small", 401, "client_not_allowed", "client address not allowed", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Run("OpenAI", func(t *testing.T) {
					c := w.openai(tt.key)
					resp, err := c.Chat.Completions.New(t.Context(), chatParams(tt.model))
					apiErr, ok := errors.AsType[*openai.Error](err)
					if !ok {
						t.Fatalf("Chat.Completions.New(%s) = %v, %v; want an *openai.Error", tt.model, resp, err)
					}
					if apiErr.StatusCode != tt.status || apiErr.Code != tt.code || !strings.Contains(apiErr.Message, tt.message) {
						t.Errorf("Chat.Completions.New(%s) = %d %q %q, want %d %q and a message containing %q", tt.model, apiErr.StatusCode, apiErr.Code, apiErr.Message, tt.status, tt.code, tt.message)
					}
					if got := requiredScopeOf(t, apiErr.RawJSON()); got != tt.requiredScope {
						t.Errorf("required_scope = %q, want %q (body %s)", got, tt.requiredScope, apiErr.RawJSON())
					}
					if tt.status == 401 && !strings.Contains(apiErr.Response.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
						t.Errorf("WWW-Authenticate = %q, want an invalid_token challenge", apiErr.Response.Header.Get("WWW-Authenticate"))
					}
				})
				t.Run("Anthropic", func(t *testing.T) {
					c := w.anthropic(tt.key)
					msg, err := c.Messages.New(t.Context(), messageParams(tt.model))
					apiErr, ok := errors.AsType[*anthropic.Error](err)
					if !ok {
						t.Fatalf("Messages.New(%s) = %v, %v; want an *anthropic.Error", tt.model, msg, err)
					}
					if apiErr.StatusCode != tt.status || !strings.Contains(apiErr.Message, tt.message) {
						t.Errorf("Messages.New(%s) = %d %q, want %d and a message containing %q", tt.model, apiErr.StatusCode, apiErr.Message, tt.status, tt.message)
					}
					var body struct {
						Type  string
						Error struct {
							Type          string
							RequiredScope string `json:"required_scope"`
						}
					}
					if err := json.Unmarshal([]byte(apiErr.RawJSON()), &body); err != nil {
						t.Fatalf("Anthropic error body is not JSON: %s", apiErr.RawJSON())
					}
					if want := anthropicErrorType(tt.status); body.Type != "error" || body.Error.Type != want || body.Error.RequiredScope != tt.requiredScope {
						t.Errorf("Anthropic error body = %s, want type %s and required_scope %q", apiErr.RawJSON(), want, tt.requiredScope)
					}
				})
			})
		}

		t.Run("AuditRecordsDenials", func(t *testing.T) {
			reasons := map[string]bool{}
			for _, e := range w.auditEvents(t, "authz") {
				if e["decision"] == "deny" {
					reasons[e["reason"].(string)] = true
				}
			}
			for _, tt := range tests {
				if !reasons[tt.code] {
					t.Errorf("audit log has no deny event with reason %s", tt.code)
				}
			}
		})
	})

	t.Run("ModelsList", func(t *testing.T) {
		tests := []struct {
			name string
			key  string
			want []string
		}{
			{"OneModel", w.small.Key, []string{"chat-default", "mock-small"}},
			{"WholeFeature", w.chat.Key, []string{"chat-default", "mock-embed", "mock-large", "mock-small"}},
			// An external key granted an internal feature sees none of it.
			{"AudienceHidden", w.extCode.Key, []string{}},
			// Datasets are not models, and model patterns list nothing.
			{"DatasetsNotListed", w.internal.Key, []string{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				oc, ac := w.openai(tt.key), w.anthropic(tt.key)
				page, err := oc.Models.List(t.Context())
				if err != nil {
					t.Fatalf("openai Models.List = %v", describe(err))
				}
				got := []string{}
				for _, m := range page.Data {
					got = append(got, m.ID)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("openai Models.List mismatch (-want +got):\n%s", diff)
				}

				apage, err := ac.Models.List(t.Context(), anthropic.ModelListParams{})
				if err != nil {
					t.Fatalf("anthropic Models.List = %v", err)
				}
				got = []string{}
				for _, m := range apage.Data {
					got = append(got, m.ID)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" || apage.HasMore {
					t.Errorf("anthropic Models.List has_more %v, mismatch (-want +got):\n%s", apage.HasMore, diff)
				}
			})
		}
	})

	t.Run("ScopeTypoRefused", func(t *testing.T) {
		tests := []struct{ name, scope, names string }{
			{"UnknownFeature", "chta:mock-small", `"chta"`},
			{"ResourceNotServed", "chat:mock-smal", `"chat:mock-smal"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, b := w.do("POST", "http://"+w.info.AdminAddr+"/admin/v1/keys", w.root, nil,
					map[string]any{"principal": "partner-app", "scopes": []string{tt.scope}})
				var e struct {
					Error struct{ Field, Message string } `json:"error"`
				}
				json.Unmarshal(b, &e)
				if code != http.StatusBadRequest || e.Error.Field != "scopes" || !strings.Contains(e.Error.Message, tt.names) {
					t.Errorf("create key with scope %s = %d %s, want 400 on field scopes naming %s", tt.scope, code, b, tt.names)
				}
			})
		}
	})

	t.Run("RevokeTakesEffectAtOnce", func(t *testing.T) {
		k := w.newKey("partner-app", "chat:mock-small")
		w.chatOK(t, k.Key, "mock-small", "mock-small") // now cached
		w.admin(w.root, "POST", "/admin/v1/keys/"+k.ID+"/revoke", nil, http.StatusOK, nil)
		c := w.openai(k.Key)
		_, err := c.Chat.Completions.New(t.Context(), chatParams("mock-small"))
		apiErr, ok := errors.AsType[*openai.Error](err)
		if !ok || apiErr.StatusCode != 401 || apiErr.Code != "key_revoked" {
			t.Errorf("request after revoke = %v, want 401 key_revoked", describe(err))
		}
	})

	t.Run("Explain", func(t *testing.T) {
		body := `{"model":"mock-large","messages":[{"role":"user","content":"hi"}]}`
		var got struct {
			Decision      string `json:"decision"`
			Stage         string `json:"stage"`
			Status        int    `json:"status"`
			Reason        string `json:"reason"`
			Feature       string `json:"feature"`
			RequiredScope string `json:"required_scope"`
			Resource      string `json:"resource"`
			Message       string `json:"message"`
		}
		before := len(w.auditEvents(t, "authz"))
		w.admin(w.root, "POST", "/admin/v1/explain", map[string]any{"key_id": w.small.ID, "method": "POST",
			"path": "/v1/chat/completions", "body": json.RawMessage(body)}, http.StatusOK, &got)
		if got.Decision != "deny" || got.Stage != "authorize" || got.Status != 403 || got.Reason != "missing_scope" ||
			got.RequiredScope != "chat:mock-large" || got.Feature != "chat" || got.Resource != "mock-large" || !strings.Contains(got.Message, "chat:mock-large") {
			t.Errorf("explain = %+v, want deny at authorize, 403 missing_scope, required_scope chat:mock-large", got)
		}
		if after := len(w.auditEvents(t, "authz")); after != before {
			t.Errorf("explain wrote %d authz events, want none", after-before)
		}

		var out, errOut bytes.Buffer
		getenv := func(k string) string {
			return map[string]string{"SCOPEGATE_ADDR": "http://" + w.info.AdminAddr, "SCOPEGATE_ADMIN_KEY": w.root}[k]
		}
		args := []string{"scopegate", "explain", "--key-id", w.small.ID, "--method", "POST", "--path", "/v1/chat/completions", "--body", body}
		if err := run(t.Context(), args, getenv, strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("scopegate explain: %v\n%s", err, errOut.String())
		}
		for _, re := range []string{`(?m)^decision:\s+deny$`, `(?m)^stage:\s+authorize$`, `(?m)^status:\s+403$`,
			`(?m)^reason:\s+missing_scope$`, `(?m)^required_scope:\s+chat:mock-large$`} {
			if !regexp.MustCompile(re).MatchString(out.String()) {
				t.Errorf("scopegate explain output does not match %s:\n%s", re, out.String())
			}
		}
	})
}

// requiredScopeOf reads required_scope from an *openai.Error's RawJSON,
// which is the body's "error" member.
func requiredScopeOf(t *testing.T, raw string) string {
	t.Helper()
	var e struct {
		RequiredScope string `json:"required_scope"`
	}
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatalf("error body is not JSON: %s", raw)
	}
	return e.RequiredScope
}

// anthropicErrorType is the error.type Anthropic's API uses for status.
func anthropicErrorType(status int) string {
	return map[int]string{401: "authentication_error", 403: "permission_error", 404: "not_found_error"}[status]
}
