package provider

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
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
	counts, ok, done := decodeUsageFast(v)
	if !done {
		var f usageFields
		if !f.decode(v) {
			return Usage{}
		}
		return f.usage(api, endpoint)
	}
	if !ok {
		return Usage{}
	}
	f := counts.fields()
	if !f.nonNegative() {
		return Usage{}
	}
	return f.usage(api, endpoint)
}

// usageNames are the members of usageFields, in the order of
// usageCounts.
var usageNames = [...]string{"prompt_tokens", "completion_tokens", "input_tokens", "output_tokens",
	"cache_creation_input_tokens", "cache_read_input_tokens"}

// usageCounts is a usage object decoded without reflection: each member's
// value, and whether it was set to a number.
type usageCounts struct {
	n   [len(usageNames)]int64
	set [len(usageNames)]bool
}

// fields returns c as usageFields, pointing into c.
func (c *usageCounts) fields() usageFields {
	p := func(i int) *int64 {
		if !c.set[i] {
			return nil
		}
		return &c.n[i]
	}
	return usageFields{PromptTokens: p(0), CompletionTokens: p(1), InputTokens: p(2), OutputTokens: p(3),
		CacheCreationInputTokens: p(4), CacheReadInputTokens: p(5)}
}

// decodeUsageFast decodes the usage object v as json.Unmarshal into
// usageFields would, for the usage objects upstreams send: members with
// plain names whose values, for the names usageFields reads, are integers
// or null. It reports ok as Unmarshal's success, and done false when v has
// something it leaves to Unmarshal (an escaped or non-ASCII member name,
// or a case variant of a name usageFields reads, which Unmarshal matches).
// Every usage event of a non-streamed call passes here, and Unmarshal's
// reflection costs several allocations.
func decodeUsageFast(v []byte) (c usageCounts, ok, done bool) {
	if len(v) == 0 || v[0] != '{' || !json.Valid(v) {
		return c, false, true // as decode
	}
	for name, val := range members(v) {
		if bytes.IndexByte(name, '\\') >= 0 || !isASCII(name) {
			return c, false, false
		}
		i := slices.Index(usageNames[:], string(name))
		if i < 0 {
			if caseVariant(name, usageNames[:]) != "" {
				return c, false, false
			}
			continue // not read: Unmarshal skips it
		}
		if isNull(val) {
			c.n[i], c.set[i] = 0, false
			continue
		}
		n, isInt := parseInt64(val)
		if !isInt {
			return c, false, true // Unmarshal fails with a type error
		}
		c.n[i], c.set[i] = n, true
	}
	return c, true, true
}

// parseInt64 parses a JSON number that is an integer in int64's range, as
// Unmarshal into an int64 accepts it: an optional minus and digits, no
// fraction or exponent.
func parseInt64(v []byte) (int64, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxUint64-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case !neg && n <= math.MaxInt64:
		return int64(n), true
	case neg && n <= -math.MinInt64:
		return -int64(n), true
	}
	return 0, false
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
	return f.nonNegative()
}

// nonNegative reports whether no count of f is negative.
func (f *usageFields) nonNegative() bool {
	for _, p := range [...]*int64{f.PromptTokens, f.CompletionTokens, f.InputTokens, f.OutputTokens,
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
