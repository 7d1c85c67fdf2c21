package provider

import "bytes"

// maxLine caps one SSE line, and the data of one event, kept by a
// StreamMeter. Usage events are a few hundred bytes; a longer line (a
// large content delta) is skipped without being kept, so memory stays
// bounded whatever the upstream sends.
const maxLine = 1 << 20

// StreamMeter reads token usage from a server-sent event stream as it
// passes through, fed the raw bytes by Write in pieces of any size:
//
//   - OpenAI chat completions and completions: the chunk whose "usage" is
//     not null (sent last when the request has
//     stream_options.include_usage, which Request.Canonical adds).
//   - OpenAI Responses API: response.usage of the response.completed,
//     response.incomplete or response.failed event.
//   - Anthropic messages: message_start's message.usage (input, with the
//     cache fields, and the first output count), then each message_delta's
//     usage, whose counts are cumulative.
//
// It also counts the events that carry generated output
// ([StreamMeter.Deltas]), from which the gateway charges a stream that
// ends before its usage.
//
// A StreamMeter is not safe for concurrent use.
type StreamMeter struct {
	api      API
	endpoint string

	line     []byte // the line being received
	skipping bool   // the line being received is too long and is dropped
	afterCR  bool   // the last byte was '\r': a '\n' next ends no new line
	data     []byte // the data of the event being received
	hasData  bool
	broken   bool // the event's data was too long and is dropped

	events int
	deltas int64
	ended  bool
	usage  Usage
	// Anthropic's input is kept in parts, because a message_delta may
	// update some of them.
	input, cacheCreation, cacheRead int64
}

// NewStreamMeter returns a StreamMeter for a stream answering endpoint in
// api.
func NewStreamMeter(api API, endpoint string) *StreamMeter {
	return &StreamMeter{api: api, endpoint: endpoint}
}

// Write reads p, the next bytes of the stream. It never fails: metering
// must not break the stream it watches.
func (m *StreamMeter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if m.afterCR {
			m.afterCR = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		j := indexLineEnd(p)
		if j < 0 {
			m.keep(p)
			break
		}
		m.keep(p[:j])
		m.afterCR = p[j] == '\r'
		p = p[j+1:]
		m.endLine()
	}
	return n, nil
}

// indexLineEnd returns the index of the first '\r' or '\n' in p, or -1.
// Two vectorized searches are several times faster than bytes.IndexAny's
// byte loop on the lines of a stream. (A stream whose lines end with '\r'
// alone makes the first search run to the end of p at each line; no
// upstream sends one, and it costs only time.)
func indexLineEnd(p []byte) int {
	end := bytes.IndexByte(p, '\n')
	if end < 0 {
		end = len(p)
	}
	if i := bytes.IndexByte(p[:end], '\r'); i >= 0 {
		return i
	}
	if end == len(p) {
		return -1
	}
	return end
}

// keep adds b to the line being received, unless it is too long.
func (m *StreamMeter) keep(b []byte) {
	if m.skipping {
		return
	}
	if len(m.line)+len(b) > maxLine {
		m.skipping, m.line = true, m.line[:0]
		return
	}
	m.line = append(m.line, b...)
}

// endLine handles a complete line (SSE: "field: value", a comment, or a
// blank line ending an event).
func (m *StreamMeter) endLine() {
	line := m.line
	m.line = m.line[:0]
	if m.skipping {
		// Only data lines grow this long; the event they belong to is
		// lost, but still counted.
		m.skipping, m.broken = false, true
		return
	}
	if len(line) == 0 {
		m.dispatch()
		return
	}
	field, value, _ := bytes.Cut(line, []byte(":"))
	value = bytes.TrimPrefix(value, []byte(" "))
	if string(field) != "data" || m.broken {
		return
	}
	if len(m.data)+len(value)+1 > maxLine {
		m.broken = true
		return
	}
	if m.hasData {
		m.data = append(m.data, '\n')
	}
	m.data = append(m.data, value...)
	m.hasData = true
}

