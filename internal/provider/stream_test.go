package provider

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const openAIChatStream = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"The \"usage\" field"},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}

data: [DONE]

`

const openAIResponsesStream = `event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-4.1","output":[],"usage":null}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}

event: response.output_text.done
data: {"type":"response.output_text.done","sequence_number":5,"item_id":"msg_1","output_index":0,"content_index":0,"text":"Hi"}

event: response.completed
data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","object":"response","status":"completed","model":"gpt-4.1","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[]}]}],"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":123}}}

`

const anthropicStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":10,"cache_read_input_tokens":5,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

: a comment line

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}

event: message_stop
data: {"type":"message_stop"}

`

// anthropicServerToolStream has a message_delta with cumulative input
// counts, as Anthropic sends after server tool use.
const anthropicServerToolStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","content":[],"usage":{"input_tokens":100,"cache_creation_input_tokens":0,"cache_read_input_tokens":20,"output_tokens":2}}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":900,"cache_read_input_tokens":50,"output_tokens":120,"server_tool_use":{"web_search_requests":1}}}

event: message_stop
data: {"type":"message_stop"}

`

func TestStreamMeter(t *testing.T) {
	tests := []struct {
		name       string
		api        API
		endpoint   string
		stream     string
		want       Usage
		wantEvents int
		wantDeltas int64
	}{
		{"OpenAIChat", APIOpenAI, "chat.completions", openAIChatStream, Usage{12, 7, true}, 4, 1},
		{"OpenAIChatCRLF", APIOpenAI, "chat.completions", strings.ReplaceAll(openAIChatStream, "\n", "\r\n"), Usage{12, 7, true}, 4, 1},
		{"OpenAIChatCR", APIOpenAI, "chat.completions", strings.ReplaceAll(openAIChatStream, "\n", "\r"), Usage{12, 7, true}, 4, 1},
		{"OpenAIChatNoUsage", APIOpenAI, "chat.completions", strings.Join(strings.Split(openAIChatStream, "\n\n")[:3], "\n\n") + "\n\ndata: [DONE]\n\n",
			Usage{}, 3, 1},
		{"OpenAIResponses", APIOpenAI, "responses", openAIResponsesStream, Usage{36, 87, true}, 4, 1},
		{"OpenAIResponsesIncomplete", APIOpenAI, "responses", strings.ReplaceAll(openAIResponsesStream, "response.completed", "response.incomplete"),
			Usage{36, 87, true}, 4, 1},
		{"Anthropic", APIAnthropic, "messages", anthropicStream, Usage{40, 15, true}, 7, 1},
		{"AnthropicCRLF", APIAnthropic, "messages", strings.ReplaceAll(anthropicStream, "\n", "\r\n"), Usage{40, 15, true}, 7, 1},
		{"AnthropicServerTools", APIAnthropic, "messages", anthropicServerToolStream, Usage{950, 120, true}, 4, 0},
		{"AnthropicAborted", APIAnthropic, "messages", anthropicStream[:strings.Index(anthropicStream, "event: content_block_stop")],
			Usage{40, 1, true}, 4, 1},
		{"NoDone", APIOpenAI, "chat.completions", strings.TrimSuffix(openAIChatStream, "data: [DONE]\n\n"), Usage{12, 7, true}, 4, 1},
		{"UsageNotEnded", APIOpenAI, "chat.completions", strings.TrimSuffix(openAIChatStream, "\ndata: [DONE]\n\n"), Usage{12, 7, true}, 3, 1},
		{"ContentNotEnded", APIOpenAI, "chat.completions", strings.Join(strings.Split(openAIChatStream, "\n\n")[:2], "\n\n"), Usage{}, 1, 0},
		{"HTTP", APIHTTP, "POST /v1/retrieve", openAIChatStream, Usage{}, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(how string, m *StreamMeter) {
				t.Helper()
				if got := m.Usage(); got != tt.want {
					t.Fatalf("%s: Usage() = %+v, want %+v", how, got, tt.want)
				}
				if got := m.Events(); got != tt.wantEvents {
					t.Fatalf("%s: Events() = %d, want %d", how, got, tt.wantEvents)
				}
				if got := m.Deltas(); got != tt.wantDeltas {
					t.Fatalf("%s: Deltas() = %d, want %d", how, got, tt.wantDeltas)
				}
			}
			s := []byte(tt.stream)
			for k := range len(s) + 1 {
				m := NewStreamMeter(tt.api, tt.endpoint)
				m.Write(s[:k])
				m.Write(s[k:])
				check("split at "+strconv.Itoa(k), m)
			}
			m := NewStreamMeter(tt.api, tt.endpoint)
			for i := range s {
				if n, err := m.Write(s[i : i+1]); n != 1 || err != nil {
					t.Fatalf("Write = %d, %v; want 1, nil", n, err)
				}
			}
			check("byte by byte", m)
			rng := rand.New(rand.NewPCG(1, 2))
			for range 50 {
				m := NewStreamMeter(tt.api, tt.endpoint)
				for rest := s; len(rest) > 0; {
					n := min(len(rest), 1+rng.IntN(40))
					m.Write(rest[:n])
					rest = rest[n:]
				}
				check("random pieces", m)
			}
		})
	}
}

func TestStreamMeterLongLines(t *testing.T) {
	m := NewStreamMeter(APIOpenAI, "chat.completions")
	// A 3 MiB data line, then a normal stream: the long event is counted
	// but not kept, and the usage after it is read.
	huge := []byte(`data: {"choices":[{"delta":{"content":"` + strings.Repeat("x", 3<<20) + `"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}` + "\n\n")
	for chunk := range slices.Chunk(huge, 32<<10) {
		m.Write(chunk)
	}
	// append may round capacity up, but not double it.
	if cap(m.line) > 2*maxLine || cap(m.data) > 2*maxLine {
		t.Errorf("kept %d and %d bytes, want about %d at most", cap(m.line), cap(m.data), maxLine)
	}
	m.Write([]byte(openAIChatStream))
	if got, want := m.Usage(), (Usage{12, 7, true}); got != want {
		t.Errorf("Usage() = %+v, want %+v", got, want)
	}
	if got, want := m.Events(), 5; got != want {
		t.Errorf("Events() = %d, want %d", got, want)
	}
	// Many data lines in one event are capped too.
	m = NewStreamMeter(APIOpenAI, "chat.completions")
	line := []byte("data: " + strings.Repeat("y", 1000) + "\n")
	for range 3000 {
		m.Write(line)
	}
	if cap(m.data) > 2*maxLine {
		t.Errorf("kept %d bytes of event data, want about %d at most", cap(m.data), maxLine)
	}
	m.Write([]byte("\n"))
	m.Write([]byte(openAIChatStream))
	if got, want := m.Usage(), (Usage{12, 7, true}); got != want {
		t.Errorf("Usage() = %+v, want %+v", got, want)
	}
}

func BenchmarkStreamMeter(b *testing.B) {
	s := []byte(strings.Repeat(strings.Join(strings.Split(openAIChatStream, "\n\n")[1:2], "")+"\n\n", 200) + openAIChatStream)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		m := NewStreamMeter(APIOpenAI, "chat.completions")
		for chunk := range slices.Chunk(s, 4096) {
			m.Write(chunk)
		}
		if !m.Usage().Known {
			b.Fatal("usage not found")
		}
	}
}

// openAIToolCallStream is a chat completion calling a function, as OpenAI
// streams it: the name first, then the arguments in pieces.
const openAIToolCallStream = `data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\""}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"city"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}

data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":60,"completion_tokens":15,"total_tokens":75}}

data: [DONE]

`

// openAIRefusalStream refuses, in the refusal field, with logprobs that
// have a "content" of their own.
const openAIRefusalStream = `data: {"id":"chatcmpl-3","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-3","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"refusal":"I'm"},"logprobs":{"content":null,"refusal":[{"token":"I'm","logprob":-0.1}]},"finish_reason":null}]}

data: {"id":"chatcmpl-3","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"refusal":" sorry"},"logprobs":{"content":null,"refusal":[]},"finish_reason":null}]}

data: {"id":"chatcmpl-3","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}

data: [DONE]

`

// openAIReasoningStream is an OpenAI-compatible server (vLLM, DeepSeek)
// streaming reasoning, two choices (n=2) in one chunk, and a legacy
// function call.
const openAIReasoningStream = `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Hmm"}}]}

data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning":", so"}}]}

data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"A"}},{"index":1,"delta":{"content":"B"}}]}

