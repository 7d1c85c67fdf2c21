package provider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// mockModels returns the models the mock lists. It serves more (see
// mockServes), but a list of every gpt-* id would be a lie.
func mockModels() []string { return []string{"mock-small", "mock-large", "mock-embed"} }

// mockServedPrefixes returns the model id prefixes the mock accepts besides
// its own models, so it can stand in for OpenAI and Anthropic in tests.
func mockServedPrefixes() []string { return []string{"gpt-", "claude-", "text-embedding-"} }

// mockErrorModelPrefix names models that answer an error: mock-error-503.
const mockErrorModelPrefix = "mock-error-"

// mockServes reports whether the mock answers requests for model.
func mockServes(model string) bool {
	if slices.Contains(mockModels(), model) {
		return true
	}
	for _, p := range mockServedPrefixes() {
		if strings.HasPrefix(model, p) && len(model) > len(p) {
			return true
		}
	}
	return false
}

// checkModel answers the request's model problems: 400 when there is no
// model, the requested status for mock-error-<status>, 404 for a model the
// mock does not serve. It reports whether the call may go on.
func (c *mockCall) checkModel(model string) bool {
	if model == "" {
		if c.api == APIAnthropic {
			c.fail(http.StatusBadRequest, "model", "", "model: Field required")
		} else {
			c.fail(http.StatusBadRequest, "model", "missing_required_parameter", "you must provide a model parameter")
		}
		return false
	}
	if s, ok := strings.CutPrefix(model, mockErrorModelPrefix); ok {
		if n, err := strconv.Atoi(s); err == nil && n >= 400 && n <= 599 {
			c.fail(n, "", "", fmt.Sprintf("mock error: status %d requested by model %s", n, model))
			return false
		}
	}
	if !mockServes(model) {
		if c.api == APIAnthropic {
			c.fail(http.StatusNotFound, "", "", "model: "+model)
		} else {
			c.fail(http.StatusNotFound, "model", "model_not_found",
				fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model))
		}
		return false
	}
	return true
}

// checkMaxTokens answers 400 when a max-tokens field is present but below 1,
// and reports whether the call may go on.
func (c *mockCall) checkMaxTokens(field string, v *int) bool {
	if v != nil && *v < 1 {
		c.fail(http.StatusBadRequest, field, "", fmt.Sprintf("%s: must be at least 1, got %d", field, *v))
		return false
	}
	return true
}

// mockMessage is a chat message in either API: a role and content that is
// a string or an array of parts.
type mockMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// mockText returns the text of a content value: the string itself, or the
// "text" of each part of an array (OpenAI text/input_text/output_text parts,
// Anthropic text blocks), joined by spaces. Anything else has no text.
func mockText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " ")
}

// mockTurn is what the mock derives from a request: the reply and the usage
// that goes with it, the same whether the answer is streamed or not.
type mockTurn struct {
	model  string
	reply  string
	input  int
	output int
	// truncated reports that the reply was cut to the request's max tokens.
	truncated bool
}

// mockReplyPrefixRunes is how much of the last user message the reply
// echoes.
const mockReplyPrefixRunes = 40

// newMockTurn derives the answer to a request for model whose text has
// input words (or token ids), whose last user message is lastUser, and which
// allows at most maxTokens output words (nil: no limit).
func newMockTurn(model string, input int, lastUser string, maxTokens *int) mockTurn {
	t := mockTurn{model: model, input: max(input, 1)}

	// Collapsing whitespace keeps the reply on one line and makes its words
	// exactly what a stream splits it into.
	echo := []rune(strings.Join(strings.Fields(lastUser), " "))
	if len(echo) > mockReplyPrefixRunes {
		echo = echo[:mockReplyPrefixRunes]
	}
	said := strings.TrimSpace(string(echo))
	if said == "" {
		said = "hello"
	}
	words := strings.Fields(model + " says: " + said)
	if maxTokens != nil && *maxTokens < len(words) {
		words = words[:*maxTokens]
		t.truncated = true
	}
	t.reply = strings.Join(words, " ")
	t.output = len(words)
	return t
}

// chunks splits the reply into stream deltas of one word each, with the
// space after it, so their concatenation is exactly the reply. A stream
// thus has one content event per output token, as providers send about
// one token per event; the gateway charges an aborted stream by its
// content events (see StreamMeter.Deltas).
func (t mockTurn) chunks() []string {
	words := strings.Split(t.reply, " ")
	for i := range len(words) - 1 {
		words[i] += " "
	}
	return words
}

// mockLastUser returns the text of the last message with role "user".
func mockLastUser(msgs []mockMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return mockText(msgs[i].Content)
		}
	}
	return ""
}

// mockTexts returns the text of every message, after the leading extras
// (system prompts, instructions).
func mockTexts(msgs []mockMessage, extra ...string) []string {
	out := append([]string(nil), extra...)
	for _, m := range msgs {
		out = append(out, mockText(m.Content))
	}
	return out
}

// mockWords counts the whitespace-separated words of texts: the mock's
// stand-in for a tokenizer.
func mockWords(texts ...string) int {
	n := 0
	for _, s := range texts {
		n += len(strings.Fields(s))
	}
	return n
}
