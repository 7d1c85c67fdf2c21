package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// The streamed requests of the tests with the mock upstream. The mock's
// usage counts words: 3 of input ("one two three"), and 5 of output (the
// reply "<model> says: one two three"). The gateway estimates the input of
// the chat and messages bodies at 5 tokens (17 bytes of strings, "user"
// and the message) and that of the Responses body at 4 (13 bytes).
const (
	mockChatStream          = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"one two three"}],"max_tokens":50}`
	mockChatStreamWithUsage = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three"}],"max_tokens":50}`
	mockChatStreamNoUsage   = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"one two three"}],"max_tokens":50}`
	mockResponsesStream     = `{"model":"gpt-4o-mini","stream":true,"input":"one two three","max_output_tokens":50}`
	mockMessagesStream      = `{"model":"claude-haiku-4-5","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"one two three"}]}`
)

// TestStreamSettlesReportedUsage streams answers of the provider's mock
// through the gateway and checks that each call is charged exactly the
// usage the mock reported: on the usage event and on the key's token
// budget. For an OpenAI chat stream whose client did not ask for usage,
// the gateway asks the upstream for it and removes the usage chunk from
// what the client receives, [DONE] included; a client that asked for it
// gets it.
func TestStreamSettlesReportedUsage(t *testing.T) {
	tests := []struct {
		name string
		path string
		body string
		// upstreamBody is what the upstream must receive.
		upstreamBody string
		// reserved is the call's reservation: the estimate and max tokens.
		reserved int64
		// wantUsageChunk says the client receives the usage chunk;
		// wantLast is the last event the client receives.
		wantUsageChunk bool
		wantLast       string
		want           audit.Usage
	}{
		{name: "ChatInjected", path: "/v1/chat/completions", body: mockChatStream,
			upstreamBody: strings.TrimSuffix(mockChatStream, "}") + `,"stream_options":{"include_usage":true}}`,
			reserved:     5 + 50, wantLast: "data: [DONE]",
			want: audit.Usage{Status: 200, InputTokens: 3, OutputTokens: 5, UsageKnown: true, Outcome: "ok"}},
		{name: "ChatIncludeUsageFalse", path: "/v1/chat/completions", body: mockChatStreamNoUsage,
			upstreamBody: strings.Replace(mockChatStreamNoUsage, `"include_usage":false`, `"include_usage":true`, 1),
			reserved:     5 + 50, wantLast: "data: [DONE]",
			want: audit.Usage{Status: 200, InputTokens: 3, OutputTokens: 5, UsageKnown: true, Outcome: "ok"}},
		{name: "ChatClientAsked", path: "/v1/chat/completions", body: mockChatStreamWithUsage,
			upstreamBody: mockChatStreamWithUsage, reserved: 5 + 50, wantUsageChunk: true, wantLast: "data: [DONE]",
			want: audit.Usage{Status: 200, InputTokens: 3, OutputTokens: 5, UsageKnown: true, Outcome: "ok"}},
		{name: "Responses", path: "/v1/responses", body: mockResponsesStream,
			upstreamBody: mockResponsesStream, reserved: 4 + 50,
			want: audit.Usage{Status: 200, InputTokens: 3, OutputTokens: 5, UsageKnown: true, Outcome: "ok"}},
		{name: "Messages", path: "/v1/messages", body: mockMessagesStream,
			upstreamBody: mockMessagesStream, reserved: 5 + 50, wantLast: "event: message_stop\ndata: {\"type\":\"message_stop\"}",
			want: audit.Usage{Status: 200, InputTokens: 3, OutputTokens: 5, UsageKnown: true, Outcome: "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
			key, id := e.limitedKey(t, internalID, apikey.Limits{TokensPerDay: 1000})
			e.up.setHandler(mockUpstream())
			resp, body := e.post(t, key, tt.path, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d %s, want 200", resp.StatusCode, body)
			}
			if got := string(e.up.last(t).Body); got != tt.upstreamBody {
				t.Errorf("upstream body =\n%s\nwant\n%s", got, tt.upstreamBody)
			}
			if got, want := resp.Header.Get("RateLimit"), `"key_tokens_per_day";r=`+itoa(1000-tt.reserved)+`;t=`+untilMidnight; got != want {
				t.Errorf("RateLimit = %q, want %q", got, want)
			}
			events := splitEvents(body)
			var usageChunks int
			for _, ev := range events {
				if strings.Contains(ev, `"prompt_tokens"`) {
					usageChunks++
				}
			}
			if want := map[bool]int{false: 0, true: 1}[tt.wantUsageChunk]; usageChunks != want {
				t.Errorf("the client received %d usage chunks, want %d:\n%s", usageChunks, want, body)
			}
			if tt.wantLast != "" && (len(events) == 0 || events[len(events)-1] != tt.wantLast) {
				t.Errorf("the last event is not %q:\n%s", tt.wantLast, body)
			}
			want := "gpt-4o-mini says: one two three"
			if tt.path == "/v1/messages" {
				want = "claude-haiku-4-5 says: one two three"
			}
			if got := streamedText(t, events); got != want {
				t.Errorf("streamed text = %q, want %q", got, want)
			}
			u := e.auditor.waitUsage(t)
			u.RequestID, u.KeyID, u.Latency = "", "", 0
			if diff := cmp.Diff(tt.want, u); diff != "" {
				t.Errorf("usage event (-want +got):\n%s", diff)
			}
			if got := e.remainingOf(t, keyLimit(id, ratelimit.TokensPerDay, 1000)); got != 1000-8 {
				t.Errorf("token budget left = %d, want %d: charged the 3 + 5 the mock reported", got, 1000-8)
			}
		})
	}
}