data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"function_call":{"arguments":"{}"}}}]}

data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}]}

`

// openAICompletionsStream is a legacy completion as OpenAI streams it.
const openAICompletionsStream = `data: {"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":"\n\n","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}

data: {"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":"This","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}

data: {"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":" is","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}

data: {"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"model":"gpt-3.5-turbo-instruct","usage":null}

data: {"id":"cmpl-1","object":"text_completion","created":1,"choices":[],"model":"gpt-3.5-turbo-instruct","usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}

data: [DONE]

`

// openAIResponsesToolStream has reasoning, a function call and text.
const openAIResponsesToolStream = `event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_2","object":"response","status":"in_progress","output":[],"usage":null}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[]}}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","sequence_number":2,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"**Weather**"}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":3,"output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"","status":"in_progress"}}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","sequence_number":4,"item_id":"fc_1","output_index":1,"delta":"{\"city\":"}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","sequence_number":5,"item_id":"fc_1","output_index":1,"delta":"\"Paris\"}"}

event: response.function_call_arguments.done
data: {"type":"response.function_call_arguments.done","sequence_number":6,"item_id":"fc_1","output_index":1,"arguments":"{\"city\":\"Paris\"}"}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":7,"item_id":"msg_1","output_index":2,"content_index":0,"delta":""}

event: response.output_text.annotation.added
data: {"type":"response.output_text.annotation.added","sequence_number":8,"item_id":"msg_1","output_index":2,"content_index":0,"annotation_index":0,"annotation":{"type":"url_citation","url":"https://example.com"}}

event: response.refusal.delta
data: {"type":"response.refusal.delta","sequence_number":9,"item_id":"msg_1","output_index":2,"content_index":1,"delta":"No"}

event: response.completed
data: {"type":"response.completed","sequence_number":10,"response":{"id":"resp_2","object":"response","status":"completed","usage":{"input_tokens":50,"output_tokens":40,"total_tokens":90}}}

`

// anthropicToolStream has thinking, its signature, a tool call and a
// citation, as Anthropic streams them.
const anthropicToolStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_3","type":"message","role":"assistant","content":[],"usage":{"input_tokens":30,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" think"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ris\"}"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"citations_delta","citation":{"type":"char_location","cited_text":"Paris is sunny"}}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":45}}

event: message_stop
data: {"type":"message_stop"}

`

func TestStreamMeterDeltas(t *testing.T) {
	tests := []struct {
		name     string
		api      API
		endpoint string
		stream   string
		want     int64
	}{
		// The name, then three pieces of arguments.
		{"OpenAIToolCall", APIOpenAI, "chat.completions", openAIToolCallStream, 4},
		{"OpenAIRefusal", APIOpenAI, "chat.completions", openAIRefusalStream, 2},
		// Two choices in one chunk count once; an empty content not at all.
		{"OpenAIReasoning", APIOpenAI, "chat.completions", openAIReasoningStream, 4},
		{"OpenAICompletions", APIOpenAI, "completions", openAICompletionsStream, 3},
		// Reasoning summary, two argument pieces and the refusal; not the
		// empty text delta nor the annotation.
		{"OpenAIResponsesTools", APIOpenAI, "responses", openAIResponsesToolStream, 4},
		// Two thinking deltas and two pieces of JSON; not the signature,
		// the empty JSON or the citation.
		{"AnthropicTools", APIAnthropic, "messages", anthropicToolStream, 4},
		{"AnthropicAbortedInDelta", APIAnthropic, "messages",
			anthropicToolStream[:strings.Index(anthropicToolStream, `" think"`)], 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meterEverySplit(tt.api, tt.endpoint, tt.stream, func(k int, m *StreamMeter) {
				if got := m.Deltas(); got != tt.want {
					t.Fatalf("split at %d: Deltas() = %d, want %d", k, got, tt.want)
				}
			})
		})
	}
}

