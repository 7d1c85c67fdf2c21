package provider_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/scopegate/scopegate/internal/provider"
)

// TestWriteErrorSDKs reads WriteError's answers through the official SDKs'
// error types, as clients of the gateway will.
func TestWriteErrorSDKs(t *testing.T) {
	const msg = `key sgk_live_x lacks scope "chatbot:gpt-4o"`
	e := provider.ErrorBody{Status: http.StatusForbidden, Code: "missing_scope", Message: msg, RequiredScope: "chatbot:gpt-4o"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := provider.APIOpenAI
		if r.URL.Path == "/v1/messages" {
			api = provider.APIAnthropic
		}
		provider.WriteError(w, api, e)
	}))
	t.Cleanup(srv.Close)

	t.Run("OpenAI", func(t *testing.T) {
		client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("x"), option.WithMaxRetries(0))
		_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		apiErr, ok := errors.AsType[*openai.Error](err)
		if !ok {
			t.Fatalf("error %T %v, want *openai.Error", err, err)
		}
		// openai-go's Error() shows only the status; the message is a field.
		if apiErr.StatusCode != 403 || apiErr.Message != msg || apiErr.Code != "missing_scope" ||
			apiErr.Type != "permission_error" || apiErr.Param != "" {
			t.Errorf("openai.Error = {%d %q %q %q %q}", apiErr.StatusCode, apiErr.Message, apiErr.Code, apiErr.Type, apiErr.Param)
		}
		if !strings.Contains(apiErr.RawJSON(), `"required_scope":"chatbot:gpt-4o"`) {
			t.Errorf("RawJSON() = %s, want required_scope", apiErr.RawJSON())
		}
	})
	t.Run("Anthropic", func(t *testing.T) {
		client := anthropic.NewClient(aoption.WithBaseURL(srv.URL), aoption.WithAPIKey("x"), aoption.WithMaxRetries(0))
		_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "claude-sonnet-4-20250514", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
		apiErr, ok := errors.AsType[*anthropic.Error](err)
		if !ok {
			t.Fatalf("error %T %v, want *anthropic.Error", err, err)
		}
		if apiErr.StatusCode != 403 || apiErr.Message != msg || apiErr.Type() != "permission_error" {
			t.Errorf("anthropic.Error = {%d %q %q}", apiErr.StatusCode, apiErr.Message, apiErr.Type())
		}
		if !strings.Contains(err.Error(), `lacks scope \"chatbot:gpt-4o\"`) {
			t.Errorf("Error() = %q, want the message in it", err.Error())
		}
	})
}
