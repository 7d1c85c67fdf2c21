package provider

import "bytes"

// Asking OpenAI streams for their usage. OpenAI chat completions and
// completions streams report usage only when the request has
// stream_options.include_usage: true, and then in an extra last chunk with
// empty choices. The gateway meters every call, so it asks for that chunk
// on the client's behalf and, when the client did not ask for it itself,
// removes it from the stream the client receives (see UsageChunkFilter).
// The Responses API and Anthropic report usage in every stream.

// streamUsageMember is the member Canonical adds to ask for usage.
const streamUsageMember = `"stream_options":{"include_usage":true}`

// readStreamOptions reads OpenAI's "stream_options", the top-level member
// i, whose value is v: an object or null. In the object, "include_usage"
// must be a boolean or null, and its case variants are refused, since
// Canonical may add the exact name next to them.
func (r *Request) readStreamOptions(i int, v []byte) error {
	if !isNull(v) && v[0] != '{' {
		return &RequestError{Param: "stream_options", Message: "stream_options must be a JSON object or null"}
	}
	r.streamOptions = i
	val, ok, variant := lookupStrict(v, "include_usage")
	if variant != "" {
		return caseVariantError(variant, "include_usage", "stream_options")
	}
	if !ok {
		return nil
	}
	switch string(val) {
	case "true":
		r.clientUsage = true
	case "false", "null":
	default:
		return &RequestError{Param: "stream_options.include_usage", Message: "stream_options.include_usage must be true or false"}
	}
	// val is a part of v, which is a part of the body.
	start := r.members[i].val.start + cap(v) - cap(val)
	r.includeUsage = span{start, start + len(val)}
	return nil
}

// InjectsStreamUsage reports whether [Request.Canonical] adds
// stream_options.include_usage: true to the body: the request is a
// streamed OpenAI chat completion ("chat.completions") or completion
// ("completions") whose client did not ask for usage itself. The upstream
// then ends the stream with a chunk the client did not ask for, which the
// caller removes with a [UsageChunkFilter] after metering it.
func (r *Request) InjectsStreamUsage() bool {
	return r.API == APIOpenAI && (r.Endpoint == "chat.completions" || r.Endpoint == "completions") &&
		r.Stream && !r.clientUsage
}

// appendStreamOptions appends the value of the stream_options member at
// val (an object or null) with include_usage set to true.
func (r *Request) appendStreamOptions(out []byte, val span) []byte {
	v := r.body[val.start:val.end]
	if isNull(v) {
		return append(out, `{"include_usage":true}`...)
	}
	if u := r.includeUsage; u.end > 0 {
		out = append(out, r.body[val.start:u.start]...)
		out = append(out, "true"...)
		return append(out, r.body[u.end:val.end]...)
	}
	// v is a checked object, so it ends with '}'.
	inner := bytes.TrimRight(v[:len(v)-1], " \t\r\n")
	if len(inner) == 1 { // "{": no members
		return append(out, `{"include_usage":true}`...)
	}
	out = append(out, inner...)
	return append(out, `,"include_usage":true}`...)
}
