package provider

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The strict scanner. One pass over a request body checks that it is
// exactly one JSON object (RFC 8259) with the stricter rules of I-JSON
// (RFC 7493) and a few of our own, and records the top-level members for
// the extraction that follows. Strictness is the point: where two JSON
// parsers could read one body two ways — the gateway authorizing one
// reading and the upstream acting on another — the body is refused.
//
//   - UTF-8 only, no unpaired UTF-16 surrogate escapes (I-JSON 2.1): other
//     parsers replace, keep or reject them, so the same bytes decode to
//     different names and values.
//   - Member names unique per object after decoding escapes, and unique
//     in any letter case (Unicode simple folding): Go's encoding/json, for
//     one, matches names to fields case-insensitively and keeps the last
//     duplicate, while other parsers keep the first or refuse.
//   - Nesting at most maxDepth, bounding this scanner's recursion and the
//     upstream's.
//   - Nothing but whitespace after the object.

// maxDepth is the deepest nesting of objects and arrays accepted. Real
// requests nest a dozen levels at most (a JSON schema inside a tool
// definition).
const maxDepth = 64

// foldMapAt is the number of members of one object past which names are
// checked through a hash map instead of against each other, so an object
// with many members costs linear time, not quadratic.
const foldMapAt = 16

// span is a byte range [start, end) of the body.
type span struct{ start, end int }

// member is one top-level member of the request object.
type member struct {
	name []byte // decoded: a part of the body unless it has escapes
	key  span   // the name token, quotes included
	val  span   // the value token
	// strBytes is the decoded size of the strings in the value.
	strBytes int64
}

// scanner checks a body and records its top-level members. It is used
// once, for one body.
type scanner struct {
	data    []byte
	members []member
	// strBytes is the decoded size in bytes of every string value (member
	// names excluded).
	strBytes int64
	// names is a stack of the decoded member names of the objects being
	// scanned, innermost last; each object checks its new names against
	// its own part.
	names [][]byte
	// seed hashes the names of objects with many members.
	seed maphash.Seed
}

// scanError is a failure found by the scanner. The path to where it was
// found is collected as the recursion unwinds, innermost segment first, so
// the happy path pays nothing for it.
type scanError struct {
	msg  string
	path []string // reversed
	// atMember says the last path segment names the member at fault (a
	// duplicate name), rather than the value the failure is inside.
	atMember bool
}

func (e *scanError) within(seg string) *scanError {
	e.path = append(e.path, seg)
	return e
}

