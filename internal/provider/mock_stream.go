package provider

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// mockSSE writes one server-sent event stream, applying the stream test
// controls: the delay between events and the hang after N events.
type mockSSE struct {
	c    *mockCall
	rc   *http.ResponseController
	sent int
}

// startStream sends the stream's headers, flushed at once so the client
// sees the response start even when the mock hangs before any event.
func (c *mockCall) startStream() *mockSSE {
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	if c.api == APIAnthropic {
		h.Set("Request-Id", c.requestID())
	} else {
		h.Set("X-Request-Id", c.requestID())
	}
	c.w.WriteHeader(http.StatusOK)
	s := &mockSSE{c: c, rc: http.NewResponseController(c.w)}
	_ = s.rc.Flush() // a failed flush shows up as a failed write below
	return s
}

// send writes one event whose data is v as JSON, named name unless name is
// empty (OpenAI chat and completions streams name no events). An error
// means the stream must end: the client went away, or the hang ended.
func (s *mockSSE) send(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mock: encode event: %v", err)) // the mock built v itself
	}
	return s.write(name, data)
}

// sendTyped writes an event named typ whose data is fields with a "type"
// of typ, first, as the Responses and Anthropic APIs send it.
func (s *mockSSE) sendTyped(typ string, fields map[string]any) error {
	rest, err := json.Marshal(fields)
	if err != nil {
		panic(fmt.Sprintf("mock: encode event: %v", err)) // the mock built fields itself
	}
	name, _ := json.Marshal(typ)
	data := append([]byte(`{"type":`), name...)
	if len(rest) > len("{}") {
		data = append(append(data, ','), rest[1:]...)
	} else {
		data = append(data, '}')
	}
	return s.write(typ, data)
}

// done writes OpenAI's end-of-stream sentinel.
func (s *mockSSE) done() error { return s.write("", []byte("[DONE]")) }

func (s *mockSSE) write(name string, data []byte) error {
	ctx := s.c.r.Context()
	if h := s.c.ctl.hangAfter; h >= 0 && s.sent >= h {
		// Hang: the stream stays open, silent, until the client gives up.
		<-ctx.Done()
		return ctx.Err()
	}
	if s.sent > 0 && !mockWait(ctx, s.c.ctl.chunkDelay) {
		return ctx.Err()
	}
	var b []byte
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	b = append(b, "data: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	if _, err := s.c.w.Write(b); err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	s.sent++
	return nil
}

type mockChatChunk struct {
	ID                string                `json:"id"`
	Object            string                `json:"object"`
	Created           int64                 `json:"created"`
	Model             string                `json:"model"`
	SystemFingerprint string                `json:"system_fingerprint"`
	Choices           []mockChatChunkChoice `json:"choices"`
	// Usage: see mockCompletion.Usage.
	Usage any `json:"usage,omitempty"`
}

type mockChatChunkChoice struct {
	Index        int           `json:"index"`
	Delta        mockChatDelta `json:"delta"`
	Logprobs     any           `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

type mockChatDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// mockNullUsage is the usage of every chunk but the last when a stream
// asked for usage, as OpenAI sends it.
func mockNullUsage() json.RawMessage { return json.RawMessage("null") }

// streamChat streams a chat completion: the role, the reply one word per
// chunk, the finish reason, the usage if asked for, and [DONE].
func (c *mockCall) streamChat(id string, turn mockTurn, includeUsage bool) {
	s := c.startStream()
	chunk := func(delta mockChatDelta, finish *string) mockChatChunk {
		ch := mockChatChunk{
			ID: id, Object: "chat.completion.chunk", Created: c.created, Model: turn.model,
			SystemFingerprint: mockSystemFingerprint,
			Choices:           []mockChatChunkChoice{{Delta: delta, FinishReason: finish}},
		}
		if includeUsage {
			ch.Usage = mockNullUsage()
		}
		return ch
	}
	empty := ""
	if s.send("", chunk(mockChatDelta{Role: "assistant", Content: &empty}, nil)) != nil {
		return
	}
	for _, part := range turn.chunks() {
		if s.send("", chunk(mockChatDelta{Content: &part}, nil)) != nil {
			return
		}
	}
	finish := turn.finishReason()
	if s.send("", chunk(mockChatDelta{}, &finish)) != nil {
		return
	}
	if includeUsage {
		last := chunk(mockChatDelta{}, nil)
		last.Choices = []mockChatChunkChoice{}
		last.Usage = turn.openAIUsage()
		if s.send("", last) != nil {
			return
		}
	}
	_ = s.done()
}

// streamCompletion streams a legacy completion: the reply one word per
// chunk, the finish reason, the usage if asked for, and [DONE].
func (c *mockCall) streamCompletion(id string, turn mockTurn, includeUsage bool) {
	s := c.startStream()
	chunk := func(text string, finish *string) mockCompletion {
		ch := mockCompletion{
			ID: id, Object: "text_completion", Created: c.created, Model: turn.model,
			SystemFingerprint: mockSystemFingerprint,
			Choices:           []mockCompletionChoice{{Text: text, FinishReason: finish}},
		}
		if includeUsage {
			ch.Usage = mockNullUsage()
		}
		return ch
	}
	for _, part := range turn.chunks() {
		if s.send("", chunk(part, nil)) != nil {
			return
		}
	}
	finish := turn.finishReason()
	if s.send("", chunk("", &finish)) != nil {
		return
	}
	if includeUsage {
		last := chunk("", nil)
		last.Choices = []mockCompletionChoice{}
		last.Usage = turn.openAIUsage()
		if s.send("", last) != nil {
			return
		}
	}
	_ = s.done()
}
