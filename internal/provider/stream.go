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
//     stream_options.include_usage).
//   - OpenAI Responses API: response.usage of the response.completed,
//     response.incomplete or response.failed event.
//   - Anthropic messages: message_start's message.usage (input, with the
//     cache fields, and the first output count), then each message_delta's
//     usage, whose counts are cumulative.
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
		j := bytes.IndexAny(p, "\r\n")
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
		m.read(m.data)
	} else if m.broken {
		m.events++
	}
	m.data, m.hasData, m.broken = m.data[:0], false, false
}

// Events returns how many data events have passed, "[DONE]" excluded:
// a measure of how far an aborted stream got.
func (m *StreamMeter) Events() int { return m.events }

// Usage returns the usage the stream reported so far. An event whose
// data lines were received but not the blank line ending it is read too,
// since a stream may end without one.
func (m *StreamMeter) Usage() Usage {
	if m.hasData && !m.broken && string(m.data) != "[DONE]" {
		m.read(m.data)
	}
	return m.usage
}

// read reads one event's data.
func (m *StreamMeter) read(data []byte) {
	switch {
	case m.api == APIAnthropic:
		m.readAnthropic(data)
	case m.api == APIOpenAI && m.endpoint == "responses":
		switch typ, _ := lookup(data, "type"); string(typ) {
		case `"response.completed"`, `"response.incomplete"`, `"response.failed"`:
			resp, _ := lookup(data, "response")
			m.readUsage(resp)
		}
	case m.api == APIOpenAI:
		// Cheap test first: most chunks carry no usage at all.
		if bytes.Contains(data, []byte(`"usage"`)) {
			m.readUsage(data)
		}
	}
}

// readUsage reads the usage member of the object obj, if it is there.
func (m *StreamMeter) readUsage(obj []byte) {
	v, ok := lookup(obj, "usage")
	if !ok || isNull(v) {
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

func (m *StreamMeter) readAnthropic(data []byte) {
	typ, _ := lookup(data, "type")
	var v []byte
	switch string(typ) {
	case `"message_start"`:
		msg, _ := lookup(data, "message")
		v, _ = lookup(msg, "usage")
	case `"message_delta"`:
		v, _ = lookup(data, "usage")
	default:
		return
	}
	var f usageFields
	if !f.decode(v) {
		return
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
}
