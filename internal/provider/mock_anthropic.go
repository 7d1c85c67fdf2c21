package provider

import (
	"encoding/json"
	"net/http"
)

// mockMessagesRequest is the part of an Anthropic messages request the mock
// reads.
type mockMessagesRequest struct {
	Model     string          `json:"model"`
	Messages  []mockMessage   `json:"messages"`
	System    json.RawMessage `json:"system"`
	MaxTokens *int            `json:"max_tokens"`
	Stream    bool            `json:"stream"`
}

type mockAnthropicMessage struct {
	ID           string             `json:"id"`
	Type         string             `json:"type"`
	Role         string             `json:"role"`
	Model        string             `json:"model"`
	Content      []mockTextBlock    `json:"content"`
	StopReason   *string            `json:"stop_reason"`
	StopSequence *string            `json:"stop_sequence"`
	Usage        mockAnthropicUsage `json:"usage"`
}

type mockTextBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type mockAnthropicUsage struct {
	InputTokens              int    `json:"input_tokens"`
	CacheCreationInputTokens int    `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int    `json:"cache_read_input_tokens"`
	OutputTokens             int    `json:"output_tokens"`
	ServiceTier              string `json:"service_tier"`
}

// stopReason is the Anthropic stop_reason of the turn.
func (t mockTurn) stopReason() string {
	if t.truncated {
		return "max_tokens"
	}
	return "end_turn"
}

func (m *mockServer) messages(c *mockCall) {
	var req mockMessagesRequest
	if !c.decode(&req) || !c.checkModel(req.Model) {
		return
	}
	switch {
	case req.Messages == nil:
		c.fail(http.StatusBadRequest, "", "", "messages: Field required")
		return
	case req.MaxTokens == nil:
		c.fail(http.StatusBadRequest, "", "", "max_tokens: Field required")
		return
	case !c.checkMaxTokens("max_tokens", req.MaxTokens):
		return
	}
	turn := newMockTurn(req.Model, mockWords(mockTexts(req.Messages, mockText(req.System))...),
		mockLastUser(req.Messages), req.MaxTokens)
	msg := mockAnthropicMessage{
		ID: c.id("msg_mock", 0), Type: "message", Role: "assistant", Model: req.Model,
		Content: []mockTextBlock{{Type: "text", Text: turn.reply}},
		Usage:   mockAnthropicUsage{InputTokens: turn.input, OutputTokens: turn.output, ServiceTier: "standard"},
	}
	stop := turn.stopReason()
	msg.StopReason = &stop
	if req.Stream {
		c.streamMessage(msg, turn)
		return
	}
	c.writeJSON(http.StatusOK, msg)
}

// streamMessage streams msg as the Messages API does: message_start with
// the input tokens, one text block in one delta per word, then
// message_delta with the stop reason and the cumulative output tokens, and
// message_stop.
func (c *mockCall) streamMessage(msg mockAnthropicMessage, turn mockTurn) {
	s := c.startStream()
	start := msg
	start.Content = []mockTextBlock{}
	start.StopReason = nil
	// The real API reports a first output token before any text; a client
	// must take message_delta's count as the total, not add the two.
	start.Usage.OutputTokens = 1
	send := func(typ string, fields map[string]any) bool {
		return s.sendTyped(typ, fields) == nil
	}
	ok := send("message_start", map[string]any{"message": start}) &&
		send("content_block_start", map[string]any{"index": 0, "content_block": mockTextBlock{Type: "text", Text: ""}}) &&
		send("ping", map[string]any{})
	for _, d := range turn.chunks() {
		ok = ok && send("content_block_delta", map[string]any{
			"index": 0, "delta": map[string]any{"type": "text_delta", "text": d},
		})
	}
	_ = ok &&
		send("content_block_stop", map[string]any{"index": 0}) &&
		send("message_delta", map[string]any{
			"delta": map[string]any{"stop_reason": *msg.StopReason, "stop_sequence": nil},
			"usage": map[string]any{"output_tokens": turn.output},
		}) &&
		send("message_stop", map[string]any{})
}
