package provider_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/scopegate/scopegate/internal/provider"
)

// These tests put the stream usage pieces together as the gateway does:
// the request is parsed and forwarded in canonical form to the mock
// upstream, whose stream is metered and then filtered on its way to the
// client.

// gatewayEndpoints maps the gateway's paths to endpoint names.
var gatewayEndpoints = map[string]string{
	"/v1/chat/completions": "chat.completions",
	"/v1/completions":      "completions",
	"/v1/responses":        "responses",
	"/v1/messages":         "messages",
}

// newTestGateway starts a minimal gateway in front of upstream, which
// sends each stream's meter to meters once the stream has been copied.
func newTestGateway(t *testing.T, upstream string, meters chan<- *provider.StreamMeter) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep, ok := provider.Named(gatewayEndpoints[r.URL.Path])
		body, err := io.ReadAll(r.Body)
		if !ok || err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		req, err := provider.ParseRequest(ep.API, ep.Name, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		up, err := http.NewRequestWithContext(r.Context(), http.MethodPost, upstream+ep.Path, bytes.NewReader(req.Canonical(req.Model)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := http.DefaultClient.Do(up)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		meter := provider.NewStreamMeter(ep.API, ep.Name)
		var src io.Reader = io.TeeReader(resp.Body, meter)
		if req.InjectsStreamUsage() {
			src = provider.NewUsageChunkFilter(src)
		}
		rc := http.NewResponseController(w)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				rc.Flush()
			}
			if err != nil {
				break
			}
		}
		meters <- meter
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStreamUsageThroughGateway checks that the gateway learns the usage
// of every OpenAI stream, while a client that did not ask for usage
// receives a stream without it, as if the gateway were not there.
func TestStreamUsageThroughGateway(t *testing.T) {
	mock := newMockServer(t, provider.MockOptions{})
	meters := make(chan *provider.StreamMeter, 1)
	gw := newTestGateway(t, mock.URL, meters)
	client := newOpenAIClient(gw)
	for _, includeUsage := range []bool{false, true} {
		name := map[bool]string{false: "ClientWithoutUsage", true: "ClientWithUsage"}[includeUsage]
		t.Run(name+"/Chat", func(t *testing.T) {
			params := chatParams()
			if includeUsage {
				params.StreamOptions.IncludeUsage = openai.Bool(true)
			}
			stream := client.Chat.Completions.NewStreaming(t.Context(), params)
			var text strings.Builder
			usageChunks := 0
			for stream.Next() {
				c := stream.Current()
				if len(c.Choices) == 0 {
					usageChunks++
				}
				for _, ch := range c.Choices {
					text.WriteString(ch.Delta.Content)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			checkGatewayStream(t, <-meters, text.String(), mockReply, usageChunks, includeUsage, mockInput, mockOutput)
		})
		t.Run(name+"/Completions", func(t *testing.T) {
			params := openai.CompletionNewParams{
				Model:  "gpt-3.5-turbo-instruct",
				Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say hi")},
			}
			if includeUsage {
				params.StreamOptions.IncludeUsage = openai.Bool(true)
			}
			stream := client.Completions.NewStreaming(t.Context(), params)
			var text strings.Builder
			usageChunks := 0
			for stream.Next() {
				c := stream.Current()
				if len(c.Choices) == 0 {
					usageChunks++
				}
				for _, ch := range c.Choices {
					text.WriteString(ch.Text)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			checkGatewayStream(t, <-meters, text.String(), "gpt-3.5-turbo-instruct says: Say hi", usageChunks, includeUsage, 2, 4)
		})
	}
}

// checkGatewayStream checks what the client and the gateway's meter saw
// of one stream.
func checkGatewayStream(t *testing.T, meter *provider.StreamMeter, text, wantText string, usageChunks int,
	includeUsage bool, wantIn, wantOut int64) {
	t.Helper()
	if text != wantText {
		t.Errorf("client received %q, want %q", text, wantText)
	}
	if want := map[bool]int{false: 0, true: 1}[includeUsage]; usageChunks != want {
		t.Errorf("client received %d usage chunks, want %d", usageChunks, want)
	}
	if got, want := meter.Usage(), (provider.Usage{InputTokens: wantIn, OutputTokens: wantOut, Known: true}); got != want {
		t.Errorf("meter Usage() = %+v, want %+v: the upstream did not send its usage", got, want)
	}
	if got := meter.Deltas(); got != wantOut {
		t.Errorf("meter Deltas() = %d, want the %d output tokens", got, wantOut)
	}
}

// TestStreamMeterDeltasMock checks, on the mock's streams of every API,
// that a stream cut anywhere has as many deltas as the words (the mock's
// tokens) it delivered, and a whole stream as many as the output tokens
// it reports.
func TestStreamMeterDeltasMock(t *testing.T) {
	mock := newMockServer(t, provider.MockOptions{})
	const long = `Tell me, in a few more words than usual, about the weather today`
	tests := []struct {
		name     string
		endpoint string
		body     string
	}{
		{"Chat", "chat.completions", `{"model":"mock-small","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"` + long + `"}]}`},
		{"ChatTruncated", "chat.completions", `{"model":"mock-small","stream":true,"stream_options":{"include_usage":true},"max_tokens":3,"messages":[{"role":"user","content":"` + long + `"}]}`},
		{"Completions", "completions", `{"model":"gpt-3.5-turbo-instruct","stream":true,"stream_options":{"include_usage":true},"prompt":"` + long + `"}`},
		{"Responses", "responses", `{"model":"gpt-4.1","stream":true,"input":"` + long + `"}`},
		{"ResponsesTruncated", "responses", `{"model":"gpt-4.1","stream":true,"max_output_tokens":2,"input":"` + long + `"}`},
		{"Messages", "messages", `{"model":"claude-sonnet-4-5","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"` + long + `"}]}`},
		{"MessagesShort", "messages", `{"model":"mock-large","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, _ := provider.Named(tt.endpoint)
			resp, err := http.Post(mock.URL+ep.Path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			stream, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("mock answered %d, %v: %s", resp.StatusCode, err, stream)
			}
			m := provider.NewStreamMeter(ep.API, ep.Name)
			m.Write(stream)
			u := m.Usage()
			if !u.Known || u.OutputTokens < 2 {
				t.Fatalf("Usage() = %+v, want the mock's usage", u)
			}
			if got := m.Deltas(); got != u.OutputTokens {
				t.Errorf("Deltas() = %d, want the %d output tokens reported", got, u.OutputTokens)
			}
			// Cut after each event, and in the middle of the next.
			events := strings.SplitAfter(string(stream), "\n\n")
			words, cut := 0, 0
			for i, ev := range events {
				for _, at := range []int{cut, cut + len(ev)/2} {
					m := provider.NewStreamMeter(ep.API, ep.Name)
					m.Write(stream[:at])
					if got := m.Deltas(); got != int64(words) {
						t.Fatalf("cut after %d events and %d bytes: Deltas() = %d, want the %d words delivered",
							i, at-cut, got, words)
					}
				}
				words += len(strings.Fields(mockEventText(t, ev)))
				cut += len(ev)
			}
			if int64(words) != u.OutputTokens {
				t.Errorf("the stream delivered %d words, its usage says %d output tokens", words, u.OutputTokens)
			}
		})
	}
}

// mockEventText returns the reply text the mock's event ev carries, in
// any API's shape.
func mockEventText(t *testing.T, ev string) string {
	t.Helper()
	var text strings.Builder
	for line := range strings.Lines(ev) {
		data, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var e struct {
			Type    string          `json:"type"`
			Delta   json.RawMessage `json:"delta"`
			Choices []struct {
				Text  string `json:"text"`
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		for _, c := range e.Choices {
			text.WriteString(c.Text + c.Delta.Content)
		}
		switch e.Type {
		case "response.output_text.delta":
			s, err := strconv.Unquote(string(e.Delta))
			if err != nil {
				t.Fatalf("event %q: %v", ev, err)
			}
			text.WriteString(s)
		case "content_block_delta":
			var d struct{ Text string }
			json.Unmarshal(e.Delta, &d)
			text.WriteString(d.Text)
		}
	}
	return text.String()
}
