package provider

import (
	"iter"
	"strings"
)

// Reading values out of JSON bytes without decoding the whole document.
// These helpers serve two kinds of input: parts of a request body the
// strict scanner has already checked, and upstream responses, which are
// not checked at all. So they never panic and never loop on malformed
// input; they stop early instead, and callers that need a value decode
// only that value.

// skipSpace returns the index of the first non-whitespace byte at or after
// i.
func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the offset just past the value starting at d[i]
// (whitespace first is skipped), or -1 if the input ends or is malformed
// in a way that hides where the value ends.
func skipValue(d []byte, i int) int {
	i = skipSpace(d, i)
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for i < len(d) {
			switch d[i] {
			case '"':
				if i = skipString(d, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	case '}', ']', ',', ':':
		return -1
	default:
		start := i
		for i < len(d) && !isDelimiter(d[i]) {
			i++
		}
		if i == start {
			return -1
		}
		return i
	}
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ':', ' ', '\t', '\n', '\r', '"', '{', '[':
		return true
	}
	return false
}

// skipString returns the offset just past the string token at d[i], or
// -1 if it does not end.
func skipString(d []byte, i int) int {
	for i++; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// members yields the members of the object token obj, each as its decoded
// name and its value token. It stops at anything malformed.
func members(obj []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		i := skipSpace(obj, 0)
		if i >= len(obj) || obj[i] != '{' {
			return
		}
		i = skipSpace(obj, i+1)
		for i < len(obj) && obj[i] == '"' {
			kend := skipString(obj, i)
			if kend < 0 {
				return
			}
			name := obj[i+1 : kend-1]
			if strings.IndexByte(string(name), '\\') >= 0 {
				name = appendUnescaped(nil, name)
			}
			i = skipSpace(obj, kend)
			if i >= len(obj) || obj[i] != ':' {
				return
			}
			vstart := skipSpace(obj, i+1)
			vend := skipValue(obj, vstart)
			if vend < 0 || !yield(name, obj[vstart:vend]) {
				return
			}
			i = skipSpace(obj, vend)
			if i >= len(obj) || obj[i] != ',' {
				return
			}
			i = skipSpace(obj, i+1)
		}
	}
}

// elements yields the elements of the array token arr with their indexes.
// It stops at anything malformed.
func elements(arr []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		i := skipSpace(arr, 0)
		if i >= len(arr) || arr[i] != '[' {
			return
		}
		i = skipSpace(arr, i+1)
		for n := 0; i < len(arr) && arr[i] != ']'; n++ {
			end := skipValue(arr, i)
			if end < 0 || !yield(n, arr[i:end]) {
				return
			}
			i = skipSpace(arr, end)
			if i >= len(arr) || arr[i] != ',' {
				return
			}
			i = skipSpace(arr, i+1)
		}
	}
}

// lookup returns the value token of obj's member called name.
func lookup(obj []byte, name string) ([]byte, bool) {
	for k, v := range members(obj) {
		if string(k) == name {
			return v, true
		}
	}
	return nil, false
}

// lookupStrict is lookup for checked request bodies: it also returns a
// member whose name differs from name only in letter case, which callers
// refuse, since an upstream that matches names case-insensitively would
// take it for name.
func lookupStrict(obj []byte, name string) (val []byte, ok bool, variant string) {
	for k, v := range members(obj) {
		switch {
		case string(k) == name:
			val, ok = v, true
		case variant == "" && strings.EqualFold(string(k), name):
			variant = string(k)
		}
	}
	return val, ok, variant
}

// isNull reports whether the value token v is null.
func isNull(v []byte) bool { return string(v) == "null" }
