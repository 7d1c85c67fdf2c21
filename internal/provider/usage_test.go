package provider

import (
	"strings"
	"testing"
)

func TestResponseUsage(t *testing.T) {
	tests := []struct {
		name     string
		api      API
		endpoint string
		body     string
		want     Usage
	}{
		{"Chat", APIOpenAI, "chat.completions", `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini",
			"choices":[{"index":0,"message":{"role":"assistant","content":"{\"usage\":1}"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0},
			"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_1"}`, Usage{19, 10, true}},
		{"Completions", APIOpenAI, "completions", `{"object":"text_completion","choices":[{"text":"a"}],
			"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`, Usage{5, 7, true}},
		{"Embeddings", APIOpenAI, "embeddings", `{"object":"list","data":[{"object":"embedding","index":0,
			"embedding":[0.0023,-0.0093,1e-5]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`,
			Usage{8, 0, true}},
		{"Responses", APIOpenAI, "responses", `{"id":"resp_1","object":"response","status":"completed",
			"output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],
			"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":10},"output_tokens":87,
			"output_tokens_details":{"reasoning_tokens":20},"total_tokens":123}}`, Usage{36, 87, true}},
		{"ChatCompatibleNames", APIOpenAI, "chat.completions", `{"usage":{"input_tokens":3,"output_tokens":4}}`, Usage{3, 4, true}},
		{"ResponsesCompatibleNames", APIOpenAI, "responses", `{"usage":{"prompt_tokens":3,"completion_tokens":4}}`, Usage{3, 4, true}},
		{"Anthropic", APIAnthropic, "messages", `{"id":"msg_1","type":"message","role":"assistant",
			"content":[{"type":"text","text":"Hello"}],"model":"claude-sonnet-4-20250514","stop_reason":"end_turn",
			"usage":{"input_tokens":2095,"cache_creation_input_tokens":100,"cache_read_input_tokens":50,"output_tokens":503,
			"server_tool_use":{"web_search_requests":1}}}`, Usage{2245, 503, true}},
		{"AnthropicNullCache", APIAnthropic, "messages", `{"usage":{"input_tokens":12,"cache_creation_input_tokens":null,"output_tokens":6}}`,
			Usage{12, 6, true}},
		{"UsageAfterLargeOutput", APIOpenAI, "chat.completions", `{"choices":[{"message":{"content":"` + strings.Repeat("x", 1<<20) +
			`"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}`, Usage{1, 2, true}},
		{"NoUsage", APIOpenAI, "chat.completions", `{"id":"x","choices":[]}`, Usage{}},
		{"NullUsage", APIOpenAI, "chat.completions", `{"usage":null}`, Usage{}},
		{"UsageNotObject", APIOpenAI, "chat.completions", `{"usage":[1,2]}`, Usage{}},
		{"MissingCompletion", APIOpenAI, "chat.completions", `{"usage":{"prompt_tokens":1}}`, Usage{}},
		{"AnthropicMissingOutput", APIAnthropic, "messages", `{"usage":{"input_tokens":1}}`, Usage{}},
		{"Negative", APIOpenAI, "chat.completions", `{"usage":{"prompt_tokens":-1,"completion_tokens":2}}`, Usage{}},
		{"Fraction", APIOpenAI, "chat.completions", `{"usage":{"prompt_tokens":1.5,"completion_tokens":2}}`, Usage{}},
		{"String", APIAnthropic, "messages", `{"usage":{"input_tokens":"1","output_tokens":2}}`, Usage{}},
		{"NestedUsageOnly", APIOpenAI, "chat.completions", `{"choices":[{"usage":{"prompt_tokens":1,"completion_tokens":2}}]}`, Usage{}},
		{"Truncated", APIOpenAI, "chat.completions", `{"choices":[{"message":"abc`, Usage{}},
		{"NotJSON", APIOpenAI, "chat.completions", `<html>502 Bad Gateway</html>`, Usage{}},
		{"Empty", APIAnthropic, "messages", ``, Usage{}},
		{"HTTP", APIHTTP, "POST /v1/retrieve", `{"usage":{"prompt_tokens":1,"completion_tokens":2}}`, Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResponseUsage(tt.api, tt.endpoint, []byte(tt.body)); got != tt.want {
				t.Errorf("ResponseUsage(%s, %s) = %+v, want %+v", tt.api, tt.endpoint, got, tt.want)
			}
		})
	}
}

