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
	}{
		{"OpenAIChat", APIOpenAI, "chat.completions", openAIChatStream, Usage{12, 7, true}, 4},
		{"OpenAIChatCRLF", APIOpenAI, "chat.completions", strings.ReplaceAll(openAIChatStream, "\n", "\r\n"), Usage{12, 7, true}, 4},
		{"OpenAIChatCR", APIOpenAI, "chat.completions", strings.ReplaceAll(openAIChatStream, "\n", "\r"), Usage{12, 7, true}, 4},
		{"OpenAIChatNoUsage", APIOpenAI, "chat.completions", strings.Join(strings.Split(openAIChatStream, "\n\n")[:3], "\n\n") + "\n\ndata: [DONE]\n\n",
			Usage{}, 3},
		{"OpenAIResponses", APIOpenAI, "responses", openAIResponsesStream, Usage{36, 87, true}, 4},
		{"OpenAIResponsesIncomplete", APIOpenAI, "responses", strings.ReplaceAll(openAIResponsesStream, "response.completed", "response.incomplete"),
			Usage{36, 87, true}, 4},
		{"Anthropic", APIAnthropic, "messages", anthropicStream, Usage{40, 15, true}, 7},
		{"AnthropicCRLF", APIAnthropic, "messages", strings.ReplaceAll(anthropicStream, "\n", "\r\n"), Usage{40, 15, true}, 7},
		{"AnthropicServerTools", APIAnthropic, "messages", anthropicServerToolStream, Usage{950, 120, true}, 4},
		{"AnthropicAborted", APIAnthropic, "messages", anthropicStream[:strings.Index(anthropicStream, "event: content_block_stop")],
			Usage{40, 1, true}, 4},
		{"NoDone", APIOpenAI, "chat.completions", strings.TrimSuffix(openAIChatStream, "data: [DONE]\n\n"), Usage{12, 7, true}, 4},
		{"UsageNotEnded", APIOpenAI, "chat.completions", strings.TrimSuffix(openAIChatStream, "\ndata: [DONE]\n\n"), Usage{12, 7, true}, 3},
		{"HTTP", APIHTTP, "POST /v1/retrieve", openAIChatStream, Usage{}, 4},
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
