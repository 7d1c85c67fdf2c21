package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// lockstepHandler streams chunks, raw, one at a time: each after the
// client acknowledged an event on ack (if ack is not nil). Every read of
// the gateway then holds at most one chunk, so where a stream is cut does
// not depend on how the network groups bytes.
func lockstepHandler(chunks []string, ack <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i, c := range chunks {
			if i > 0 && ack != nil {
				select {
				case <-ack:
				case <-r.Context().Done():
					return
				}
			}
			io.WriteString(w, c)
			rc.Flush()
		}
	}
}

// The streams of TestCutStreams: six content events whatever max_tokens
// says, as an upstream that does not enforce it sends them.
var (
	cutOpenAIStream = []string{
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"w1 "}}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"w2 "}}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"w3 "}}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"w4 "}}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"w5 "}}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"w6"}}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
		`data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15}}`,
		`data: [DONE]`,
	}
	cutAnthropicStream = []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":30,\"output_tokens\":1}}}",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
		"event: ping\ndata: {\"type\":\"ping\"}",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"w1 \"}}",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"w2 \"}}",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"w3 \"}}",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"w4 \"}}",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"w5 \"}}",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"w6\"}}",
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}",
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":6}}",
		"event: message_stop\ndata: {\"type\":\"message_stop\"}",
	}
)

