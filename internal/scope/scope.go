// Package scope is the only code that knows scope syntax.
//
// A scope names what a key may reach: a whole feature ("chatbot"), or a
// resource inside it ("chatbot:gpt-4o-mini"), or every resource whose name
// starts with a prefix ("code-generation:claude-sonnet-4-*").
//
// # Grammar
//
//	scope    = feature [ ":" pattern ]
//	feature  = [a-z0-9] [a-z0-9._-]*
//	pattern  = "*" | resource | resource "*"
//	resource = [A-Za-z0-9] [A-Za-z0-9._/:-]*
//
// "feature:*" means the same as "feature" and is printed as "feature".
// Resource matching is exact and case-sensitive: providers treat model and
// dataset names as opaque identifiers, so "GPT-4o" and "gpt-4o" are different
// resources and a scope for one never grants the other.
//
// Everything else holds a [Scope] or a [Set]; no other package splits scope
// strings.
package scope

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest scope string Parse accepts. Scopes are stored with
// every key and shown in lists, so an unbounded one is a mistake, not a need.
const MaxLen = 256

// Scope grants one feature, or some resources of one feature. The zero Scope
// is invalid and grants nothing.
type Scope struct {
	// Feature is the feature's name, e.g. "chatbot".
	Feature string
	// Resource is the resource pattern; the zero Pattern means every resource.
	Resource Pattern
}

// Pattern selects resources inside a feature: all of them, one by its exact
// name, or all those whose names start with a prefix.
type Pattern struct {
	// Name is the exact resource name, or the prefix when Prefix is set. An
	// empty Name with Prefix set, or the zero Pattern, means every resource.
	Name string
	// Prefix makes Name a prefix rather than an exact name.
	Prefix bool
}

// All reports whether p selects every resource.
func (p Pattern) All() bool { return p.Name == "" }

// Match reports whether p selects the resource named r.
func (p Pattern) Match(r string) bool {
	switch {
	case p.All():
		return true
	case p.Prefix:
		return strings.HasPrefix(r, p.Name)
	default:
		return r == p.Name
	}
}

// Covers reports whether every resource q selects is also selected by p.
func (p Pattern) Covers(q Pattern) bool {
	switch {
	case p.All():
		return true
	case q.All():
		return false
	case p.Prefix:
		return strings.HasPrefix(q.Name, p.Name)
	default:
		return !q.Prefix && q.Name == p.Name
	}
}

// intersect returns the pattern selecting what both p and q select, and
// false if they select nothing in common. Prefix patterns form a chain under
// intersection, so the result is always a single pattern.
func (p Pattern) intersect(q Pattern) (Pattern, bool) {
	switch {
	case p.Covers(q):
		return q, true
	case q.Covers(p):
		return p, true
	case p.Prefix && !q.Prefix && strings.HasPrefix(q.Name, p.Name):
		return q, true
	case q.Prefix && !p.Prefix && strings.HasPrefix(p.Name, q.Name):
		return p, true
	default:
		return Pattern{}, false
	}
}

// String returns the pattern as written in a scope: "*", "name" or "name*".
func (p Pattern) String() string {
	switch {
	case p.All():
		return "*"
	case p.Prefix:
		return p.Name + "*"
	default:
		return p.Name
	}
}

// New returns the scope for feature and resource pattern text, validated as
// Parse would validate "feature:pattern". An empty pattern means the whole
// feature.
func New(feature, pattern string) (Scope, error) {
	if pattern == "" {
		return Parse(feature)
	}
	return Parse(feature + ":" + pattern)
}

// MustParse is like Parse but panics on error. It is for constants in tests
// and examples, never for input.
func MustParse(s string) Scope {
	sc, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sc
}

