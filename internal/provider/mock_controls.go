package provider

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// The request headers that steer the mock upstream in tests. See [NewMock].
const (
	// MockHeaderLatency is a Go duration (e.g. "50ms") the mock waits before
	// answering. A client that goes away ends the wait.
	MockHeaderLatency = "X-Mock-Latency"
	// MockHeaderStatus is an HTTP status (400–599) the mock answers with an
	// error body shaped like the route's API, before looking at the body.
	MockHeaderStatus = "X-Mock-Status"
	// MockHeaderHangAfter is a count of stream events the mock sends before
	// it stops and blocks until the client goes away. 0 sends the response
	// headers only; a stream with fewer events ends normally. It applies to
	// streamed answers only. OpenAI's "data: [DONE]" and Anthropic's ping
	// count as events.
	MockHeaderHangAfter = "X-Mock-Hang-After"
	// MockHeaderChunkDelay is a Go duration the mock waits between stream
	// events.
	MockHeaderChunkDelay = "X-Mock-Chunk-Delay"
)

// mockMaxDelay bounds the durations a request may ask for, so a typo cannot
// park a connection for hours.
const mockMaxDelay = 5 * time.Minute

// mockControls are the test controls read from one request's headers.
type mockControls struct {
	latency    time.Duration
	chunkDelay time.Duration
	// status is a forced error status, or 0.
	status int
	// hangAfter is the number of stream events to send before hanging, or
	// -1 for no hang.
	hangAfter int
}

// parseMockControls reads the controls from h. The error message names the
// header, since it is shown to the test that sent it.
func parseMockControls(h http.Header) (mockControls, error) {
	ctl := mockControls{hangAfter: -1}
	var err error
	if ctl.latency, err = mockDuration(h, MockHeaderLatency); err != nil {
		return ctl, err
	}
	if ctl.chunkDelay, err = mockDuration(h, MockHeaderChunkDelay); err != nil {
		return ctl, err
	}
	if v := h.Get(MockHeaderStatus); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 400 || n > 599 {
			return ctl, fmt.Errorf("%s: want a status from 400 to 599, got %q", MockHeaderStatus, v)
		}
		ctl.status = n
	}
	if v := h.Get(MockHeaderHangAfter); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return ctl, fmt.Errorf("%s: want a count of events (0 or more), got %q", MockHeaderHangAfter, v)
		}
		ctl.hangAfter = n
	}
	return ctl, nil
}

func mockDuration(h http.Header, name string) (time.Duration, error) {
	v := h.Get(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > mockMaxDelay {
		return 0, fmt.Errorf("%s: want a duration from 0 to %v such as 50ms, got %q", name, mockMaxDelay, v)
	}
	return d, nil
}

// mockWait waits for d, or until ctx is done. It reports whether the full
// wait elapsed.
func mockWait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fail answers status with an error body in the shape of c's API, so the
// official SDKs read status and message from their error types. param and
// code are optional (OpenAI only).
func (c *mockCall) fail(status int, param, code, message string) {
	if c.api == APIAnthropic {
		e := mockAnthropicError{Type: "error", RequestID: c.requestID()}
		e.Error.Type = mockAnthropicErrorType(status)
		e.Error.Message = message
		c.writeJSON(status, e)
		return
	}
	if status == http.StatusTooManyRequests && code == "" {
		code = "rate_limit_exceeded"
	}
	var e mockOpenAIError
	e.Error.Message = message
	e.Error.Type = mockOpenAIErrorType(status)
	e.Error.Param = mockNullable(param)
	e.Error.Code = mockNullable(code)
	c.writeJSON(status, e)
}

// mockOpenAIError is OpenAI's error body.
type mockOpenAIError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   any    `json:"param"`
		Code    any    `json:"code"`
	} `json:"error"`
}

// mockAnthropicError is Anthropic's error body.
type mockAnthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// mockNullable is s, or JSON null when s is empty, as the OpenAI API
// answers absent error fields.
func mockNullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// mockOpenAIErrorType is the error.type OpenAI uses for a status.
func mockOpenAIErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusTooManyRequests:
		return "requests"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

// mockAnthropicErrorType is the error.type Anthropic uses for a status.
func mockAnthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// Log attribute keys.
const (
	mockLogMethod   = "method"
	mockLogPath     = "path"
	mockLogStatus   = "status"
	mockLogDuration = "duration"
	mockLogAborted  = "client_aborted"
)

// logged logs one line per request. It records the status, never a body or
// a header value: bodies hold prompts and headers hold credentials.
func (m *mockServer) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &mockRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		m.logger.LogAttrs(r.Context(), slog.LevelInfo, "mock request",
			slog.String(mockLogMethod, r.Method),
			slog.String(mockLogPath, r.URL.Path),
			slog.Int(mockLogStatus, rec.status),
			slog.Duration(mockLogDuration, time.Since(start)),
			slog.Bool(mockLogAborted, r.Context().Err() != nil))
	})
}

// mockRecorder remembers the status written through it. Unwrap lets
// http.ResponseController reach the real writer's Flush.
type mockRecorder struct {
	http.ResponseWriter
	status int
}

func (r *mockRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *mockRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *mockRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