// dispatch ends an event.
func (m *StreamMeter) dispatch() {
	if m.hasData && !m.broken && string(m.data) != "[DONE]" {
		m.events++
		if m.read(m.data) {
			m.deltas++
		}
	} else if m.broken {
		m.events++
	} else if m.hasData && m.api == APIOpenAI && m.endpoint != "responses" {
		m.ended = true // "[DONE]"
	}
	m.data, m.hasData, m.broken = m.data[:0], false, false
}

// Events returns how many data events have passed, "[DONE]" excluded:
// a measure of how far an aborted stream got.
func (m *StreamMeter) Events() int { return m.events }

// Ended reports whether the stream's last event has passed: "[DONE]" for
// OpenAI chat completions and completions, response.completed,
// response.incomplete or response.failed for the Responses API, and
// message_stop for Anthropic. A stream that ended so is complete even if
// the client closed its connection before the upstream's end of body was
// read: SDKs stop reading at the last event.
func (m *StreamMeter) Ended() bool { return m.ended }

// Deltas returns how many of the events that have passed carry generated
// output:
//
//   - OpenAI chat completions and completions: a chunk with a choice
//     whose delta has a non-empty "content", "refusal",
//     "reasoning_content" or "reasoning" (the last two from
//     OpenAI-compatible servers that stream reasoning), or a tool call or
//     function call with a non-empty name or arguments; or whose "text"
//     (completions) is not empty. A chunk counts once, whatever its number
//     of choices.
//   - OpenAI Responses API: every event whose type ends in ".delta"
//     (response.output_text.delta, response.refusal.delta,
//     response.function_call_arguments.delta, the reasoning, audio and
//     code deltas, …) with a "delta" that is not empty.
//   - Anthropic messages: content_block_delta with a non-empty "text",
//     "partial_json" or "thinking"; signature and citation deltas carry
//     no generated tokens.
//
// Events over 1 MiB, which are not kept, and an event whose blank line
// has not arrived are not counted: the client's SSE parser does not
// deliver the latter either.
//
// The gateway charges a stream that ends without reporting its usage one
// output token per delta: providers stream about one token per event, and
// the mock upstream exactly one word, its unit of usage, per event. For
// Anthropic, message_start already reports usage, with only the first
// output token, so for an aborted stream the larger of
// Usage().OutputTokens and Deltas is the better count.
func (m *StreamMeter) Deltas() int64 { return m.deltas }

// Usage returns the usage the stream reported so far. An event whose
// data lines were received but not the blank line ending it is read too,
// since a stream may end without one.
func (m *StreamMeter) Usage() Usage {
	if m.hasData && !m.broken && string(m.data) != "[DONE]" {
		m.read(m.data)
	}
	return m.usage
}

// read reads one event's data for its usage, and reports whether it
// carries generated output (see Deltas).
func (m *StreamMeter) read(data []byte) bool {
	switch {
	case m.api == APIAnthropic:
		return m.readAnthropic(data)
	case m.api == APIOpenAI && m.endpoint == "responses":
		return m.readResponses(data)
	case m.api == APIOpenAI:
		return m.readChunk(data)
	}
	return false
}

// readResponses reads a Responses API event: the usage of the final
// response, and whether it is a delta of generated output.
func (m *StreamMeter) readResponses(data []byte) bool {
	typ, _ := lookup(data, "type")
	switch string(typ) {
	case `"response.completed"`, `"response.incomplete"`, `"response.failed"`:
		resp, _ := lookup(data, "response")
		m.readUsage(resp)
		m.ended = true
		return false
	}
	if !bytes.HasSuffix(typ, []byte(`.delta"`)) {
		return false
	}
	d, ok := lookup(data, "delta")
	return ok && !isNull(d) && string(d) != `""`
}

