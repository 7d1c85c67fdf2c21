package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// MockOptions configures the built-in mock upstream returned by [NewMock].
type MockOptions struct {
	// Now is the clock stamped into "created" fields, so tests can compare
	// whole bodies. Nil means time.Now.
	Now func() time.Time
	// Logger receives one line per request: method, path, status and
	// duration, never a body or a header value. Nil discards.
	Logger *slog.Logger
}

// mockMaxBody caps a request body. The mock is a test double, not a
// production server, but it must not be the component that runs out of
// memory when a test sends something silly.
const mockMaxBody = 32 << 20

// NewMock returns the built-in mock upstream: a handler that speaks enough
// of the OpenAI and Anthropic APIs for the official SDKs to use it, with
// deterministic answers, so the gateway can be run and tested offline.
//
// Routes, as a provider serves them, so a gateway forwards to the mock's
// base URL plus the same path:
//
//	POST /v1/chat/completions   OpenAI chat completions, streamed or not
//	POST /v1/completions        OpenAI legacy completions, streamed or not
//	POST /v1/responses          OpenAI Responses, streamed or not
//	POST /v1/embeddings         OpenAI embeddings (float or base64)
//	GET  /v1/models             OpenAI model list (the mock-* models)
//	GET  /v1/models/{model}     OpenAI model retrieve
//	POST /v1/messages           Anthropic messages, streamed or not
//
// Models: mock-small, mock-large and mock-embed, and any model id that
// starts with "gpt-", "claude-" or "text-embedding-", so the mock can stand
// in for a real provider in tests. Any served model works on any route. A
// model named mock-error-<status> (400–599) is answered with that status;
// any other model is a 404 in the API's error shape.
//
// Answers are a function of the request: the reply is
// "<model> says: <the first 40 characters of the last user message>", cut
// to max_tokens (or max_completion_tokens, max_output_tokens) words when the
// request asks for fewer, with finish reason "length" (OpenAI), stop reason
// "max_tokens" (Anthropic) or status "incomplete" (Responses). Usage counts
// words, not tokens: input tokens are the whitespace-separated words of all
// the request's text (system, instructions and every message), at least 1;
// output tokens are the words of the reply. A streamed answer reports the
// same usage as the same request not streamed. IDs are derived from a hash
// of the method, path and body, so the same request gets the same IDs.
// Embeddings are unit vectors of 8 floats (or "dimensions") derived from a
// hash of the model and each input.
//
// Streams carry the reply one word (one output token) per content event.
// OpenAI chat completions and completions send "data:" chunks (the role
// first for chat, then the reply, then the finish reason; then, if
// stream_options.include_usage is true, a chunk with empty choices and the
// usage; then "data: [DONE]"). Responses sends named events from
// response.created to response.completed, whose response carries the usage.
// Anthropic sends message_start (with input_tokens, and output_tokens 1 as
// the real API does), content_block_start, a ping, content_block_delta
// events, content_block_stop, message_delta (stop reason and the cumulative
// output_tokens) and message_stop. Every event is flushed as it is written.
//
// Request headers steer it in tests (see [MockHeaderLatency] and the other
// MockHeader constants):
//
//	x-mock-latency: 50ms       wait this long before answering; a client
//	                           that goes away ends the wait
//	x-mock-status: 503         answer this status (400–599) with an error
//	                           body shaped like the route's API
//	x-mock-hang-after: 2       in a stream, send 2 events (0 sends only the
//	                           headers), then block until the client goes away
//	x-mock-chunk-delay: 5ms    wait this long between stream events
//
// Durations are Go durations, at most 5m. A malformed control is a 400.
// Official SDKs retry 408, 409, 429 and 5xx answers by default, so tests of
// error answers should turn retries off.
//
// Requests are validated lightly: a body that is not a JSON object or has
// no model is a 400. Credentials are accepted whatever they are and never
// recorded, and bodies are never logged.
func NewMock(opts MockOptions) http.Handler {
	m := &mockServer{now: opts.Now, logger: opts.Logger}
	if m.now == nil {
		m.now = time.Now
	}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/chat/completions", m.endpoint(APIOpenAI, m.chatCompletions))
	mux.Handle("POST /v1/completions", m.endpoint(APIOpenAI, m.completions))
	mux.Handle("POST /v1/responses", m.endpoint(APIOpenAI, m.responses))
	mux.Handle("POST /v1/embeddings", m.endpoint(APIOpenAI, m.embeddings))
	mux.Handle("GET /v1/models", m.endpoint(APIOpenAI, m.listModels))
	mux.Handle("GET /v1/models/{model}", m.endpoint(APIOpenAI, m.getModel))
	mux.Handle("POST /v1/messages", m.endpoint(APIAnthropic, m.messages))
	mux.HandleFunc("/", m.notFound)
	return m.logged(mux)
}

