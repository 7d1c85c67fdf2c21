package provider

import (
	"encoding/json"
	"testing"
)

// TestCanonicalCapped checks that the reserved output cap is forwarded
// when, and only when, the request names no maximum of its own, in the
// endpoint's own member.
func TestCanonicalCapped(t *testing.T) {
	tests := []struct {
		name, endpoint string
		api            API
		body           string
		cap            int64
		want           string
	}{
		{"Chat", "chat.completions", APIOpenAI, `{"model":"a","messages":[]}`, 4096,
			`{"model":"m","messages":[],"max_completion_tokens":4096}`},
		{"ChatStreamInjected", "chat.completions", APIOpenAI, `{"model":"a","stream":true}`, 100,
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":100}`},
		{"Completions", "completions", APIOpenAI, `{"model":"a","prompt":"x"}`, 7, `{"model":"m","prompt":"x","max_tokens":7}`},
		{"Responses", "responses", APIOpenAI, `{"model":"a","input":"x"}`, 7, `{"model":"m","input":"x","max_output_tokens":7}`},
		{"Messages", "messages", APIAnthropic, `{"model":"a","messages":[]}`, 7, `{"model":"m","messages":[],"max_tokens":7}`},
		{"OwnMaximumKept", "chat.completions", APIOpenAI, `{"model":"a","max_tokens":5}`, 4096, `{"model":"m","max_tokens":5}`},
		{"NullMaximumKept", "chat.completions", APIOpenAI, `{"model":"a","max_completion_tokens":null}`, 4096,
			`{"model":"m","max_completion_tokens":null}`},
		{"EmbeddingsUncapped", "embeddings", APIOpenAI, `{"model":"a","input":"x"}`, 4096, `{"model":"m","input":"x"}`},
		{"NoCap", "chat.completions", APIOpenAI, `{"model":"a"}`, 0, `{"model":"m"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequest(tt.api, tt.endpoint, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got := r.CanonicalCapped("m", tt.cap)
			if string(got) != tt.want {
				t.Errorf("CanonicalCapped = %s, want %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("CanonicalCapped = %s: not JSON", got)
			}
			// What is forwarded parses again, and names the cap it was given.
			again, err := ParseRequest(tt.api, tt.endpoint, got)
			if err != nil {
				t.Fatalf("forwarded body does not parse: %v", err)
			}
			if wantMax := r.MaxOutputTokens; r.CapsOutput() && tt.cap > 0 {
				if again.MaxOutputTokens != tt.cap {
					t.Errorf("forwarded maximum = %d, want %d", again.MaxOutputTokens, tt.cap)
				}
			} else if again.MaxOutputTokens != wantMax {
				t.Errorf("forwarded maximum = %d, want the request's %d", again.MaxOutputTokens, wantMax)
			}
		})
	}
}
