package loadgen

import "bytes"

// tailLen is how much of a stream's end StreamTail keeps: enough for
// "data: [DONE]" and the line breaks around it.
const tailLen = 32

// StreamTail remembers the last bytes written to it, so that the end of a
// server-sent event stream can be checked without keeping the stream. The
// zero value is ready to use.
type StreamTail struct {
	buf [tailLen]byte
	n   int
}

// Write keeps the last bytes of p. It never fails.
func (s *StreamTail) Write(p []byte) (int, error) {
	if len(p) >= tailLen {
		s.n = copy(s.buf[:], p[len(p)-tailLen:])
		return len(p), nil
	}
	if s.n+len(p) > tailLen {
		drop := s.n + len(p) - tailLen
		copy(s.buf[:], s.buf[drop:s.n])
		s.n -= drop
	}
	s.n += copy(s.buf[s.n:], p)
	return len(p), nil
}

// Done reports whether the stream's last event is the OpenAI terminator,
// a line "data: [DONE]" (the space after the colon is optional in SSE).
// A stream cut short, by the server or on the way, lacks it.
func (s *StreamTail) Done() bool {
	b := bytes.TrimRight(s.buf[:s.n], "\r\n \t")
	rest, ok := bytes.CutSuffix(b, []byte("[DONE]"))
	if !ok {
		return false
	}
	rest = bytes.TrimSuffix(rest, []byte(" "))
	rest, ok = bytes.CutSuffix(rest, []byte("data:"))
	return ok && (len(rest) == 0 || rest[len(rest)-1] == '\n' || rest[len(rest)-1] == '\r')
}
