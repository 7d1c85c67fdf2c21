package provider

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

func TestWriteError(t *testing.T) {
	tests := []struct {
		name string
		api  API
		e    ErrorBody
	}{
		{"openai_missing_scope", APIOpenAI, ErrorBody{Status: 403, Code: "missing_scope",
			Message: `key sgk_live_abc lacks scope "chatbot:gpt-4o" for model "gpt-4o"`, RequiredScope: "chatbot:gpt-4o"}},
		{"openai_bad_request", APIOpenAI, ErrorBody{Status: 400, Code: "invalid_request", Param: "model",
			Message: `model "gpt-4o\u200b" contains U+200B at byte 6; model ids are printable ASCII`}},
		{"openai_rate_limited", APIOpenAI, ErrorBody{Status: 429, Code: "rate_limited", Message: "too many requests; retry in 2s"}},
		{"openai_given_type", APIOpenAI, ErrorBody{Status: 503, Type: "audit_unavailable", Message: "the audit log is unavailable <try again>"}},
		{"http_not_found", APIHTTP, ErrorBody{Status: 404, Code: "unknown_dataset", Message: `no feature serves dataset "x"`}},
		{"anthropic_missing_scope", APIAnthropic, ErrorBody{Status: 403, Code: "missing_scope",
			Message: `key lacks scope "code-generation:claude-sonnet-4-20250514"`, RequiredScope: "code-generation:claude-sonnet-4-20250514"}},
		{"anthropic_mapped_type", APIAnthropic, ErrorBody{Status: 429, Type: "rate_limit_exceeded", Message: "too many requests"}},
		{"anthropic_too_large", APIAnthropic, ErrorBody{Status: 413, Message: "request body is larger than 10 MiB"}},
		{"anthropic_overloaded", APIAnthropic, ErrorBody{Status: 503, Type: "server_error", Message: "service unavailable"}},
		{"bad_status", APIOpenAI, ErrorBody{Message: "no status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, tt.api, tt.e)
			got := fmt.Sprintf("%d\nContent-Type: %s\n\n%s", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes())
			path := filepath.Join("testdata", "error_"+tt.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("WriteError mismatch (-%s +got):\n%s", path, diff)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Errorf("body is not valid JSON: %s", w.Body.Bytes())
			}
		})
	}
}

// TestErrorSDKShape decodes the bodies the way the official SDKs do:
// openai-go takes the "error" member into a struct of message, type,
// code and param; anthropic-sdk-go reads error.type and error.message.
func TestErrorSDKShape(t *testing.T) {
	e := ErrorBody{Status: 403, Code: "missing_scope", Message: "denied", RequiredScope: "chatbot:gpt-4o"}
	var o struct {
		Error struct {
			Message, Type, RequiredScope string
			Code, Param                  *string
		}
	}
	if err := json.Unmarshal(EncodeError(APIOpenAI, e), &o); err != nil {
		t.Fatal(err)
	}
	if o.Error.Message != "denied" || o.Error.Type != "permission_error" || *o.Error.Code != "missing_scope" ||
		o.Error.Param != nil {
		t.Errorf("OpenAI shape = %+v", o.Error)
	}
	var a struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(EncodeError(APIAnthropic, e), &a); err != nil {
		t.Fatal(err)
	}
	if a.Type != "error" || a.Error.Type != "permission_error" || a.Error.Message != "denied" {
		t.Errorf("Anthropic shape = %+v", a)
	}
}

func TestErrorType(t *testing.T) {
	tests := []struct {
		status          int
		openai, anthrop string
	}{
		{400, "invalid_request_error", "invalid_request_error"},
		{401, "authentication_error", "authentication_error"},
		{402, "invalid_request_error", "billing_error"},
		{403, "permission_error", "permission_error"},
		{404, "not_found_error", "not_found_error"},
		{405, "invalid_request_error", "invalid_request_error"},
		{413, "invalid_request_error", "request_too_large"},
		{429, "rate_limit_error", "rate_limit_error"},
		{499, "invalid_request_error", "invalid_request_error"},
		{500, "server_error", "api_error"},
		{502, "server_error", "api_error"},
		{503, "server_error", "overloaded_error"},
		{504, "server_error", "timeout_error"},
		{529, "server_error", "overloaded_error"},
	}
	for _, tt := range tests {
		if got := ErrorType(tt.status, APIOpenAI); got != tt.openai {
			t.Errorf("ErrorType(%d, openai) = %q, want %q", tt.status, got, tt.openai)
		}
		if got := ErrorType(tt.status, APIHTTP); got != tt.openai {
			t.Errorf("ErrorType(%d, http) = %q, want %q", tt.status, got, tt.openai)
		}
		if got := ErrorType(tt.status, APIAnthropic); got != tt.anthrop {
			t.Errorf("ErrorType(%d, anthropic) = %q, want %q", tt.status, got, tt.anthrop)
		}
	}
}
