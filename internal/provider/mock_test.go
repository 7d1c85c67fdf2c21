package provider_test

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/scopegate/scopegate/internal/provider"
)

// These tests drive the mock upstream with the official SDKs: if an SDK
// parses its answers, so will the clients the gateway serves.

func mockNow() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }

// newMockServer starts the mock upstream on a test server.
func newMockServer(t *testing.T, opts provider.MockOptions) *httptest.Server {
	t.Helper()
	if opts.Now == nil {
		opts.Now = mockNow
	}
	srv := httptest.NewServer(provider.NewMock(opts))
	t.Cleanup(srv.Close)
	return srv
}

// newOpenAIClient returns an openai-go client for srv. Retries are off so
// an error answer is seen once.
func newOpenAIClient(srv *httptest.Server, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(srv.URL + "/v1/"), option.WithAPIKey("x"), option.WithMaxRetries(0),
	}, opts...)...)
}

// The conversation most tests send, and what the mock answers to it.
const (
	mockSystem = "You are terse."
	mockUser   = "Hello there, how are you today?"
	// mockReply is "<model> says: <the user message>", 8 words.
	mockReply  = "mock-small says: Hello there, how are you today?"
	mockInput  = 9 // 3 words of system + 6 of user
	mockOutput = 8
)

func chatParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "mock-small",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(mockSystem), openai.UserMessage(mockUser)},
	}
}

func TestMockChatCompletion(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	client := newOpenAIClient(srv)
	got, err := client.Chat.Completions.New(t.Context(), chatParams())
	if err != nil {
		t.Fatalf("Chat.Completions.New: %v", err)
	}
	if len(got.Choices) != 1 || got.Choices[0].Message.Content != mockReply {
		t.Fatalf("choices = %+v, want one with content %q", got.Choices, mockReply)
	}
	if fr := got.Choices[0].FinishReason; fr != "stop" {
		t.Errorf("finish_reason = %q, want stop", fr)
	}
	u := got.Usage
	if u.PromptTokens != mockInput || u.CompletionTokens != mockOutput || u.TotalTokens != mockInput+mockOutput {
		t.Errorf("usage = %d/%d/%d, want %d/%d/%d", u.PromptTokens, u.CompletionTokens, u.TotalTokens,
			mockInput, mockOutput, mockInput+mockOutput)
	}
	if got.Created != mockNow().Unix() || got.Model != "mock-small" || !strings.HasPrefix(got.ID, "chatcmpl-mock") {
		t.Errorf("id, created, model = %q, %d, %q", got.ID, got.Created, got.Model)
	}

	again, err := client.Chat.Completions.New(t.Context(), chatParams())
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != got.ID {
		t.Errorf("same request: id %q then %q, want equal", got.ID, again.ID)
	}
	other := chatParams()
	other.Messages = append(other.Messages, openai.UserMessage("And now?"))
	third, err := client.Chat.Completions.New(t.Context(), other)
	if err != nil {
		t.Fatal(err)
	}
	if third.ID == got.ID {
		t.Errorf("different requests got the same id %q", got.ID)
	}
	if want := "mock-small says: And now?"; third.Choices[0].Message.Content != want {
		t.Errorf("reply to the last user message = %q, want %q", third.Choices[0].Message.Content, want)
	}
}