// TestCutStreams checks limits.cut_streams: a stream whose output passes
// the 3 output tokens reserved for it is ended, after whole events, with
// the API's error event (code stream_cut), recorded with outcome
// stream_cut and charged as an aborted stream: its input and one token
// per content event delivered. Without cut_streams, or without a limit
// counting tokens, the stream runs to its end and is charged the
// upstream's usage.
func TestCutStreams(t *testing.T) {
	const cutMsg = "the stream was ended by the gateway: its output passed the 3 tokens reserved for it under the key's limits"
	// The chat body asks for no usage: the gateway strips the usage chunk.
	chatEvents := slices.Concat(cutOpenAIStream[:8], cutOpenAIStream[9:])
	tests := []struct {
		name   string
		cut    bool
		limits apikey.Limits
		path   string
		// events are the upstream's events, one per chunk unless chunks
		// is set; with lockstep, the upstream sends each chunk after the
		// client has read an event.
		events   []string
		chunks   []string
		lockstep bool
		// want are the events the client receives.
		want []string
		// usage is the usage event; charged what the token budget is
		// charged, costCharged what the cost budget is (when the key has
		// them).
		usage       audit.Usage
		charged     int64
		costCharged int64
	}{
		// The role chunk and w1…w3 fit; w4 passes the reservation and is
		// the last event delivered.
		{name: "OpenAICut", cut: true, limits: apikey.Limits{TokensPerDay: 1000},
			path: "/v1/chat/completions", events: cutOpenAIStream, lockstep: true,
			want:  append(slices.Clone(cutOpenAIStream[:5]), string(provider.StreamCutEvent(provider.APIOpenAI, cutMsg))),
			usage: audit.Usage{Status: 200, InputTokens: estimate3, OutputTokens: 4, Outcome: "stream_cut"}, charged: estimate3 + 4},
		{name: "AnthropicCut", cut: true, limits: apikey.Limits{TokensPerDay: 1000},
			path: "/v1/messages", events: cutAnthropicStream, lockstep: true,
			want:  append(slices.Clone(cutAnthropicStream[:7]), string(provider.StreamCutEvent(provider.APIAnthropic, cutMsg))),
			usage: audit.Usage{Status: 200, InputTokens: 30, OutputTokens: 4, Outcome: "stream_cut"}, charged: 30 + 4},
		// w4 comes with the start of w5: w4 is passed on, not the part
		// of w5.
		{name: "PartialEventDropped", cut: true, limits: apikey.Limits{TokensPerDay: 1000},
			path: "/v1/chat/completions", events: cutOpenAIStream, lockstep: true,
			chunks: []string{cutOpenAIStream[0] + "\n\n", cutOpenAIStream[1] + "\n\n", cutOpenAIStream[2] + "\n\n",
				cutOpenAIStream[3] + "\n\n", cutOpenAIStream[4] + "\n\n" + cutOpenAIStream[5][:40], cutOpenAIStream[5][40:] + "\n\n"},
			want:  append(slices.Clone(cutOpenAIStream[:5]), string(provider.StreamCutEvent(provider.APIOpenAI, cutMsg))),
			usage: audit.Usage{Status: 200, InputTokens: estimate3, OutputTokens: 4, Outcome: "stream_cut"}, charged: estimate3 + 4},
		// w3 and w4 come in one chunk: both are passed on and charged.
		{name: "CutAfterWholeChunk", cut: true, limits: apikey.Limits{TokensPerDay: 1000},
			path: "/v1/chat/completions", events: cutOpenAIStream, lockstep: true,
			chunks: []string{cutOpenAIStream[0] + "\n\n", cutOpenAIStream[1] + "\n\n", cutOpenAIStream[2] + "\n\n",
				cutOpenAIStream[3] + "\n\n" + cutOpenAIStream[4] + "\n\n" + cutOpenAIStream[5][:40], cutOpenAIStream[5][40:] + "\n\n"},
			want:  append(slices.Clone(cutOpenAIStream[:5]), string(provider.StreamCutEvent(provider.APIOpenAI, cutMsg))),
			usage: audit.Usage{Status: 200, InputTokens: estimate3, OutputTokens: 4, Outcome: "stream_cut"}, charged: estimate3 + 4},
		{name: "CostLimitCuts", cut: true, limits: apikey.Limits{CostPerDay: 1_000_000},
			path: "/v1/chat/completions", events: cutOpenAIStream, lockstep: true,
			want: append(slices.Clone(cutOpenAIStream[:5]), string(provider.StreamCutEvent(provider.APIOpenAI, cutMsg))),
			// ⌈3·0.15⌉ + ⌈4·0.60⌉ micro-dollars.
			usage: audit.Usage{Status: 200, InputTokens: estimate3, OutputTokens: 4, Outcome: "stream_cut"}, costCharged: 1 + 3},
		{name: "OffOpenAI", cut: false, limits: apikey.Limits{TokensPerDay: 1000},
			path: "/v1/chat/completions", events: cutOpenAIStream, want: chatEvents,
			usage: audit.Usage{Status: 200, InputTokens: 9, OutputTokens: 6, UsageKnown: true, Outcome: "ok"}, charged: 15},
		{name: "OffAnthropic", cut: false, limits: apikey.Limits{TokensPerDay: 1000},
			path: "/v1/messages", events: cutAnthropicStream, want: cutAnthropicStream,
			usage: audit.Usage{Status: 200, InputTokens: 30, OutputTokens: 6, UsageKnown: true, Outcome: "ok"}, charged: 36},
		// Requests and concurrency do not count tokens: nothing to protect.
		{name: "NoTokenLimit", cut: true, limits: apikey.Limits{RequestsPerMinute: 60, Concurrent: 2},
			path: "/v1/chat/completions", events: cutOpenAIStream, want: chatEvents,
			usage: audit.Usage{Status: 200, InputTokens: 9, OutputTokens: 6, UsageKnown: true, Outcome: "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts envOptions
			if tt.cut {
				opts.config = "limits:\n  cut_streams: true\n"
			}
			e := newLimitEnv(t, proxy.LimiterConfig{Prices: map[string]proxy.Price{"*": miniPrice}}, opts)
			key, id := e.limitedKey(t, internalID, tt.limits)
			var ack chan struct{}
			if tt.lockstep {
				ack = make(chan struct{}, len(tt.events)+1)
			}
			chunks := tt.chunks
			if chunks == nil {
				for _, ev := range tt.events {
					chunks = append(chunks, ev+"\n\n")
				}
			}
			e.up.setHandler(lockstepHandler(chunks, ack))
			body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"abcdefgh"}],"max_tokens":3}`
			if tt.path == "/v1/messages" {
				body = `{"model":"claude-haiku-4-5","stream":true,"max_tokens":3,"messages":[{"role":"user","content":"abcdefgh"}]}`
			}
			resp := e.postStream(t, t.Context(), key, tt.path, body)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			var got []string
			r := bufio.NewReader(resp.Body)
			for {
				ev, err := readEventOrEOF(r)
				if err != nil {
					t.Fatalf("read event %d: %v", len(got), err)
				}
				if ev == "" {
					break
				}
				got = append(got, ev)
				if ack != nil {
					ack <- struct{}{}
				}
			}
			if rest, err := io.ReadAll(r); err != nil || strings.TrimSpace(string(rest)) != "" {
				t.Errorf("after the last event: %q, %v; want the end of the stream", rest, err)
			}
			want := make([]string, len(tt.want))
			for i, ev := range tt.want {
				want[i] = strings.TrimRight(ev, "\n")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events received (-want +got):\n%s", diff)
			}
			if tt.usage.Outcome == "stream_cut" && tt.path != "/v1/messages" && len(got) > 0 && !strings.Contains(got[len(got)-1], `"code":"stream_cut"`) {
				t.Errorf("the last event %q does not carry the code stream_cut", got[len(got)-1])
			}
			u := e.auditor.waitUsage(t)
			u.RequestID, u.KeyID, u.Latency = "", "", 0
			if diff := cmp.Diff(tt.usage, u); diff != "" {
				t.Errorf("usage event (-want +got):\n%s", diff)
			}
			if tt.charged > 0 {
				if got := 1000 - e.remainingOf(t, keyLimit(id, ratelimit.TokensPerDay, 1000)); got != tt.charged {
					t.Errorf("charged %d tokens, want %d", got, tt.charged)
				}
			}
			if tt.costCharged > 0 {
				if got := 1_000_000 - e.remainingOf(t, keyLimit(id, ratelimit.CostPerDay, 1_000_000)); got != tt.costCharged {
					t.Errorf("charged %d micro-dollars, want %d", got, tt.costCharged)
				}
			}
		})
	}
}

// readEventOrEOF reads one server-sent event, or "" at the end of the
// stream.
func readEventOrEOF(r *bufio.Reader) (string, error) {
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err == io.EOF && l == "" && len(lines) == 0 {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("%w (read so far %q)", err, lines)
		}
		l = strings.TrimSuffix(l, "\n")
		if l == "" {
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, l)
	}
}

// TestCutStreamsAtFirstPassingEvent checks that where a stream is cut does
// not depend on how the upstream's bytes are grouped into reads: however
// the events are split, the stream is ended after w4, the first event past
// the 3 tokens reserved, and charged as much. The upstream sends each chunk
// only once the client has received every byte of the one before, so the
// gateway never reads across the chunks' boundaries. The client asks for
// usage itself, so nothing holds bytes back on the way.
func TestCutStreamsAtFirstPassingEvent(t *testing.T) {
	const cutMsg = "the stream was ended by the gateway: its output passed the 3 tokens reserved for it under the key's limits"
	ev := cutOpenAIStream
	// crlf is the stream with "\r\n" line ends.
	crlf := func(i int) string { return ev[i] + "\r\n\r\n" }
	lf := func(i int) string { return ev[i] + "\n\n" }
	tests := []struct {
		name   string
		chunks []string
	}{
		{name: "EventPerRead", chunks: []string{lf(0), lf(1), lf(2), lf(3), lf(4), lf(5), lf(6), lf(7), lf(8), lf(9)}},
		{name: "OneRead", chunks: []string{strings.Join([]string{lf(0), lf(1), lf(2), lf(3), lf(4), lf(5), lf(6), lf(7), lf(8), lf(9)}, "")}},
		{name: "ThreeInOneRead", chunks: []string{lf(0) + lf(1) + lf(2), lf(3) + lf(4) + lf(5) + ev[6][:40], ev[6][40:] + "\n\n" + lf(7) + lf(8) + lf(9)}},
		{name: "PassingEventEndsInNextRead", chunks: []string{lf(0) + lf(1) + lf(2) + lf(3) + ev[4][:30], ev[4][30:] + "\n\n" + lf(5), lf(6) + lf(7) + lf(8) + lf(9)}},
		// w4's blank line is the first byte of the next read.
		{name: "BlankLineSplit", chunks: []string{lf(0) + lf(1) + lf(2) + lf(3) + ev[4] + "\n", "\n" + lf(5), lf(6) + lf(7) + lf(8) + lf(9)}},
		{name: "CRLF", chunks: []string{crlf(0) + crlf(1) + crlf(2), crlf(3) + crlf(4) + crlf(5), crlf(6) + crlf(7) + crlf(8) + crlf(9)}},
		{name: "CRLFBlankLineSplit", chunks: []string{crlf(0) + crlf(1) + crlf(2) + crlf(3) + ev[4] + "\r\n", "\r\n" + crlf(5), crlf(6) + crlf(7) + crlf(8) + crlf(9)}},
		// The split falls between the "\r" and "\n" of w4's last line.
		{name: "CRLFSplitInLineEnd", chunks: []string{crlf(0) + crlf(1) + crlf(2) + crlf(3) + ev[4] + "\r", "\n\r\n" + crlf(5), crlf(6) + crlf(7) + crlf(8) + crlf(9)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{config: "limits:\n  cut_streams: true\n"})
			key, id := e.limitedKey(t, internalID, apikey.Limits{TokensPerDay: 1000})
			ack := make(chan struct{}, len(tt.chunks)+1)
			e.up.setHandler(lockstepHandler(tt.chunks, ack))
			resp := e.postStream(t, t.Context(), key, "/v1/chat/completions",
				`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"abcdefgh"}],"max_tokens":3}`)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			// Acknowledge each chunk once all its bytes have arrived.
			var body []byte
			buf := make([]byte, 4096)
			sent, next := 0, 0
			for {
				n, err := resp.Body.Read(buf)
				body = append(body, buf[:n]...)
				for next < len(tt.chunks) && len(body) >= sent+len(tt.chunks[next]) {
					sent += len(tt.chunks[next])
					next++
					ack <- struct{}{}
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("read the stream: %v (read %q)", err, body)
				}
			}
			want := append(slices.Clone(ev[:5]), strings.TrimRight(string(provider.StreamCutEvent(provider.APIOpenAI, cutMsg)), "\n"))
			if diff := cmp.Diff(want, splitEvents(body)); diff != "" {
				t.Errorf("events received (-want +got):\n%s", diff)
			}
			u := e.auditor.waitUsage(t)
			if u.Outcome != "stream_cut" || u.InputTokens != estimate3 || u.OutputTokens != 4 {
				t.Errorf("usage event = %s with %d+%d tokens, want stream_cut with %d+4", u.Outcome, u.InputTokens, u.OutputTokens, estimate3)
			}
			if got := 1000 - e.remainingOf(t, keyLimit(id, ratelimit.TokensPerDay, 1000)); got != estimate3+4 {
				t.Errorf("charged %d tokens, want %d", got, estimate3+4)
			}
		})
	}
}