// requestError turns e into the error ParseRequest returns.
func (e *scanError) requestError() *RequestError {
	var b strings.Builder
	for i := len(e.path) - 1; i >= 0; i-- {
		seg := e.path[i]
		if b.Len() > 0 && seg[0] != '[' {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	param, where := b.String(), b.String()
	if e.atMember {
		// The message names the member; say which object it is in.
		where = where[:len(where)-len(e.path[0])]
		where = strings.TrimSuffix(where, ".")
	}
	msg := e.msg
	if where != "" {
		msg += " (in " + where + ")"
	}
	return &RequestError{Param: param, Message: msg}
}

// scan checks s.data and records its top-level members.
func (s *scanner) scan() *RequestError {
	d := s.data
	if len(d) >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF {
		return &RequestError{Message: "request body starts with a byte order mark; send JSON without one"}
	}
	i := s.space(0)
	if i == len(d) {
		return &RequestError{Message: "request body is empty; send one JSON object"}
	}
	switch d[i] {
	case '{':
	case '[':
		return &RequestError{Message: "request body is a JSON array; send one JSON object"}
	default:
		return s.syntax(i, "request body must be one JSON object").requestError()
	}
	s.names = make([][]byte, 0, 32)
	s.members = make([]member, 0, 16)
	end, err := s.object(i, 1)
	if err != nil {
		return err.requestError()
	}
	if j := s.space(end); j != len(d) {
		if !utf8.Valid(d[j:]) {
			return &RequestError{Message: "request body is not valid UTF-8"}
		}
		return &RequestError{Message: fmt.Sprintf("request body has data after the JSON object, at byte %d; send exactly one JSON object", j)}
	}
	return nil
}

// space returns the index of the first non-whitespace byte at or after i.
func (s *scanner) space(i int) int {
	for i < len(s.data) {
		switch s.data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// syntax reports what is wrong at offset i, naming invalid UTF-8 as such.
func (s *scanner) syntax(i int, want string) *scanError {
	if i >= len(s.data) {
		return &scanError{msg: "request body is not valid JSON: it ends early; " + want}
	}
	if c := s.data[i]; c >= utf8.RuneSelf {
		if r, _ := utf8.DecodeRune(s.data[i:]); r == utf8.RuneError {
			return &scanError{msg: fmt.Sprintf("request body is not valid UTF-8 (byte %d)", i)}
		}
	}
	r, _ := utf8.DecodeRune(s.data[i:])
	return &scanError{msg: fmt.Sprintf("request body is not valid JSON: unexpected %s at byte %d; %s", quoteRune(r), i, want)}
}

func quoteRune(r rune) string {
	if r < utf8.RuneSelf && strconv.IsPrint(r) {
		return strconv.QuoteRune(r)
	}
	return fmt.Sprintf("%U", r)
}

// value checks the value at i (not whitespace) inside a container at
// depth, returning the offset just past it.
func (s *scanner) value(i, depth int) (int, *scanError) {
	if i >= len(s.data) {
		return i, s.syntax(i, "expected a value")
	}
	switch c := s.data[i]; c {
	case '{':
		return s.object(i, depth+1)
	case '[':
		return s.array(i, depth+1)
	case '"':
		end, n, _, err := s.str(i)
		s.strBytes += n
		return end, err
	case 't':
		return s.literal(i, "true")
	case 'f':
		return s.literal(i, "false")
	case 'n':
		return s.literal(i, "null")
	default:
		if c == '-' || isDigit(c) {
			return s.number(i)
		}
		return i, s.syntax(i, "expected a value")
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (s *scanner) literal(i int, lit string) (int, *scanError) {
	if len(s.data)-i < len(lit) || string(s.data[i:i+len(lit)]) != lit {
		return i, s.syntax(i, "expected a value")
	}
	return i + len(lit), nil
}

// number checks the RFC 8259 number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number(i int) (int, *scanError) {
	d := s.data
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && isDigit(d[i]):
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return i, s.syntax(i, "expected a digit")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return i, s.syntax(i, "expected a digit after the decimal point")
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return i, s.syntax(i, "expected a digit in the exponent")
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	return i, nil
}

// str checks the string token at i, returning the offset past its closing
// quote, its decoded size in bytes, and whether it has escapes.
func (s *scanner) str(i int) (end int, n int64, escaped bool, err *scanError) {
	d := s.data
	i++
	for i < len(d) {
		start := i
		for i < len(d) && d[i] >= 0x20 && d[i] < utf8.RuneSelf && d[i] != '"' && d[i] != '\\' {
			i++
		}
		n += int64(i - start)
		if i >= len(d) {
			break
		}
		switch c := d[i]; {
		case c == '"':
			return i + 1, n, escaped, nil
		case c == '\\':
			escaped = true
			adv, size, err := s.escape(i)
			if err != nil {
				return i, n, escaped, err
			}
			i += adv
			n += int64(size)
		case c < 0x20:
			return i, n, escaped, &scanError{msg: fmt.Sprintf("request body is not valid JSON: control character %U in a string at byte %d; escape it", c, i)}
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return i, n, escaped, &scanError{msg: fmt.Sprintf("request body is not valid UTF-8 (byte %d)", i)}
			}
			i += size
			n += int64(size)
		}
	}
	return i, n, escaped, s.syntax(i, "a string is not terminated")
}

// escape checks the escape sequence at i (a backslash), returning how many
// bytes it spans and how many bytes it decodes to.
func (s *scanner) escape(i int) (adv, size int, err *scanError) {
	d := s.data
	if i+1 >= len(d) {
		return 0, 0, s.syntax(i+1, "a string is not terminated")
	}
	switch d[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, 1, nil
	case 'u':
	default:
		return 0, 0, s.syntax(i+1, "invalid escape sequence")
	}
	r, ok := hex4(d, i+2)
	if !ok {
		return 0, 0, &scanError{msg: fmt.Sprintf("request body is not valid JSON: invalid \\u escape at byte %d", i)}
	}
	switch {
	case utf16IsHigh(r):
		if lo, ok := hex4(d, i+8); ok && d[i+6] == '\\' && d[i+7] == 'u' && utf16IsLow(lo) {
			return 12, 4, nil
		}
		fallthrough
	case utf16IsLow(r):
		return 0, 0, &scanError{msg: fmt.Sprintf("request body has an unpaired UTF-16 surrogate escape \\u%04x at byte %d; strings must be valid Unicode", r, i)}
	}
	return 6, utf8.RuneLen(r), nil
}

// array checks the array at i, at depth.
func (s *scanner) array(i, depth int) (int, *scanError) {
	if depth > maxDepth {
		return i, &scanError{msg: fmt.Sprintf("request body nests objects and arrays deeper than %d levels", maxDepth)}
	}
	i = s.space(i + 1)
	if i < len(s.data) && s.data[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		var err *scanError
		if i, err = s.value(i, depth); err != nil {
			return i, err.within("[" + strconv.Itoa(n) + "]")
		}
		i = s.space(i)
		switch {
		case i < len(s.data) && s.data[i] == ',':
			i = s.space(i + 1)
		case i < len(s.data) && s.data[i] == ']':
			return i + 1, nil
		default:
			return i, s.syntax(i, "expected ',' or ']' after an array element")
		}
	}
}

// object checks the object at i, at depth; at depth 1 it records the
// members.
func (s *scanner) object(i, depth int) (int, *scanError) {
	if depth > maxDepth {
		return i, &scanError{msg: fmt.Sprintf("request body nests objects and arrays deeper than %d levels", maxDepth)}
	}
	base := len(s.names)
	defer func() { s.names = s.names[:base] }()
	var folded map[uint64]int
	i = s.space(i + 1)
	if i < len(s.data) && s.data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(s.data) || s.data[i] != '"' {
			return i, s.syntax(i, "expected a member name in double quotes")
		}
		kstart := i
		kend, _, escaped, err := s.str(i)
		if err != nil {
			return kend, err
		}
		name := s.data[kstart+1 : kend-1]
		if escaped {
			name = appendUnescaped(nil, name)
		}
		if err := s.unique(base, name, &folded); err != nil {
			return i, err
		}
		s.names = append(s.names, name)
		i = s.space(kend)
		if i >= len(s.data) || s.data[i] != ':' {
			return i, s.syntax(i, "expected ':' after a member name")
		}
		i = s.space(i + 1)
		vstart, before := i, s.strBytes
		if i, err = s.value(i, depth); err != nil {
			return i, err.within(pathName(name))
		}
		if depth == 1 {
			s.members = append(s.members, member{name: name, key: span{kstart, kend},
				val: span{vstart, i}, strBytes: s.strBytes - before})
		}
		i = s.space(i)
		switch {
		case i < len(s.data) && s.data[i] == ',':
			i = s.space(i + 1)
		case i < len(s.data) && s.data[i] == '}':
			return i + 1, nil
		default:
			return i, s.syntax(i, "expected ',' or '}' after an object member")
		}
	}
}
