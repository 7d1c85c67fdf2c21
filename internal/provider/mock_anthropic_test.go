package provider_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"

	"github.com/scopegate/scopegate/internal/provider"
)

// newAnthropicClient returns an anthropic-sdk-go client for srv, retries
// off.
func newAnthropicClient(srv *httptest.Server, opts ...aoption.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]aoption.RequestOption{
		aoption.WithBaseURL(srv.URL), aoption.WithAPIKey("x"), aoption.WithMaxRetries(0),
	}, opts...)...)
}

func messageParams() anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "mock-small",
		MaxTokens: 100,
		System:    []anthropic.TextBlockParam{{Text: mockSystem}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(mockUser))},
	}
}

// messageText is the text of msg's text blocks.
func messageText(msg *anthropic.Message) string {
	var b strings.Builder
	for _, c := range msg.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

func TestMockMessages(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	client := newAnthropicClient(srv)
	got, err := client.Messages.New(t.Context(), messageParams())
	if err != nil {
		t.Fatalf("Messages.New: %v", err)
	}
	if messageText(got) != mockReply || got.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("text, stop = %q, %q; want %q, end_turn", messageText(got), got.StopReason, mockReply)
	}
	if got.Usage.InputTokens != mockInput || got.Usage.OutputTokens != mockOutput {
		t.Errorf("usage = %d in, %d out; want %d, %d", got.Usage.InputTokens, got.Usage.OutputTokens, mockInput, mockOutput)
	}
	if !strings.HasPrefix(got.ID, "msg_mock") || got.Model != "mock-small" {
		t.Errorf("id, model = %q, %q", got.ID, got.Model)
	}
}

func TestMockMessagesStream(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	client := newAnthropicClient(srv)
	stream := client.Messages.NewStreaming(t.Context(), messageParams())
	var msg anthropic.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("Accumulate(%s): %v", ev.RawJSON(), err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(types) < 6 || types[0] != "message_start" || types[1] != "content_block_start" ||
		strings.Join(types[len(types)-3:], ",") != "content_block_stop,message_delta,message_stop" {
		t.Errorf("events = %v", types)
	}
	if messageText(&msg) != mockReply || msg.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("accumulated text, stop = %q, %q; want %q, end_turn", messageText(&msg), msg.StopReason, mockReply)
	}
	if msg.Usage.InputTokens != mockInput || msg.Usage.OutputTokens != mockOutput {
		t.Errorf("accumulated usage = %d in, %d out; want %d, %d", msg.Usage.InputTokens, msg.Usage.OutputTokens, mockInput, mockOutput)
	}
}

// TestMockMaxTokens checks that every API cuts the reply at the request's
// limit and says so, streamed or not, with output usage equal to the limit.
func TestMockMaxTokens(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	const want = "mock-small says: Hello"

	oa := newOpenAIClient(srv)
	chat := chatParams()
	chat.MaxCompletionTokens = openai.Int(3)
	cc, err := oa.Chat.Completions.New(t.Context(), chat)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].Message.Content != want || cc.Choices[0].FinishReason != "length" || cc.Usage.CompletionTokens != 3 {
		t.Errorf("chat: %q, %q, %d out; want %q, length, 3", cc.Choices[0].Message.Content, cc.Choices[0].FinishReason, cc.Usage.CompletionTokens, want)
	}

	rp := responsesParams()
	rp.MaxOutputTokens = openai.Int(3)
	stream := oa.Responses.NewStreaming(t.Context(), rp)
	last := ""
	for stream.Next() {
		ev := stream.Current()
		last = ev.Type
		if ev.Type == "response.incomplete" {
			r := ev.Response
			if r.OutputText() != want || r.IncompleteDetails.Reason != "max_output_tokens" || r.Usage.OutputTokens != 3 {
				t.Errorf("responses: %q, %q, %d out", r.OutputText(), r.IncompleteDetails.Reason, r.Usage.OutputTokens)
			}
		}
	}
	if stream.Err() != nil || last != "response.incomplete" {
		t.Errorf("responses stream ended with %q, %v; want response.incomplete", last, stream.Err())
	}

	mp := messageParams()
	mp.MaxTokens = 3
	ac := newAnthropicClient(srv)
	msg, err := ac.Messages.New(t.Context(), mp)
	if err != nil {
		t.Fatal(err)
	}
	if messageText(msg) != want || msg.StopReason != anthropic.StopReasonMaxTokens || msg.Usage.OutputTokens != 3 {
		t.Errorf("messages: %q, %q, %d out; want %q, max_tokens, 3", messageText(msg), msg.StopReason, msg.Usage.OutputTokens, want)
	}
}

func TestMockLongMessage(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	p := messageParams()
	p.Model = "claude-sonnet-4-5"
	p.Messages = []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(
		"The  quick brown\nfox jumps over the lazy dog and keeps on running"))}
	ac := newAnthropicClient(srv)
	msg, err := ac.Messages.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	// Whitespace collapses, then 40 characters are echoed.
	if want := "claude-sonnet-4-5 says: The quick brown fox jumps over the lazy"; messageText(msg) != want {
		t.Errorf("reply = %q, want %q", messageText(msg), want)
	}
	if msg.Usage.InputTokens != 3+13 {
		t.Errorf("input tokens = %d, want 16", msg.Usage.InputTokens)
	}
}
