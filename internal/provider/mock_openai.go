package provider

import (
	"encoding/json"
	"net/http"
)

// This file holds the mock's OpenAI chat completions and legacy completions
// routes, answered whole; mock_stream.go streams them.

// mockStreamOptions is OpenAI's stream_options.
type mockStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// mockChatRequest is the part of a chat completions request the mock reads.
type mockChatRequest struct {
	Model               string            `json:"model"`
	Messages            []mockMessage     `json:"messages"`
	Stream              bool              `json:"stream"`
	StreamOptions       mockStreamOptions `json:"stream_options"`
	MaxTokens           *int              `json:"max_tokens"`
	MaxCompletionTokens *int              `json:"max_completion_tokens"`
}

// mockChatUsage is OpenAI's usage object, shared by chat completions and
// completions.
type mockChatUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	} `json:"completion_tokens_details"`
}

func (t mockTurn) openAIUsage() *mockChatUsage {
	return &mockChatUsage{PromptTokens: t.input, CompletionTokens: t.output, TotalTokens: t.input + t.output}
}

// finishReason is the OpenAI finish_reason of the turn.
func (t mockTurn) finishReason() string {
	if t.truncated {
		return "length"
	}
	return "stop"
}

// mockSystemFingerprint marks every OpenAI answer as the mock's.
const mockSystemFingerprint = "fp_scopegate_mock"

type mockChatCompletion struct {
	ID                string           `json:"id"`
	Object            string           `json:"object"`
	Created           int64            `json:"created"`
	Model             string           `json:"model"`
	Choices           []mockChatChoice `json:"choices"`
	Usage             *mockChatUsage   `json:"usage"`
	ServiceTier       string           `json:"service_tier"`
	SystemFingerprint string           `json:"system_fingerprint"`
}

type mockChatChoice struct {
	Index        int             `json:"index"`
	Message      mockChatMessage `json:"message"`
	Logprobs     any             `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type mockChatMessage struct {
	Role        string `json:"role"`
	Content     string `json:"content"`
	Refusal     any    `json:"refusal"`
	Annotations []any  `json:"annotations"`
}

func (m *mockServer) chatCompletions(c *mockCall) {
	var req mockChatRequest
	if !c.decode(&req) || !c.checkModel(req.Model) {
		return
	}
	if req.Messages == nil {
		c.fail(http.StatusBadRequest, "messages", "missing_required_parameter", "Missing required parameter: 'messages'.")
		return
	}
	maxTokens := req.MaxCompletionTokens
	if maxTokens == nil {
		maxTokens = req.MaxTokens
	}
	if !c.checkMaxTokens("max_completion_tokens", maxTokens) {
		return
	}
	turn := newMockTurn(req.Model, mockWords(mockTexts(req.Messages)...), mockLastUser(req.Messages), maxTokens)
	id := c.id("chatcmpl-mock", 0)
	if req.Stream {
		c.streamChat(id, turn, req.StreamOptions.IncludeUsage)
		return
	}
	c.writeJSON(http.StatusOK, mockChatCompletion{
		ID: id, Object: "chat.completion", Created: c.created, Model: req.Model,
		Choices: []mockChatChoice{{
			Message:      mockChatMessage{Role: "assistant", Content: turn.reply, Annotations: []any{}},
			FinishReason: turn.finishReason(),
		}},
		Usage:             turn.openAIUsage(),
		ServiceTier:       "default",
		SystemFingerprint: mockSystemFingerprint,
	})
}

// mockCompletionRequest is the part of a legacy completions request the
// mock reads.
type mockCompletionRequest struct {
	Model         string            `json:"model"`
	Prompt        json.RawMessage   `json:"prompt"`
	Stream        bool              `json:"stream"`
	StreamOptions mockStreamOptions `json:"stream_options"`
	MaxTokens     *int              `json:"max_tokens"`
}

type mockCompletion struct {
	ID                string                 `json:"id"`
	Object            string                 `json:"object"`
	Created           int64                  `json:"created"`
	Model             string                 `json:"model"`
	SystemFingerprint string                 `json:"system_fingerprint"`
	Choices           []mockCompletionChoice `json:"choices"`
	// Usage is a *mockChatUsage, JSON null, or nil to leave it out: a
	// stream that asked for usage carries null on every chunk but the last.
	Usage any `json:"usage,omitempty"`
}

type mockCompletionChoice struct {
	Text         string  `json:"text"`
	Index        int     `json:"index"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

func (m *mockServer) completions(c *mockCall) {
	var req mockCompletionRequest
	if !c.decode(&req) || !c.checkModel(req.Model) || !c.checkMaxTokens("max_tokens", req.MaxTokens) {
		return
	}
	// A missing prompt is allowed: OpenAI then completes from the start of
	// a document.
	prompts, _ := mockInputs(req.Prompt)
	last := ""
	if len(prompts) > 0 {
		last = prompts[len(prompts)-1].text
	}
	turn := newMockTurn(req.Model, mockInputCount(prompts), last, req.MaxTokens)
	id := c.id("cmpl-mock", 0)
	if req.Stream {
		c.streamCompletion(id, turn, req.StreamOptions.IncludeUsage)
		return
	}
	finish := turn.finishReason()
	c.writeJSON(http.StatusOK, mockCompletion{
		ID: id, Object: "text_completion", Created: c.created, Model: req.Model,
		SystemFingerprint: mockSystemFingerprint,
		Choices:           []mockCompletionChoice{{Text: turn.reply, FinishReason: &finish}},
		Usage:             turn.openAIUsage(),
	})
}

// mockInput is one prompt or embeddings input.
type mockInput struct {
	// text is the input's text, empty for token ids.
	text string
	// tokens is the number of token ids, 0 for text.
	tokens int
	// label is what an embedding is derived from: the text, or the token
	// ids' JSON, so each input has a distinct, stable label.
	label string
}

// mockInputs reads a prompt or embeddings input: a string, an array of
// strings, an array of token ids or an array of such arrays. It reports
// false for anything else, including a missing value.
func mockInputs(raw json.RawMessage) ([]mockInput, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []mockInput{{text: s, label: s}}, true
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil && ss != nil {
		in := make([]mockInput, len(ss))
		for i, s := range ss {
			in[i] = mockInput{text: s, label: s}
		}
		return in, true
	}
	var ids []int
	if json.Unmarshal(raw, &ids) == nil && ids != nil {
		b, _ := json.Marshal(ids)
		return []mockInput{{tokens: len(ids), label: string(b)}}, true
	}
	var idss [][]int
	if json.Unmarshal(raw, &idss) == nil && idss != nil {
		in := make([]mockInput, len(idss))
		for i, ids := range idss {
			b, _ := json.Marshal(ids)
			in[i] = mockInput{tokens: len(ids), label: string(b)}
		}
		return in, true
	}
	return nil, false
}

// mockInputCount is the input usage of inputs: words of text plus token ids.
func mockInputCount(inputs []mockInput) int {
	n := 0
	for _, in := range inputs {
		n += mockWords(in.text) + in.tokens
	}
	return n
}
