package audit

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/scopegate/scopegate/internal/apikey"
)

// maxLine is the largest line, in bytes without the newline, that the log
// writes or reads. It bounds what a reader must buffer; no real event comes
// near it.
const maxLine = 1 << 20

// tsLayout is the only time format of a line: UTC, milliseconds, "Z".
const tsLayout = "2006-01-02T15:04:05.000Z"

// Encode returns the version 1 line of e as record idx at time ts (in UTC,
// truncated to the millisecond): the exact bytes hashed into the tree, with
// no trailing newline. Strings that are not valid UTF-8 are written with
// each invalid byte replaced by U+FFFD, so an event from odd client input is
// still recorded.
func Encode(idx uint64, ts time.Time, e Event) ([]byte, error) {
	body, err := encodeBody(e)
	if err != nil {
		return nil, err
	}
	if err := checkTime(ts); err != nil {
		return nil, err
	}
	line := appendHeader(make([]byte, 0, 64+len(body)), idx, ts)
	line = append(line, body...)
	if len(line) > maxLine {
		return nil, fmt.Errorf("audit event %s: line of %d bytes exceeds %d", e.EventName(), len(line), maxLine)
	}
	return line, nil
}

// EncodeBody returns the part of e's version 1 line that does not depend on
// its place in the log: everything after the header, from `,"event":` to
// the closing brace. [Line] completes it once the record has an index and a
// time, so that Line(idx, ts, body) is exactly Encode(idx, ts, e). A log
// that stores events before it numbers them (the cluster log in
// PostgreSQL) keeps this body; it fails for the events Encode refuses.
func EncodeBody(e Event) ([]byte, error) { return encodeBody(e) }

// Line returns the line of the record at idx with time ts (in UTC,
// truncated to the millisecond) whose body [EncodeBody] returned: the
// exact bytes hashed into the tree, with no trailing newline. It checks the
// time and the line's length, not the body, which must come from
// EncodeBody.
func Line(idx uint64, ts time.Time, body []byte) ([]byte, error) {
	if err := checkTime(ts); err != nil {
		return nil, err
	}
	line := appendHeader(make([]byte, 0, 64+len(body)), idx, ts)
	line = append(line, body...)
	if len(line) > maxLine {
		return nil, fmt.Errorf("audit: line of %d bytes exceeds %d", len(line), maxLine)
	}
	return line, nil
}

// appendHeader appends the start of a line, up to and excluding the
// "event" field: `{"v":1,"idx":N,"ts":"…"`.
func appendHeader(dst []byte, idx uint64, ts time.Time) []byte {
	dst = append(dst, `{"v":1,"idx":`...)
	dst = strconv.AppendUint(dst, idx, 10)
	dst = append(dst, `,"ts":"`...)
	dst = ts.UTC().AppendFormat(dst, tsLayout)
	return append(dst, '"')
}

// encodeBody returns the rest of a line after [appendHeader]: the event name,
// its fields, and the closing brace. The log encodes bodies in the calling
// goroutine, so invalid events fail there and the single writer only adds
// headers.
func encodeBody(e Event) ([]byte, error) {
	e, err := eventValue(e)
	if err != nil {
		return nil, err
	}
	name := e.EventName()
	if err := checkEventName(e, name); err != nil {
		return nil, err
	}
	enc := encoder{buf: make([]byte, 0, 256)}
	enc.str("event", name)
	e.appendFields(&enc)
	enc.buf = append(enc.buf, '}')
	if len(enc.buf) > maxLine-64 {
		return nil, fmt.Errorf("audit event %s: %d bytes exceeds the line limit", name, len(enc.buf))
	}
	return enc.buf, nil
}

// eventValue returns e with a pointer to an event type replaced by its
// value, so that a *Admin is checked like an Admin and a nil pointer is an
// error rather than a panic.
func eventValue(e Event) (Event, error) {
	var nilPtr bool
	switch v := e.(type) {
	case nil:
		nilPtr = true
	case *Authz:
		if nilPtr = v == nil; !nilPtr {
			return *v, nil
		}
	case *Usage:
		if nilPtr = v == nil; !nilPtr {
			return *v, nil
		}
	case *Admin:
		if nilPtr = v == nil; !nilPtr {
			return *v, nil
		}
	case *Override:
		if nilPtr = v == nil; !nilPtr {
			return *v, nil
		}
	case *Alert:
		if nilPtr = v == nil; !nilPtr {
			return *v, nil
		}
	}
	if nilPtr {
		return nil, errors.New("audit event is nil")
	}
	return e, nil
}

