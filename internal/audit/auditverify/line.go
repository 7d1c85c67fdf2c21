package auditverify

import "bytes"

// linePrefix starts every version 1 event line: the version, then the
// record's position in the log.
const linePrefix = `{"v":1,"idx":`

// checkLine returns a *VerifyError if line (without its newline) is not a
// well-formed version 1 event line for position pos, or nil.
//
// It checks the envelope only — the fixed start
// {"v":1,"idx":<pos>,"ts":"…","event":"…" and that the whole line is one
// compact JSON object — and not each event's fields: those belong to the
// writer's decoder, and the verifier must not depend on it. The bytes are
// covered by the tree in any case; this check is what turns a deleted or
// swapped record into an exact position.
func checkLine(line []byte, pos int64) error {
	if !bytes.HasPrefix(line, []byte(linePrefix)) {
		if len(line) == 0 {
			return recordError(pos, "record %d: empty line", pos)
		}
		return recordError(pos, "record %d: does not start with %s", pos, linePrefix)
	}
	rest := line[len(linePrefix):]
	idx, n := leadingDecimal(rest)
	if n == 0 {
		return recordError(pos, "record %d: idx is not a canonical decimal number", pos)
	}
	if idx != pos {
		return recordError(pos, "record %d: idx is %d", pos, idx)
	}
	rest = rest[n:]
	if !bytes.HasPrefix(rest, []byte(`,"ts":"`)) {
		return recordError(pos, `record %d: "ts" does not follow "idx"`, pos)
	}
	rest = rest[len(`,"ts":"`):]
	// A timestamp holds no quote or escape, so its string ends at the
	// first quote.
	end := bytes.IndexByte(rest, '"')
	if end < 0 || !bytes.HasPrefix(rest[end+1:], []byte(`,"event":"`)) {
		return recordError(pos, `record %d: "event" does not follow "ts"`, pos)
	}
	if !validCompactObject(line) {
		return recordError(pos, "record %d: not one compact JSON object", pos)
	}
	return nil
}

// leadingDecimal parses the canonical decimal number (no sign, no leading
// zero) at the start of b and returns it with its length, or 0, 0 if there
// is none. Eighteen digits at most, so it cannot overflow.
func leadingDecimal(b []byte) (v int64, n int) {
	for n < len(b) && n < 19 && '0' <= b[n] && b[n] <= '9' {
		v = v*10 + int64(b[n]-'0')
		n++
	}
	if n == 0 || n == 19 || (n > 1 && b[0] == '0') {
		return 0, 0
	}
	return v, n
}

// maxDepth bounds nesting as encoding/json does, so a hostile line cannot
// exhaust the stack.
const maxDepth = 10000

// validCompactObject reports whether b is exactly one JSON object
// (RFC 8259) written without insignificant whitespace.
//
// It is written out, rather than calling json.Valid, because it runs on
// every record and is the largest cost of verification: this is several
// times faster, and it also rejects whitespace, which json.Valid allows.
// FuzzValidCompactObject checks it against encoding/json.
func validCompactObject(b []byte) bool {
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	end, ok := scanValue(b, 0, 0)
	return ok && end == len(b)
}

// scanValue scans the JSON value starting at b[i] and returns the index
// just past it.
func scanValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{':
		return scanObject(b, i, depth+1)
	case c == '[':
		return scanArray(b, i, depth+1)
	case c == '-' || '0' <= c && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return i, false
}

// scanObject scans an object starting at its '{'.
func scanObject(b []byte, i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	i++
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		var ok bool
		if i, ok = scanString(b, i); !ok {
			return i, false
		}
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		if i, ok = scanValue(b, i+1, depth); !ok || i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// scanArray scans an array starting at its '['.
func scanArray(b []byte, i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	i++
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = scanValue(b, i, depth); !ok || i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// plain marks the bytes that stand for themselves inside a JSON string:
// everything but control characters, the quote and the backslash. Bytes
// of invalid UTF-8 are accepted, as encoding/json accepts them.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString scans a string starting at its opening quote.
func scanString(b []byte, i int) (int, bool) {
	i++
	for i < len(b) {
		c := b[i]
		if plain[c] {
			i++
			continue
		}
		switch c {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default: // a control character
			return i, false
		}
	}
	return i, false
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return i, false
	}
	return i + len(lit), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