// mockServer answers the mock upstream's requests. It holds no state beyond
// its options, so one value serves any number of requests at once.
type mockServer struct {
	now    func() time.Time
	logger *slog.Logger
}

// mockCall is one request in progress: what every route needs to answer it.
type mockCall struct {
	w   http.ResponseWriter
	r   *http.Request
	api API
	ctl mockControls
	// body is the request body as received (empty for GET).
	body []byte
	// digest is the SHA-256 of method, path and body: the seed of every ID.
	digest [sha256.Size]byte
	// created is the request's time, in Unix seconds.
	created int64
}

// endpoint wraps a route with what every route does first: read the test
// controls and the body, wait for the requested latency, and answer a
// forced status.
func (m *mockServer) endpoint(api API, serve func(*mockCall)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &mockCall{w: w, r: r, api: api}
		ctl, err := parseMockControls(r.Header)
		if err != nil {
			c.fail(http.StatusBadRequest, "", "", err.Error())
			return
		}
		c.ctl = ctl
		// The body is read before any wait: net/http notices a client that
		// goes away, and cancels the request's context, only once the body
		// has been read.
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mockMaxBody))
			if err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					c.fail(http.StatusRequestEntityTooLarge, "", "", "request body too large")
					return
				}
				c.fail(http.StatusBadRequest, "", "", "could not read the request body")
				return
			}
			c.body = body
		}
		h := sha256.New()
		fmt.Fprintf(h, "%s %s\n", r.Method, r.URL.Path)
		h.Write(c.body)
		h.Sum(c.digest[:0])
		if !mockWait(r.Context(), ctl.latency) {
			return // the client went away; there is no one to answer
		}
		if ctl.status != 0 {
			c.fail(ctl.status, "", "", fmt.Sprintf("mock error: status %d requested by %s", ctl.status, MockHeaderStatus))
			return
		}
		c.created = m.now().Unix()
		serve(c)
	})
}

// decode parses the body into v. It answers 400 and reports false when the
// body is not a JSON object.
func (c *mockCall) decode(v any) bool {
	if len(c.body) == 0 || c.body[0] != '{' || json.Unmarshal(c.body, v) != nil {
		c.fail(http.StatusBadRequest, "", "", "the request body is not a valid JSON object")
		return false
	}
	return true
}

// id returns a deterministic ID: prefix followed by 24 hex digits of the
// request's digest. part (0 or 1) picks which digits, so one request can
// name two different things.
func (c *mockCall) id(prefix string, part int) string {
	h := hex.EncodeToString(c.digest[:])
	return prefix + h[part*24:(part+1)*24]
}

// requestID is the provider-style request id sent in a header and in
// Anthropic error bodies.
func (c *mockCall) requestID() string { return c.id("req_mock", 1) }

// writeJSON answers status with v as the body.
func (c *mockCall) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value the mock answers is built from strings and numbers
		// it made itself, so this is a bug in the mock.
		panic(fmt.Sprintf("mock: encode answer: %v", err))
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	if c.api == APIAnthropic {
		h.Set("Request-Id", c.requestID())
	} else {
		h.Set("X-Request-Id", c.requestID())
	}
	c.w.WriteHeader(status)
	c.w.Write(append(b, '\n'))
}

// notFound answers paths the mock does not serve, in the shape of the API
// the path belongs to.
func (m *mockServer) notFound(w http.ResponseWriter, r *http.Request) {
	c := &mockCall{w: w, r: r, api: APIOpenAI}
	if strings.HasPrefix(r.URL.Path, "/v1/messages") {
		c.api = APIAnthropic
	}
	c.fail(http.StatusNotFound, "", "unknown_url", fmt.Sprintf("mock upstream: no route for %s %s", r.Method, r.URL.Path))
}