// checkEventName refuses a name that would decode as another type: each
// event type owns its names, and the decoder picks fields by name.
func checkEventName(e Event, name string) error {
	if a, isAlert := e.(Alert); isAlert {
		if !isAlertRule(a.Rule) {
			return fmt.Errorf("audit: alert rule %q is not one lowercase word", a.Rule)
		}
		return nil
	}
	if _, isAdmin := e.(Admin); !isAdmin {
		return nil // fixed by the type
	}
	if !isAdminAction(name) {
		return fmt.Errorf("audit: %q is not an admin action (want a dotted lowercase name such as key.create)", name)
	}
	return nil
}

// isAdminAction reports whether name is an admin change's action: dotted
// lowercase words ("key.create", "principal.disable"), outside the names
// that other event types own ("authz", "usage", "audit.*", "alert.*").
func isAdminAction(name string) bool {
	if len(name) > 64 {
		return false
	}
	for _, reserved := range []string{"audit.", "alert."} {
		if len(name) >= len(reserved) && name[:len(reserved)] == reserved {
			return false
		}
	}
	dots, wordStart := 0, true
	for i := range len(name) {
		c := name[i]
		switch {
		case c == '.':
			if wordStart {
				return false
			}
			dots++
			wordStart = true
		case c >= 'a' && c <= 'z':
			wordStart = false
		case (c >= '0' && c <= '9' || c == '_') && !wordStart:
		default:
			return false
		}
	}
	return dots > 0 && !wordStart
}

// isAlertRule reports whether rule is an alert's rule: one word of a-z,
// 0-9 and _, starting with a letter, at most 32 bytes.
func isAlertRule(rule string) bool {
	if rule == "" || len(rule) > 32 || rule[0] < 'a' || rule[0] > 'z' {
		return false
	}
	for i := range len(rule) {
		if c := rule[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// checkTime refuses times whose year does not have four digits: the line's
// ts field has a fixed width.
func checkTime(ts time.Time) error {
	if y := ts.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("audit: time %v is outside years 0000-9999", ts)
	}
	return nil
}

// encoder appends fields in the order they are called. Strings and
// integers are written by hand, never by encoding/json, because these bytes
// are hashed into the tree and must be fixed by this format forever.
type encoder struct{ buf []byte }

func (e *encoder) key(name string) {
	e.buf = append(e.buf, ',', '"')
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, '"', ':')
}

func (e *encoder) str(name, v string) {
	e.key(name)
	e.buf = appendString(e.buf, v)
}

func (e *encoder) int(name string, v int64) {
	e.key(name)
	e.buf = strconv.AppendInt(e.buf, v, 10)
}

func (e *encoder) uint(name string, v uint64) {
	e.key(name)
	e.buf = strconv.AppendUint(e.buf, v, 10)
}

// changes writes the one nested value of the format: an array of objects of
// three strings.
func (e *encoder) changes(name string, fields []apikey.FieldChange) {
	e.key(name)
	e.buf = append(e.buf, '[')
	for i, f := range fields {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = append(e.buf, `{"field":`...)
		e.buf = appendString(e.buf, f.Name)
		e.buf = append(e.buf, `,"before":`...)
		e.buf = appendString(e.buf, f.Before)
		e.buf = append(e.buf, `,"after":`...)
		e.buf = appendString(e.buf, f.After)
		e.buf = append(e.buf, '}')
	}
	e.buf = append(e.buf, ']')
}

// appendString appends s as a JSON string in the format's one canonical
// escaping: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control
// characters below U+0020 as `\u00xx` (lowercase hex), everything else as
// raw UTF-8. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			if c < 0x20 {
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				dst = append(dst, c)
			}
		}
		i++
	}
	return append(dst, '"')
}