// meterEverySplit meters stream in two pieces, split at every byte, and
// hands each meter to check with the split.
func meterEverySplit(api API, endpoint, stream string, check func(k int, m *StreamMeter)) {
	s := []byte(stream)
	for k := range len(s) + 1 {
		m := NewStreamMeter(api, endpoint)
		m.Write(s[:k])
		m.Write(s[k:])
		check(k, m)
	}
}

// TestStreamMeterEnded checks that a stream counts as ended exactly when
// its API's last event has passed, whatever pieces it arrives in.
func TestStreamMeterEnded(t *testing.T) {
	tests := []struct {
		name     string
		api      API
		endpoint string
		stream   string
		want     bool
	}{
		{"OpenAIDone", APIOpenAI, "chat.completions", openAIToolCallStream, true},
		{"OpenAIBeforeDone", APIOpenAI, "chat.completions", openAIToolCallStream[:strings.Index(openAIToolCallStream, "data: [DONE]")], false},
		// "[DONE]" without its blank line has not been delivered.
		{"OpenAIDoneUnfinished", APIOpenAI, "chat.completions", "data: [DONE]\n", false},
		{"OpenAICompletions", APIOpenAI, "completions", openAICompletionsStream, true},
		{"ResponsesCompleted", APIOpenAI, "responses", openAIResponsesToolStream, true},
		{"ResponsesDoneIsNotItsEnd", APIOpenAI, "responses", "data: [DONE]\n\n", false},
		{"AnthropicStop", APIAnthropic, "messages", anthropicToolStream, true},
		{"AnthropicBeforeStop", APIAnthropic, "messages", anthropicToolStream[:strings.Index(anthropicToolStream, "message_stop")], false},
		{"AnthropicDoneIsNotItsEnd", APIAnthropic, "messages", "data: [DONE]\n\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meterEverySplit(tt.api, tt.endpoint, tt.stream, func(k int, m *StreamMeter) {
				if got := m.Ended(); got != tt.want {
					t.Fatalf("split at %d: Ended() = %v, want %v", k, got, tt.want)
				}
			})
		})
	}
}