// streamedText returns the text an OpenAI chat, Responses or Anthropic
// stream delivered.
func streamedText(t *testing.T, events []string) string {
	t.Helper()
	var b strings.Builder
	for _, ev := range events {
		_, data, ok := strings.Cut(ev, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Type    string          `json:"type"`
			Delta   json.RawMessage `json:"delta"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		switch chunk.Type {
		case "response.output_text.delta":
			var s string
			json.Unmarshal(chunk.Delta, &s)
			b.WriteString(s)
		case "content_block_delta":
			var d struct{ Text string }
			json.Unmarshal(chunk.Delta, &d)
			b.WriteString(d.Text)
		}
		for _, c := range chunk.Choices {
			b.WriteString(c.Delta.Content)
		}
	}
	return b.String()
}

// TestAbortedStreamCharge checks what a stream the client leaves is
// charged: the mock sends some events, then hangs; the client reads them
// and goes. The call is charged its input (the estimate, or the count the
// upstream already sent) plus one output token per content event
// delivered, recorded as not known with outcome client_abort, and its
// concurrency slot is given back.
func TestAbortedStreamCharge(t *testing.T) {
	tests := []struct {
		name string
		path string
		body string
		// events is how many events the mock sends before it hangs.
		events  int
		in, out int64
	}{
		// The role chunk, then "gpt-4o-mini ", "says: ", "one ": the
		// estimate of 5 and 3.
		{name: "Chat", path: "/v1/chat/completions", body: mockChatStream, events: 4, in: 5, out: 3},
		{name: "ChatClientAsked", path: "/v1/chat/completions", body: mockChatStreamWithUsage, events: 4, in: 5, out: 3},
		// The role chunk only: the input estimate alone.
		{name: "ChatNoContent", path: "/v1/chat/completions", body: mockChatStream, events: 1, in: 5, out: 0},
		// response.created, .in_progress, .output_item.added,
		// .content_part.added, then two deltas.
		{name: "Responses", path: "/v1/responses", body: mockResponsesStream, events: 6, in: 4, out: 2},
		// message_start (3 input, 1 output), content_block_start, ping,
		// two deltas: the upstream's input.
		{name: "Messages", path: "/v1/messages", body: mockMessagesStream, events: 5, in: 3, out: 2},
		// Before any delta, message_start's first output token counts.
		{name: "MessagesNoContent", path: "/v1/messages", body: mockMessagesStream, events: 3, in: 3, out: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
			key, id := e.limitedKey(t, internalID, apikey.Limits{TokensPerDay: 1000, Concurrent: 1})
			e.up.setHandler(mockUpstream(provider.MockHeaderHangAfter, itoa(int64(tt.events))))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			resp := e.postStream(t, ctx, key, tt.path, tt.body)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			r := bufio.NewReader(resp.Body)
			for range tt.events {
				readEvent(t, r)
			}
			cancel()
			u := e.auditor.waitUsage(t)
			u.RequestID, u.KeyID, u.Latency = "", "", 0
			want := audit.Usage{Status: 200, InputTokens: tt.in, OutputTokens: tt.out, UsageKnown: false, Outcome: "client_abort"}
			if diff := cmp.Diff(want, u); diff != "" {
				t.Errorf("usage event (-want +got):\n%s", diff)
			}
			got := e.remaining(t, keyLimit(id, ratelimit.TokensPerDay, 1000), keyLimit(id, ratelimit.Concurrent, 1))
			if diff := cmp.Diff([]int64{1000 - tt.in - tt.out, 1}, got); diff != "" {
				t.Errorf("token budget and slots left (-want +got):\n%s", diff)
			}
			// The slot is free: the next call passes.
			e.up.setHandler(usageHandler(11, 7))
			resp2, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", 10))
			if resp2.StatusCode != http.StatusOK {
				t.Fatalf("next call = %d %s, want 200", resp2.StatusCode, b)
			}
			e.auditor.waitUsage(t)
		})
	}
}

// TestConcurrentRefusal checks the refusal by a concurrency limit while a
// stream holds the key's only slot, and that the slot frees when the
// stream ends.
func TestConcurrentRefusal(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
	key, id := e.limitedKey(t, internalID, apikey.Limits{Concurrent: 1})
	e.up.setHandler(mockUpstream(provider.MockHeaderHangAfter, "2"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := e.postStream(t, ctx, key, "/v1/chat/completions", mockChatStream)
	defer resp.Body.Close()
	if got, want := resp.Header.Get("RateLimit"), `"key_concurrent";r=0;t=0`; got != want {
		t.Errorf("stream's RateLimit = %q, want %q", got, want)
	}
	r := bufio.NewReader(resp.Body)
	readEvent(t, r)

	for _, path := range []string{"/v1/chat/completions", "/v1/messages"} {
		body := chatBody("gpt-4o-mini", 10)
		if path == "/v1/messages" {
			body = messagesBody("claude-haiku-4-5", 10)
		}
		resp2, b := e.post(t, key, path, body)
		if resp2.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%s while the slot is held = %d %s, want 429", path, resp2.StatusCode, b)
		}
		for name, want := range map[string]string{
			"Retry-After":      "1",
			"RateLimit-Policy": `"key_concurrent";q=1;w=1;qu="concurrent-requests"`,
			"RateLimit":        `"key_concurrent";r=0;t=1`,
		} {
			if got := resp2.Header.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
		if want := "rate limit exceeded: key " + string(id) + " limit concurrent of 1; retry after 1s"; !strings.Contains(string(b), want) {
			t.Errorf("%s: body %s does not say %q", path, b, want)
		}
		if ev := e.auditor.lastAuthz(t); ev.Decision != "deny" || ev.Reason != "rate_limited" {
			t.Errorf("%s: authz event = %s %s, want deny rate_limited", path, ev.Decision, ev.Reason)
		}
	}
	readEvent(t, r)
	cancel()
	if u := e.auditor.waitUsage(t); u.Outcome != "client_abort" {
		t.Errorf("stream outcome = %q, want client_abort", u.Outcome)
	}
	e.up.setHandler(usageHandler(11, 7))
	if resp3, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", 10)); resp3.StatusCode != http.StatusOK {
		t.Fatalf("after the stream = %d %s, want 200", resp3.StatusCode, b)
	}
	e.auditor.waitUsage(t)
}
