package audit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scopegate/scopegate/internal/apikey"
)

// DecodeError is why [Decode] refused a line, and where.
type DecodeError struct {
	// Offset is the byte offset in the line where decoding stopped.
	Offset int
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("audit line: at byte %d: %s", e.Offset, e.Reason)
}

// Decode parses one version 1 line, without its newline. It is strict: it
// accepts exactly the lines that [Encode] writes (fields in order, known
// fields only, the canonical string escaping and integer form, no
// whitespace), so that Encode(Decode(line)) reproduces line byte for byte.
// The error is a *DecodeError.
func Decode(line []byte) (Record, error) {
	d := decoder{b: line}
	if len(line) > maxLine {
		d.fail(fmt.Sprintf("line of %d bytes exceeds %d", len(line), maxLine))
	}
	d.lit(`{"v":1,"idx":`)
	r := Record{Index: d.uint()}
	d.lit(`,"ts":`)
	r.Time = d.time()
	d.lit(`,"event":`)
	nameAt := d.i
	name := d.str()
	switch {
	case d.err != nil:
	case name == "authz":
		r.Event = decodeAuthz(&d)
	case name == "usage":
		r.Event = decodeUsage(&d)
	case name == OverrideEvent:
		r.Event = decodeOverride(&d)
	case strings.HasPrefix(name, AlertPrefix) && isAlertRule(name[len(AlertPrefix):]):
		r.Event = decodeAlert(&d, name[len(AlertPrefix):])
	case isAdminAction(name):
		r.Event = decodeAdmin(&d, name)
	default:
		d.i = nameAt
		d.fail(fmt.Sprintf("unknown event %q", name))
	}
	d.lit("}")
	if d.err == nil && d.i != len(d.b) {
		d.fail("data after the closing brace")
	}
	if d.err != nil {
		return Record{}, d.err
	}
	return r, nil
}

// DecodeHeader returns a record line's position and time after checking
// its header and shape, without decoding its event: what a reader that
// only needs to find its place in the log (a stream, a cursor) requires.
// It does not verify anything; audit verify does.
func DecodeHeader(line []byte) (idx uint64, ts time.Time, err error) {
	return decodeHeader(line)
}

// decodeHeader reads what recovery needs of a line: its idx and ts. It
// checks the header and the line's shape (a version 1 object of printable
// UTF-8), not its event: recovery looks for crash damage (zeros, lines cut
// short), and must not cut off records of event types that a newer
// version added. audit verify decodes every line in full.
func decodeHeader(line []byte) (idx uint64, ts time.Time, err error) {
	d := decoder{b: line}
	d.lit(`{"v":1,"idx":`)
	idx = d.uint()
	d.lit(`,"ts":`)
	ts = d.time()
	d.lit(`,"event":"`)
	switch {
	case d.err != nil:
		return 0, time.Time{}, d.err
	case len(line) > maxLine || line[len(line)-1] != '}':
		return 0, time.Time{}, &DecodeError{Offset: len(line), Reason: "line does not end with }"}
	case !utf8.Valid(line):
		return 0, time.Time{}, &DecodeError{Offset: d.i, Reason: "invalid UTF-8"}
	}
	for i, c := range line {
		if c < 0x20 {
			return 0, time.Time{}, &DecodeError{Offset: i, Reason: "control character"}
		}
	}
	return idx, ts, nil
}

func decodeAuthz(d *decoder) Authz {
	return Authz{
		RequestID: d.strField("req"),
		KeyID:     d.strField("key"),
		Principal: d.strField("principal"),
		Team:      d.strField("team"),
		Feature:   d.strField("feature"),
		Scope:     d.strField("scope"),
		Endpoint:  d.strField("endpoint"),
		Resource:  d.strField("resource"),
		ClientIP:  d.strField("client_ip"),
		Decision:  d.strField("decision"),
		Reason:    d.strField("reason"),
		Status:    d.intField("status", math.MinInt, math.MaxInt),
	}
}

func decodeUsage(d *decoder) Usage {
	u := Usage{
		RequestID:    d.strField("req"),
		KeyID:        d.strField("key"),
		Status:       d.intField("status", math.MinInt, math.MaxInt),
		InputTokens:  int64(d.intField("tokens_in", math.MinInt64, math.MaxInt64)),
		OutputTokens: int64(d.intField("tokens_out", math.MinInt64, math.MaxInt64)),
		UsageKnown:   d.intField("usage_known", 0, 1) == 1,
	}
	// Bounded so that the milliseconds fit a time.Duration and encode back
	// to the same number.
	const maxMs = math.MaxInt64 / int64(time.Millisecond)
	u.Latency = time.Duration(d.intField("latency_ms", -maxMs, maxMs)) * time.Millisecond
	u.Outcome = d.strField("outcome")
	return u
}

func decodeAdmin(d *decoder, action string) Admin {
	a := Admin{
		Action:    action,
		Actor:     d.strField("actor"),
		Target:    d.strField("target"),
		Principal: apikey.PrincipalID(d.strField("principal")),
	}
	d.lit(`,"changes":[`)
	if d.peek(']') {
		d.i++
		return a
	}
	for d.err == nil {
		var f apikey.FieldChange
		d.lit(`{"field":`)
		f.Name = d.str()
		d.lit(`,"before":`)
		f.Before = d.str()
		d.lit(`,"after":`)
		f.After = d.str()
		d.lit("}")
		a.Fields = append(a.Fields, f)
		if d.peek(']') {
			d.i++
			break
		}
		d.lit(",")
	}
	return a
}

