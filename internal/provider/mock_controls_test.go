package provider_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/scopegate/scopegate/internal/provider"
)

func TestMockErrors(t *testing.T) {
	tests := []struct {
		name       string
		header     string // x-mock-status, if any
		model      string
		wantStatus int
		wantMsg    string
	}{
		{"StatusHeader", "503", "mock-small", 503, "status 503 requested by X-Mock-Status"},
		{"StatusHeaderClientError", "422", "mock-small", 422, "status 422"},
		{"ErrorModel", "", "mock-error-429", 429, "status 429 requested by model mock-error-429"},
		{"UnknownModel", "", "llama-3", 404, "llama-3"},
		{"NoModel", "", "", 400, "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMockServer(t, provider.MockOptions{})
			var oopts []option.RequestOption
			var aopts []aoption.RequestOption
			if tt.header != "" {
				oopts = append(oopts, option.WithHeader(provider.MockHeaderStatus, tt.header))
				aopts = append(aopts, aoption.WithHeader(provider.MockHeaderStatus, tt.header))
			}

			chat := chatParams()
			chat.Model = tt.model
			oc := newOpenAIClient(srv, oopts...)
			_, err := oc.Chat.Completions.New(t.Context(), chat)
			oerr, ok := errors.AsType[*openai.Error](err)
			if !ok {
				t.Fatalf("OpenAI: error %v, want an *openai.Error", err)
			}
			if oerr.StatusCode != tt.wantStatus || !strings.Contains(oerr.Message, tt.wantMsg) || oerr.Type == "" {
				t.Errorf("OpenAI: %d %q (type %q), want %d containing %q", oerr.StatusCode, oerr.Message, oerr.Type, tt.wantStatus, tt.wantMsg)
			}

			msg := messageParams()
			msg.Model = tt.model
			ac := newAnthropicClient(srv, aopts...)
			stream := ac.Messages.NewStreaming(t.Context(), msg)
			for stream.Next() {
				t.Errorf("Anthropic: got event %s, want an error", stream.Current().Type)
			}
			aerr, ok := errors.AsType[*anthropic.Error](stream.Err())
			if !ok {
				t.Fatalf("Anthropic: error %v, want an *anthropic.Error", stream.Err())
			}
			if aerr.StatusCode != tt.wantStatus || !strings.Contains(aerr.Message, tt.wantMsg) {
				t.Errorf("Anthropic: %d %q, want %d containing %q", aerr.StatusCode, aerr.Message, tt.wantStatus, tt.wantMsg)
			}
		})
	}
}

// logRecorder is a slog handler that keeps the mock's log lines, so tests
// can wait for a request to finish on the server side.
type logRecorder struct {
	mu      sync.Mutex
	records []map[string]any
	logged  chan struct{}
}

func newLogRecorder() *logRecorder { return &logRecorder{logged: make(chan struct{}, 100)} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := map[string]any{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { rec[a.Key] = a.Value.Any(); return true })
	l.mu.Lock()
	l.records = append(l.records, rec)
	l.mu.Unlock()
	l.logged <- struct{}{}
	return nil
}

// next waits for the server to finish one more request and returns its log
// line.
func (l *logRecorder) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case <-l.logged:
	case <-t.Context().Done():
		t.Fatal("the mock never finished the request")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records[len(l.records)-1]
}

func TestMockLatency(t *testing.T) {
	t.Run("Waits", func(t *testing.T) {
		srv := newMockServer(t, provider.MockOptions{})
		client := newOpenAIClient(srv, option.WithHeader(provider.MockHeaderLatency, "30ms"))
		start := time.Now()
		if _, err := client.Chat.Completions.New(t.Context(), chatParams()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Errorf("answered after %v, want at least 30ms", d)
		}
	})
	t.Run("ClientCancels", func(t *testing.T) {
		logs := newLogRecorder()
		srv := newMockServer(t, provider.MockOptions{Logger: slog.New(logs)})
		client := newAnthropicClient(srv, aoption.WithHeader(provider.MockHeaderLatency, "5m"))
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := client.Messages.New(ctx, messageParams())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want the context's deadline", err)
		}
		// The handler returns long before its 5 minutes are up.
		if rec := logs.next(t); rec["client_aborted"] != true {
			t.Errorf("log line %v, want client_aborted", rec)
		}
	})
}

func TestMockHangAfter(t *testing.T) {
	for _, n := range []int{0, 2} {
		t.Run("After"+strconv.Itoa(n), func(t *testing.T) {
			logs := newLogRecorder()
			srv := newMockServer(t, provider.MockOptions{Logger: slog.New(logs)})
			client := newOpenAIClient(srv, option.WithHeader(provider.MockHeaderHangAfter, strconv.Itoa(n)))
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			params := chatParams()
			params.StreamOptions.IncludeUsage = openai.Bool(true)
			stream := client.Chat.Completions.NewStreaming(ctx, params)
			got := 0
			for stream.Next() {
				got++
			}
			if got != n {
				t.Errorf("%d events before the hang, want %d", got, n)
			}
			if !errors.Is(stream.Err(), context.DeadlineExceeded) {
				t.Errorf("stream error %v, want the context's deadline", stream.Err())
			}
			if rec := logs.next(t); rec["status"] != int64(200) || rec["client_aborted"] != true {
				t.Errorf("log line %v, want status 200, client_aborted", rec)
			}
		})
	}
}