// FuzzResponseUsage checks that reading usage from any upstream body never
// panics or hangs.
func FuzzResponseUsage(f *testing.F) {
	f.Add([]byte(`{"usage":{"prompt_tokens":19,"completion_tokens":10}}`))
	f.Add([]byte(`{"a":[{"b":"\"}"}],"usage":{"input_tokens":1,"output_tokens":2}}`))
	f.Add([]byte(`{"usage":{"input_tokens":1,"output_tokens":2,"cache_read_input_tokens":3}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, api := range []API{APIOpenAI, APIAnthropic} {
			u := ResponseUsage(api, "responses", body)
			if u.Known && (u.InputTokens < 0 || u.OutputTokens < 0) {
				t.Fatalf("ResponseUsage(%q) = %+v", body, u)
			}
			m := NewStreamMeter(api, "chat.completions")
			m.Write([]byte("data: "))
			m.Write(body)
			m.Write([]byte("\n\n"))
			m.Usage()
		}
	})
}

// usageBySlowPath is what ResponseUsage's fast decoding must agree with:
// json.Unmarshal into usageFields.
func usageBySlowPath(api API, endpoint string, v []byte) Usage {
	var f usageFields
	if !f.decode(v) {
		return Usage{}
	}
	return f.usage(api, endpoint)
}

// usageObjects are usage members the fast decoding must read as
// json.Unmarshal does, or leave to it.
var usageObjects = []string{
	`{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29}`,
	`{"prompt_tokens":19,"completion_tokens":10,"prompt_tokens_details":{"cached_tokens":0,"x":[1,{"a":null}]}}`,
	`{"input_tokens":13,"output_tokens":5,"cache_creation_input_tokens":2,"cache_read_input_tokens":3}`,
	`{"prompt_tokens":null,"completion_tokens":1,"input_tokens":2,"output_tokens":3}`,
	`{"prompt_tokens":1,"prompt_tokens":null,"input_tokens":2,"output_tokens":3}`,
	`{"prompt_tokens":null,"prompt_tokens":4,"completion_tokens":5}`,
	`{"prompt_tokens":-1,"completion_tokens":1}`,
	`{"prompt_tokens":-0,"completion_tokens":0}`,
	`{"prompt_tokens":1.0,"completion_tokens":1}`,
	`{"prompt_tokens":1e2,"completion_tokens":1}`,
	`{"prompt_tokens":"1","completion_tokens":1}`,
	`{"prompt_tokens":true,"completion_tokens":1}`,
	`{"prompt_tokens":{},"completion_tokens":1}`,
	`{"prompt_tokens":9223372036854775807,"completion_tokens":1}`,
	`{"prompt_tokens":9223372036854775808,"completion_tokens":1}`,
	`{"prompt_tokens":-9223372036854775808,"completion_tokens":1}`,
	`{"prompt_tokens":99999999999999999999999,"completion_tokens":1}`,
	`{"Prompt_Tokens":7,"completion_tokens":1}`,
	`{"prompt_tokens":7,"PROMPT_TOKENS":8,"completion_tokens":1}`,
	`{"prompt_\u0074okens":7,"completion_tokens":1}`,
	`{"ſrompt_tokens":7,"completion_tokens":1}`,
	`{"input_tokenſ":7,"output_tokens":1}`,
	`{"prompt_tokens":1,"completion_tokens":1,}`,
	`{"prompt_tokens":1 "completion_tokens":1}`,
	`{ "prompt_tokens" : 1 , "completion_tokens" : 2 }`,
	`{}`, `[]`, `null`, `1`, `"usage"`, ``,
}

func TestUsageFastMatchesUnmarshal(t *testing.T) {
	for _, v := range usageObjects {
		checkUsageFast(t, []byte(v))
	}
}

func FuzzUsageFastMatchesUnmarshal(f *testing.F) {
	for _, v := range usageObjects {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) { checkUsageFast(t, v) })
}

func checkUsageFast(t *testing.T, v []byte) {
	t.Helper()
	body := append(append([]byte(`{"usage":`), v...), '}')
	for _, c := range []struct {
		api      API
		endpoint string
	}{{APIOpenAI, "chat.completions"}, {APIOpenAI, "responses"}, {APIOpenAI, "embeddings"}, {APIAnthropic, "messages"}} {
		want := Usage{}
		if uv, ok := lookup(body, "usage"); ok {
			want = usageBySlowPath(c.api, c.endpoint, uv)
		}
		if got := ResponseUsage(c.api, c.endpoint, body); got != want {
			t.Errorf("ResponseUsage(%s, %s, usage %s) = %+v, want %+v as json.Unmarshal reads it", c.api, c.endpoint, v, got, want)
		}
	}
}