// Parse parses a scope string. Its errors are *SyntaxError values that say
// what is wrong and where.
func Parse(s string) (Scope, error) {
	if s == "" {
		return Scope{}, syntaxError(s, "empty scope")
	}
	if len(s) > MaxLen {
		return Scope{}, syntaxError(s, fmt.Sprintf("longer than %d characters", MaxLen))
	}
	feature, pattern, hasPattern := strings.Cut(s, ":")
	if err := checkFeature(s, feature); err != nil {
		return Scope{}, err
	}
	if !hasPattern {
		return Scope{Feature: feature}, nil
	}
	p, err := parsePattern(s, pattern)
	if err != nil {
		return Scope{}, err
	}
	return Scope{Feature: feature, Resource: p}, nil
}

func checkFeature(s, f string) error {
	if f == "" {
		return syntaxError(s, "missing feature name before ':'")
	}
	for i := range len(f) {
		c := f[i]
		ok := isLowerAlnum(c) || (i > 0 && (c == '.' || c == '_' || c == '-'))
		if !ok {
			return syntaxError(s, fmt.Sprintf("feature name %q: %s: feature names are lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", f, badChar(f, i)))
		}
	}
	return nil
}

func parsePattern(s, p string) (Pattern, error) {
	if p == "" {
		return Pattern{}, syntaxError(s, "missing resource after ':' (use 'feature' or 'feature:*' for every resource)")
	}
	if p == "*" {
		return Pattern{}, nil
	}
	name, prefix := strings.CutSuffix(p, "*")
	for i := range len(name) {
		c := name[i]
		ok := isAlnum(c) || (i > 0 && (c == '.' || c == '_' || c == '-' || c == '/' || c == ':'))
		if !ok {
			if c == '*' {
				return Pattern{}, syntaxError(s, fmt.Sprintf("resource %q: '*' is allowed only at the end", p))
			}
			return Pattern{}, syntaxError(s, fmt.Sprintf("resource %q: %s: resources are letters, digits, '.', '_', '-', '/' and ':', starting with a letter or digit", p, badChar(p, i)))
		}
	}
	return Pattern{Name: name, Prefix: prefix}, nil
}

// badChar describes the offending character at s[i] for an error message.
// It decodes the whole rune, so "é" is not reported as its first byte.
// Every byte before i is ASCII (or Parse would have stopped there), so i+1 is
// the character's position as people count.
func badChar(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte %#02x (not UTF-8) at position %d", s[i], i+1)
	}
	return fmt.Sprintf("character %q at position %d", r, i+1)
}

func isLowerAlnum(c byte) bool { return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') }

func isAlnum(c byte) bool { return isLowerAlnum(c) || ('A' <= c && c <= 'Z') }

// String returns the scope in its canonical text form, which Parse accepts
// and maps back to the same Scope.
func (s Scope) String() string {
	if s.Resource.All() {
		return s.Feature
	}
	return s.Feature + ":" + s.Resource.String()
}

// appendText appends s.String() to b.
func (s Scope) appendText(b []byte) []byte {
	b = append(b, s.Feature...)
	if s.Resource.All() {
		return b
	}
	b = append(b, ':')
	b = append(b, s.Resource.Name...)
	if s.Resource.Prefix {
		b = append(b, '*')
	}
	return b
}

// IsZero reports whether s is the zero Scope.
func (s Scope) IsZero() bool { return s.Feature == "" }

// Allows reports whether s grants the resource r of feature f. An empty r
// asks for the feature itself, which only a whole-feature scope grants.
func (s Scope) Allows(f, r string) bool {
	if s.Feature == "" || s.Feature != f {
		return false
	}
	if r == "" {
		return s.Resource.All()
	}
	return s.Resource.Match(r)
}

// Covers reports whether s grants everything t grants.
func (s Scope) Covers(t Scope) bool {
	return s.Feature != "" && s.Feature == t.Feature && s.Resource.Covers(t.Resource)
}

// MarshalText implements encoding.TextMarshaler.
func (s Scope) MarshalText() ([]byte, error) {
	if s.IsZero() {
		return nil, fmt.Errorf("scope: marshal zero scope")
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (s *Scope) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