// FuzzStreamMeter checks that for any stream, in every API's shape, the
// meter never panics, counts no more deltas than events, and reads the
// same whatever pieces the stream arrives in.
func FuzzStreamMeter(f *testing.F) {
	for _, s := range []string{openAIChatStream, openAIToolCallStream, openAICompletionsStream, openAIResponsesToolStream,
		anthropicToolStream, strings.ReplaceAll(anthropicStream, "\n", "\r\n")} {
		f.Add([]byte(s), uint16(len(s)/2))
	}
	shapes := []struct {
		api      API
		endpoint string
	}{{APIOpenAI, "chat.completions"}, {APIOpenAI, "completions"}, {APIOpenAI, "responses"}, {APIAnthropic, "messages"}}
	f.Fuzz(func(t *testing.T, stream []byte, split uint16) {
		k := int(split) % (len(stream) + 1)
		for _, sh := range shapes {
			whole := NewStreamMeter(sh.api, sh.endpoint)
			whole.Write(stream)
			pieces := NewStreamMeter(sh.api, sh.endpoint)
			pieces.Write(stream[:k])
			pieces.Write(stream[k:])
			if whole.Deltas() > int64(whole.Events()) || whole.Deltas() < 0 {
				t.Fatalf("%s: Deltas() = %d with %d events", sh.endpoint, whole.Deltas(), whole.Events())
			}
			if a, b := whole.Deltas(), pieces.Deltas(); a != b {
				t.Fatalf("%s: Deltas() = %d whole, %d split at %d", sh.endpoint, a, b, k)
			}
			if a, b := whole.Events(), pieces.Events(); a != b {
				t.Fatalf("%s: Events() = %d whole, %d split at %d", sh.endpoint, a, b, k)
			}
			if a, b := whole.Usage(), pieces.Usage(); a != b {
				t.Fatalf("%s: Usage() = %+v whole, %+v split at %d", sh.endpoint, a, b, k)
			}
		}
	})
}