func decodeOverride(d *decoder) Override {
	return Override{
		Reason:     d.strField("reason"),
		SignedSize: d.uintField("signed_size"),
		SignedRoot: d.strField("signed_root"),
		Records:    d.uintField("records"),
		Superseded: d.strField("superseded"),
	}
}

func decodeAlert(d *decoder, rule string) Alert {
	return Alert{
		Rule:      rule,
		Subject:   d.strField("subject"),
		Principal: d.strField("principal"),
		Figures:   d.strField("figures"),
	}
}

// decoder reads a line from left to right. After the first error every
// method is a no-op, so field lists read as straight-line code.
type decoder struct {
	b   []byte
	i   int
	err *DecodeError
}

func (d *decoder) fail(reason string) {
	if d.err == nil {
		d.err = &DecodeError{Offset: d.i, Reason: reason}
	}
}

func (d *decoder) peek(c byte) bool {
	return d.err == nil && d.i < len(d.b) && d.b[d.i] == c
}

// lit consumes exactly s.
func (d *decoder) lit(s string) {
	if d.err != nil {
		return
	}
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		d.fail(fmt.Sprintf("want %q", s))
		return
	}
	d.i += len(s)
}

func (d *decoder) strField(name string) string {
	d.lit(`,"` + name + `":`)
	return d.str()
}

func (d *decoder) intField(name string, lo, hi int64) int {
	d.lit(`,"` + name + `":`)
	return int(d.int(lo, hi))
}

func (d *decoder) uintField(name string) uint64 {
	d.lit(`,"` + name + `":`)
	return d.uint()
}

// digits consumes a canonical unsigned decimal: "0", or a nonzero digit
// followed by digits.
func (d *decoder) digits() string {
	if d.err != nil {
		return ""
	}
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	s := string(d.b[start:d.i])
	switch {
	case s == "":
		d.fail("want a digit")
	case len(s) > 1 && s[0] == '0':
		d.i = start
		d.fail("leading zero")
	}
	return s
}

func (d *decoder) uint() uint64 {
	start := d.i
	s := d.digits()
	if d.err != nil {
		return 0
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.i = start
		d.fail("integer out of range")
	}
	return v
}

// int consumes a canonical integer in [lo, hi]; "-0" is not canonical.
func (d *decoder) int(lo, hi int64) int64 {
	if d.err != nil {
		return 0
	}
	start := d.i
	neg := d.peek('-')
	if neg {
		d.i++
	}
	s := d.digits()
	if d.err != nil {
		return 0
	}
	if neg && s == "0" {
		d.i = start
		d.fail("negative zero")
		return 0
	}
	if neg {
		s = "-" + s
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		d.i = start
		d.fail("integer out of range")
		return 0
	}
	return v
}

func (d *decoder) time() time.Time {
	start := d.i
	s := d.str()
	if d.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(tsLayout, s)
	if err != nil || len(s) != len(tsLayout) || t.Format(tsLayout) != s {
		d.i = start
		d.fail(fmt.Sprintf("ts %q is not %s", s, tsLayout))
		return time.Time{}
	}
	return t
}

// str consumes a string in the canonical escaping of [appendString] and
// refuses every other spelling of the same text.
func (d *decoder) str() string {
	d.lit(`"`)
	if d.err != nil {
		return ""
	}
	start := d.i
	// Fast path: no escapes.
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		d.i++
	}
	if d.i < len(d.b) && d.b[d.i] == '"' {
		d.i++
		return string(d.b[start : d.i-1])
	}
	out := append([]byte(nil), d.b[start:d.i]...)
	for d.err == nil {
		if d.i >= len(d.b) {
			d.fail("unterminated string")
			break
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out)
		case c < 0x20:
			d.fail("raw control character in string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				d.fail("invalid UTF-8")
				break
			}
			out = append(out, d.b[d.i:d.i+size]...)
			d.i += size
		case c == '\\':
			out = d.escape(out)
		default:
			out = append(out, c)
			d.i++
		}
	}
	return ""
}

// shortEscapes maps the letter after a backslash to the byte it stands for.
var shortEscapes = map[byte]byte{'"': '"', '\\': '\\', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape consumes one escape sequence at d.i and appends what it stands for.
func (d *decoder) escape(out []byte) []byte {
	if d.i+1 >= len(d.b) {
		d.fail("unterminated escape")
		return out
	}
	e := d.b[d.i+1]
	if c, ok := shortEscapes[e]; ok {
		d.i += 2
		return append(out, c)
	}
	if e != 'u' || d.i+6 > len(d.b) || string(d.b[d.i+2:d.i+4]) != "00" {
		d.fail("escape other than \\\" \\\\ \\b \\f \\n \\r \\t or \\u00xx")
		return out
	}
	v, err := strconv.ParseUint(string(d.b[d.i+4:d.i+6]), 16, 8)
	hex := d.b[d.i+4 : d.i+6]
	lower := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
	if err != nil || !lower(hex[0]) || !lower(hex[1]) || v >= 0x20 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t' {
		d.fail("\\u escape of a character that has another canonical form")
		return out
	}
	d.i += 6
	return append(out, byte(v))
}