func TestMockChatCompletionStream(t *testing.T) {
	for _, includeUsage := range []bool{true, false} {
		name := map[bool]string{true: "IncludeUsage", false: "NoUsage"}[includeUsage]
		t.Run(name, func(t *testing.T) {
			srv := newMockServer(t, provider.MockOptions{})
			client := newOpenAIClient(srv)
			params := chatParams()
			if includeUsage {
				params.StreamOptions.IncludeUsage = openai.Bool(true)
			}
			stream := client.Chat.Completions.NewStreaming(t.Context(), params)
			var acc openai.ChatCompletionAccumulator
			chunks, contentChunks := 0, 0
			for stream.Next() {
				chunk := stream.Current()
				if !acc.AddChunk(chunk) {
					t.Fatalf("AddChunk(%s) = false", chunk.RawJSON())
				}
				chunks++
				if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
					contentChunks++
				}
				if len(chunk.Choices) == 0 && !includeUsage {
					t.Errorf("usage chunk without include_usage: %s", chunk.RawJSON())
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if contentChunks < 2 {
				t.Errorf("%d content chunks, want the reply in several", contentChunks)
			}
			if got := acc.Choices[0].Message.Content; got != mockReply {
				t.Errorf("accumulated content = %q, want %q", got, mockReply)
			}
			if got := acc.Choices[0].FinishReason; got != "stop" {
				t.Errorf("finish_reason = %q, want stop", got)
			}
			wantIn, wantOut := int64(mockInput), int64(mockOutput)
			if !includeUsage {
				wantIn, wantOut = 0, 0
			}
			if acc.Usage.PromptTokens != wantIn || acc.Usage.CompletionTokens != wantOut {
				t.Errorf("accumulated usage = %d/%d, want %d/%d", acc.Usage.PromptTokens, acc.Usage.CompletionTokens, wantIn, wantOut)
			}
		})
	}
}

func TestMockCompletions(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	client := newOpenAIClient(srv)
	params := openai.CompletionNewParams{
		Model:  "gpt-3.5-turbo-instruct",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say hi")},
	}
	want := "gpt-3.5-turbo-instruct says: Say hi"
	got, err := client.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatalf("Completions.New: %v", err)
	}
	if len(got.Choices) != 1 || got.Choices[0].Text != want {
		t.Fatalf("choices = %+v, want text %q", got.Choices, want)
	}
	if got.Usage.PromptTokens != 2 || got.Usage.CompletionTokens != 4 {
		t.Errorf("usage = %d/%d, want 2/4", got.Usage.PromptTokens, got.Usage.CompletionTokens)
	}

	params.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := client.Completions.NewStreaming(t.Context(), params)
	var text strings.Builder
	var usage openai.CompletionUsage
	finish := ""
	for stream.Next() {
		c := stream.Current()
		for _, ch := range c.Choices {
			text.WriteString(ch.Text)
			if ch.FinishReason != "" {
				finish = string(ch.FinishReason)
			}
		}
		if c.JSON.Usage.Valid() {
			usage = c.Usage
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if text.String() != want || finish != "stop" {
		t.Errorf("streamed text, finish = %q, %q; want %q, stop", text.String(), finish, want)
	}
	if usage.PromptTokens != got.Usage.PromptTokens || usage.CompletionTokens != got.Usage.CompletionTokens {
		t.Errorf("streamed usage = %+v, want as unstreamed %+v", usage, got.Usage)
	}
}

func responsesParams() responses.ResponseNewParams {
	return responses.ResponseNewParams{
		Model:        "mock-small",
		Instructions: openai.String(mockSystem),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String(mockUser)},
	}
}

func TestMockResponses(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	client := newOpenAIClient(srv)
	got, err := client.Responses.New(t.Context(), responsesParams())
	if err != nil {
		t.Fatalf("Responses.New: %v", err)
	}
	if got.OutputText() != mockReply || got.Status != "completed" {
		t.Errorf("output, status = %q, %q; want %q, completed", got.OutputText(), got.Status, mockReply)
	}
	if got.Usage.InputTokens != mockInput || got.Usage.OutputTokens != mockOutput || got.Usage.TotalTokens != mockInput+mockOutput {
		t.Errorf("usage = %+v, want %d in, %d out", got.Usage, mockInput, mockOutput)
	}
	if !strings.HasPrefix(got.ID, "resp_mock") || got.CreatedAt != float64(mockNow().Unix()) {
		t.Errorf("id, created_at = %q, %v", got.ID, got.CreatedAt)
	}
}

func TestMockResponsesStream(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	client := newOpenAIClient(srv)
	stream := client.Responses.NewStreaming(t.Context(), responsesParams())
	var types []string
	var deltas strings.Builder
	var done string
	var final responses.Response
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != int64(len(types)) {
			t.Errorf("event %d (%s) has sequence_number %d", len(types), ev.Type, ev.SequenceNumber)
		}
		types = append(types, ev.Type)
		switch e := ev.AsAny().(type) {
		case responses.ResponseTextDeltaEvent:
			deltas.WriteString(e.Delta)
		case responses.ResponseTextDoneEvent:
			done = e.Text
		case responses.ResponseCompletedEvent:
			final = e.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	wantOrder := []string{"response.created", "response.in_progress", "response.output_item.added",
		"response.content_part.added", "response.output_text.delta"}
	for i, w := range wantOrder {
		if i >= len(types) || types[i] != w {
			t.Fatalf("events = %v, want them to start %v", types, wantOrder)
		}
	}
	wantEnd := []string{"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if len(types) < len(wantEnd) || strings.Join(types[len(types)-len(wantEnd):], ",") != strings.Join(wantEnd, ",") {
		t.Fatalf("events = %v, want them to end %v", types, wantEnd)
	}
	if deltas.String() != mockReply || done != mockReply || final.OutputText() != mockReply {
		t.Errorf("deltas %q, done %q, final %q; want %q", deltas.String(), done, final.OutputText(), mockReply)
	}
	if final.Usage.InputTokens != mockInput || final.Usage.OutputTokens != mockOutput {
		t.Errorf("response.completed usage = %+v, want %d in, %d out", final.Usage, mockInput, mockOutput)
	}
}

func TestMockEmbeddings(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	client := newOpenAIClient(srv)
	inputs := []string{"the first text", "another one", "the first text"}
	got, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Model: "mock-embed",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
	})
	if err != nil {
		t.Fatalf("Embeddings.New: %v", err)
	}
	if len(got.Data) != len(inputs) {
		t.Fatalf("%d embeddings, want %d", len(got.Data), len(inputs))
	}
	for i, e := range got.Data {
		if e.Index != int64(i) || len(e.Embedding) != 8 {
			t.Errorf("data[%d]: index %d, %d floats; want %d, 8", i, e.Index, len(e.Embedding), i)
		}
		var norm float64
		for _, x := range e.Embedding {
			norm += x * x
		}
		if math.Abs(norm-1) > 1e-5 {
			t.Errorf("data[%d] has squared norm %v, want 1", i, norm)
		}
	}
	if !equalVectors(got.Data[0].Embedding, got.Data[2].Embedding) || equalVectors(got.Data[0].Embedding, got.Data[1].Embedding) {
		t.Errorf("want equal inputs to get equal vectors and different inputs different ones: %v", got.Data)
	}
	if got.Usage.PromptTokens != 8 || got.Usage.TotalTokens != 8 {
		t.Errorf("usage = %+v, want 8 words", got.Usage)
	}

	b64, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Model:          "mock-embed",
		Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("the first text")},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
		Dimensions:     openai.Int(8),
	})
	if err != nil {
		t.Fatalf("Embeddings.New base64: %v", err)
	}
	// The float answer went through JSON's shortest float32 text, the
	// base64 one carries the float32 bits: they agree as float32s.
	for i, x := range b64.Data[0].Embedding {
		if float32(x) != float32(got.Data[0].Embedding[i]) {
			t.Fatalf("base64 embedding %v, want %v", b64.Data[0].Embedding, got.Data[0].Embedding)
		}
	}

	wide, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Model:      "text-embedding-3-small",
		Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2, 3}},
		Dimensions: openai.Int(20),
	})
	if err != nil {
		t.Fatalf("Embeddings.New tokens: %v", err)
	}
	if len(wide.Data[0].Embedding) != 20 || wide.Usage.PromptTokens != 3 {
		t.Errorf("token input: %d floats, %d tokens; want 20, 3", len(wide.Data[0].Embedding), wide.Usage.PromptTokens)
	}
}

func equalVectors(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMockModels(t *testing.T) {
	srv := newMockServer(t, provider.MockOptions{})
	client := newOpenAIClient(srv)
	page, err := client.Models.List(t.Context())
	if err != nil {
		t.Fatalf("Models.List: %v", err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "mock-small,mock-large,mock-embed" {
		t.Errorf("models = %v", ids)
	}
	m, err := client.Models.Get(t.Context(), "gpt-4o-mini")
	if err != nil || m.ID != "gpt-4o-mini" {
		t.Errorf("Models.Get(gpt-4o-mini) = %+v, %v", m, err)
	}
	if _, err := client.Models.Get(t.Context(), "llama-3"); err == nil {
		t.Errorf("Models.Get(llama-3) succeeded, want 404")
	}
}