func TestMockChunkDelay(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	client := newAnthropicClient(srv, aoption.WithHeader(provider.MockHeaderChunkDelay, "10ms"))
	start := time.Now()
	stream := client.Messages.NewStreaming(t.Context(), messageParams())
	var msg anthropic.Message
	events := 0
	for stream.Next() {
		events++
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if stream.Err() != nil || messageText(&msg) != mockReply {
		t.Fatalf("stream: %q, %v", messageText(&msg), stream.Err())
	}
	// The SDK hides the ping, which is one more event and one more delay.
	if d, want := time.Since(start), time.Duration(events)*10*time.Millisecond; d < want {
		t.Errorf("%d events took %v, want at least %v", events, d, want)
	}
}

// post sends body to the mock's path with headers (name, value pairs) and
// returns the status and body.
func post(t *testing.T, url, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestMockRequestValidation(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	tests := []struct {
		name, path, body string
		headers          []string
		wantStatus       int
		wantBody         string
	}{
		{"NotJSON", "/v1/chat/completions", "model=mock-small", nil, 400,
			`{"error":{"message":"the request body is not a valid JSON object","type":"invalid_request_error","param":null,"code":null}}`},
		{"NotJSONAnthropic", "/v1/messages", "[]", nil, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"the request body is not a valid JSON object"},"request_id":"req_mock`},
		{"NoMessages", "/v1/chat/completions", `{"model":"mock-small"}`, nil, 400, `"param":"messages"`},
		{"NoMaxTokens", "/v1/messages", `{"model":"mock-small","messages":[]}`, nil, 400, "max_tokens: Field required"},
		{"ZeroMaxTokens", "/v1/chat/completions", `{"model":"mock-small","messages":[],"max_tokens":0}`, nil, 400, "at least 1"},
		{"NoInput", "/v1/embeddings", `{"model":"mock-embed"}`, nil, 400, `"param":"input"`},
		{"BadLatency", "/v1/embeddings", `{}`, []string{provider.MockHeaderLatency, "soon"}, 400, "X-Mock-Latency"},
		{"BadStatus", "/v1/messages", `{}`, []string{provider.MockHeaderStatus, "200"}, 400, "X-Mock-Status"},
		{"BadHangAfter", "/v1/responses", `{}`, []string{provider.MockHeaderHangAfter, "-1"}, 400, "X-Mock-Hang-After"},
		{"UnknownPath", "/v1/audio/speech", `{}`, nil, 404, `"code":"unknown_url"`},
		{"UnknownModelAnthropic", "/v1/messages", `{"model":"gpt4","max_tokens":5,"messages":[]}`, nil, 404, `"type":"not_found_error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, srv.URL+tt.path, tt.body, tt.headers...)
			if status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("POST %s %s = %d %s, want %d containing %s", tt.path, tt.body, status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// TestMockWireFormat checks the raw SSE framing the SDKs are lenient about.
func TestMockWireFormat(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	_, chat := post(t, srv.URL+"/v1/chat/completions",
		`{"model":"mock-small","stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi there"}]}]}`)
	lines := sseLines(chat)
	if lines[len(lines)-1] != "data: [DONE]" {
		t.Errorf("chat stream ends %q, want data: [DONE]", lines[len(lines)-1])
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "data: ") || strings.Contains(l, `"usage"`) {
			t.Errorf("chat stream line %q: want data lines only, no usage unless asked", l)
		}
	}
	_, msgs := post(t, srv.URL+"/v1/messages",
		`{"model":"mock-small","stream":true,"max_tokens":9,"messages":[{"role":"user","content":"hi there"}]}`)
	lines = sseLines(msgs)
	if lines[0] != "event: message_start" || lines[len(lines)-2] != "event: message_stop" {
		t.Errorf("messages stream = %q", lines)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "data: ") && !strings.HasPrefix(l, `data: {"type":"`) {
			t.Errorf("messages stream line %q: want the type first, as Anthropic sends it", l)
		}
	}
	var start struct {
		Message struct {
			Usage struct {
				InputTokens  int `json:"input_tokens"`
				OutputTokens int `json:"output_tokens"`
			} `json:"usage"`
		} `json:"message"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &start); err != nil || start.Message.Usage.InputTokens != 2 || start.Message.Usage.OutputTokens != 1 {
		t.Errorf("message_start %q: %v", lines[1], err)
	}
}

func sseLines(body string) []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

func TestMockLogsNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })
	srv := newMockServer(t, provider.MockOptions{Logger: slog.New(slog.NewJSONHandler(w, nil))})
	status, _ := post(t, srv.URL+"/v1/chat/completions",
		`{"model":"mock-small","messages":[{"role":"user","content":"canary-prompt"}]}`,
		"Authorization", "Bearer sk-canary-key")
	srv.Close() // waits for the handler, and so for its log line
	mu.Lock()
	defer mu.Unlock()
	log := buf.String()
	if status != 200 || !strings.Contains(log, `"path":"/v1/chat/completions"`) || !strings.Contains(log, `"status":200`) {
		t.Errorf("status %d, log %s", status, log)
	}
	if strings.Contains(log, "canary") {
		t.Errorf("log shows the request's body or credential: %s", log)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