// readChunk reads a chat completions or completions chunk: its usage,
// when not null, and whether its choices carry generated output. One pass
// over the members finds both.
func (m *StreamMeter) readChunk(data []byte) (delta bool) {
	// Cheap test first: a chunk can carry neither without these bytes.
	if !bytes.Contains(data, []byte(`"usage"`)) && !bytes.Contains(data, []byte(`"choices"`)) {
		return false
	}
	usage := false
	for k, v := range members(data) {
		switch string(k) {
		case "usage":
			if !usage {
				usage = true
				m.readUsageValue(v)
			}
		case "choices":
			delta = delta || choicesCarryOutput(v)
		}
	}
	return delta
}

// choicesCarryOutput reports whether a chunk's choices array has a choice
// with generated output: see Deltas.
func choicesCarryOutput(choices []byte) bool {
	for _, c := range elements(choices) {
		for k, v := range members(c) {
			switch string(k) {
			case "text":
				if nonEmptyString(v) {
					return true
				}
			case "delta":
				if deltaCarriesOutput(v) {
					return true
				}
			}
		}
	}
	return false
}

// deltaCarriesOutput reports whether a chat chunk's delta has generated
// output.
func deltaCarriesOutput(delta []byte) bool {
	for k, v := range members(delta) {
		switch string(k) {
		case "content", "refusal", "reasoning_content", "reasoning":
			if nonEmptyString(v) {
				return true
			}
		case "tool_calls":
			for _, call := range elements(v) {
				if fn, _ := lookup(call, "function"); functionCarriesOutput(fn) {
					return true
				}
			}
		case "function_call":
			if functionCarriesOutput(v) {
				return true
			}
		}
	}
	return false
}

// functionCarriesOutput reports whether a streamed function call has a
// non-empty name or arguments.
func functionCarriesOutput(fn []byte) bool {
	for k, v := range members(fn) {
		if (string(k) == "name" || string(k) == "arguments") && nonEmptyString(v) {
			return true
		}
	}
	return false
}

// nonEmptyString reports whether the value token v is a string other
// than "".
func nonEmptyString(v []byte) bool { return len(v) > 2 && v[0] == '"' }

// readUsage reads the usage member of the object obj, if it is there.
func (m *StreamMeter) readUsage(obj []byte) {
	if v, ok := lookup(obj, "usage"); ok {
		m.readUsageValue(v)
	}
}

// readUsageValue reads the usage object v, unless it is null.
func (m *StreamMeter) readUsageValue(v []byte) {
	if isNull(v) {
		return
	}
	var f usageFields
	if !f.decode(v) {
		return
	}
	if u := f.usage(m.api, m.endpoint); u.Known {
		m.usage = u
	}
}

// readAnthropic reads the usage of message_start and message_delta, and
// reports whether the event is a content_block_delta with generated
// output.
func (m *StreamMeter) readAnthropic(data []byte) bool {
	typ, _ := lookup(data, "type")
	var v []byte
	switch string(typ) {
	case `"content_block_delta"`:
		d, _ := lookup(data, "delta")
		return anthropicDeltaCarriesOutput(d)
	case `"message_start"`:
		msg, _ := lookup(data, "message")
		v, _ = lookup(msg, "usage")
	case `"message_delta"`:
		v, _ = lookup(data, "usage")
	case `"message_stop"`:
		m.ended = true
		return false
	default:
		return false
	}
	var f usageFields
	if !f.decode(v) {
		return false
	}
	set := func(dst *int64, src *int64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&m.input, f.InputTokens)
	set(&m.cacheCreation, f.CacheCreationInputTokens)
	set(&m.cacheRead, f.CacheReadInputTokens)
	set(&m.usage.OutputTokens, f.OutputTokens)
	m.usage.InputTokens = sumTokens(m.input, m.cacheCreation, m.cacheRead)
	m.usage.Known = true
	return false
}

// anthropicDeltaCarriesOutput reports whether a content_block_delta's
// delta has generated output: text, tool input or thinking. Signatures
// and citations are not generated tokens.
func anthropicDeltaCarriesOutput(delta []byte) bool {
	for k, v := range members(delta) {
		switch string(k) {
		case "text", "partial_json", "thinking":
			if nonEmptyString(v) {
				return true
			}
		}
	}
	return false
}
