package provider

import (
	"encoding/json"
	"math"
)

// Usage is the token usage an upstream reported for one call.
type Usage struct {
	// InputTokens counts every prompt token billed, cached or not:
	// Anthropic reports cache writes and reads apart from input_tokens,
	// and they are added here; OpenAI's prompt_tokens already include
	// cached tokens.
	InputTokens  int64
	OutputTokens int64
	// Known is false when the response reported no usable usage; the
	// caller then settles from its own estimate.
	Known bool
}

// ResponseUsage reads the usage of a non-streamed response body:
//
//   - OpenAI chat completions, completions, embeddings: usage.prompt_tokens
//     and usage.completion_tokens (embeddings report no completion tokens).
//   - OpenAI Responses API: usage.input_tokens and usage.output_tokens.
//   - Anthropic messages: usage.input_tokens plus cache_creation_input_tokens
//     and cache_read_input_tokens, and usage.output_tokens.
//
// OpenAI-compatible servers that report the other pair of names are read
// too. APIHTTP services report no usage. Only the usage member is decoded,
// so large bodies (embeddings) cost a scan, not a decode.
func ResponseUsage(api API, endpoint string, body []byte) Usage {
	if api == APIHTTP {
		return Usage{}
	}
	v, ok := lookup(body, "usage")
	if !ok {
		return Usage{}
	}
	var f usageFields
	if !f.decode(v) {
		return Usage{}
	}
	return f.usage(api, endpoint)
}

// usageFields is a usage object of either API; absent and null fields are
// nil.
type usageFields struct {
	PromptTokens             *int64 `json:"prompt_tokens"`
	CompletionTokens         *int64 `json:"completion_tokens"`
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

// decode decodes the usage object v, refusing negative counts.
func (f *usageFields) decode(v []byte) bool {
	if len(v) == 0 || v[0] != '{' || json.Unmarshal(v, f) != nil {
		return false
	}
	for _, p := range []*int64{f.PromptTokens, f.CompletionTokens, f.InputTokens, f.OutputTokens,
		f.CacheCreationInputTokens, f.CacheReadInputTokens} {
		if p != nil && *p < 0 {
			return false
		}
	}
	return true
}

// usage interprets f for api and endpoint.
func (f *usageFields) usage(api API, endpoint string) Usage {
	if api == APIAnthropic {
		if f.InputTokens == nil || f.OutputTokens == nil {
			return Usage{}
		}
		in := sumTokens(*f.InputTokens, deref(f.CacheCreationInputTokens), deref(f.CacheReadInputTokens))
		return Usage{InputTokens: in, OutputTokens: *f.OutputTokens, Known: true}
	}
	in, out := f.PromptTokens, f.CompletionTokens
	if endpoint == "responses" || in == nil {
		in, out = f.InputTokens, f.OutputTokens
		if in == nil && endpoint == "responses" {
			in, out = f.PromptTokens, f.CompletionTokens
		}
	}
	if in == nil || out == nil && endpoint != "embeddings" {
		return Usage{}
	}
	return Usage{InputTokens: *in, OutputTokens: deref(out), Known: true}
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// sumTokens adds non-negative counts, saturating instead of overflowing:
// an upstream's absurd numbers must not turn into a negative charge.
func sumTokens(counts ...int64) int64 {
	var n int64
	for _, c := range counts {
		if n > math.MaxInt64-c {
			return math.MaxInt64
		}
		n += c
	}
	return n
}
