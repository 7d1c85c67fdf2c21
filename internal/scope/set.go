package scope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

var _ json.Marshaler = Set{}

// Set is a set of scopes. The zero Set is empty and grants nothing: deny by
// default. A Set is immutable once built; its methods return new Sets.
//
// A Set is kept sorted and free of scopes covered by another of its scopes,
// so two Sets granting the same things print the same.
type Set struct {
	scopes []Scope
}

// NewSet returns the set of the given scopes, normalized.
func NewSet(scopes ...Scope) Set {
	out := make([]Scope, 0, len(scopes))
	for _, s := range scopes {
		if !s.IsZero() {
			out = append(out, s)
		}
	}
	return normalize(out)
}

// ParseSet parses each string with Parse and returns their Set. The error
// names the first scope that does not parse.
func ParseSet(ss []string) (Set, error) {
	scopes := make([]Scope, 0, len(ss))
	for _, s := range ss {
		sc, err := Parse(s)
		if err != nil {
			return Set{}, err
		}
		scopes = append(scopes, sc)
	}
	return NewSet(scopes...), nil
}

// MustParseSet is like ParseSet but panics on error; for tests and examples.
func MustParseSet(ss ...string) Set {
	s, err := ParseSet(ss)
	if err != nil {
		panic(err)
	}
	return s
}

// normalize sorts scopes and drops duplicates and scopes that another scope
// in the slice covers.
func normalize(scopes []Scope) Set {
	slices.SortFunc(scopes, compareText)
	out := scopes[:0]
	for i, s := range scopes {
		covered := false
		for j, t := range scopes {
			if i != j && t.Covers(s) && (!s.Covers(t) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return Set{}
	}
	return Set{scopes: slices.Clip(out)}
}

// compareText orders scopes as strings.Compare orders their String forms,
// without making them: normalize runs on every request, when a key's
// scopes are narrowed by its principal's ceiling.
func compareText(a, b Scope) int {
	var ba, bb [128]byte
	return bytes.Compare(a.appendText(ba[:0]), b.appendText(bb[:0]))
}

// Len returns the number of scopes in s.
func (s Set) Len() int { return len(s.scopes) }

// IsEmpty reports whether s grants nothing.
func (s Set) IsEmpty() bool { return len(s.scopes) == 0 }

// Scopes returns a copy of the scopes in s, sorted.
func (s Set) Scopes() []Scope { return slices.Clone(s.scopes) }

// Strings returns the scopes of s in text form, sorted.
func (s Set) Strings() []string {
	out := make([]string, len(s.scopes))
	for i, sc := range s.scopes {
		out[i] = sc.String()
	}
	return out
}

// String returns the scopes of s separated by spaces.
func (s Set) String() string { return strings.Join(s.Strings(), " ") }

// Allows reports whether some scope in s grants resource r of feature f.
// An empty r asks for the whole feature.
func (s Set) Allows(f, r string) bool {
	for _, sc := range s.scopes {
		if sc.Allows(f, r) {
			return true
		}
	}
	return false
}

// Granting returns the first scope of s, in its order, that grants
// resource r of feature f, and false if none does.
func (s Set) Granting(f, r string) (Scope, bool) {
	for _, sc := range s.scopes {
		if sc.Allows(f, r) {
			return sc, true
		}
	}
	return Scope{}, false
}

// Has reports whether s grants everything the scope t grants.
func (s Set) Has(t Scope) bool {
	for _, sc := range s.scopes {
		if sc.Covers(t) {
			return true
		}
	}
	return false
}

// HasFeature reports whether s grants any resource of feature f.
func (s Set) HasFeature(f string) bool {
	for _, sc := range s.scopes {
		if sc.Feature == f {
			return true
		}
	}
	return false
}

// Within reports whether every scope of s is granted by ceiling. An empty s
// is within every ceiling.
func (s Set) Within(ceiling Set) bool {
	return len(s.Outside(ceiling)) == 0
}

// Outside returns the scopes of s that ceiling does not grant, so an error
// can name them.
func (s Set) Outside(ceiling Set) []Scope {
	var out []Scope
	for _, sc := range s.scopes {
		if !ceiling.Has(sc) {
			out = append(out, sc)
		}
	}
	return out
}

// Intersect returns the set granting exactly what both s and t grant. It is
// how a key's scopes are narrowed by its principal's ceiling.
func (s Set) Intersect(t Set) Set {
	if s.coveredBy(t) {
		// Every scope of s is granted by t, so the intersection is s:
		// each scope of s meets the scope of t that covers it in itself,
		// and every other piece is covered by a scope of s and dropped
		// by normalize. This is the common case (a key within its
		// principal's ceiling), checked on every request, and it
		// allocates nothing.
		return s
	}
	var out []Scope
	for _, a := range s.scopes {
		for _, b := range t.scopes {
			if a.Feature != b.Feature {
				continue
			}
			if p, ok := a.Resource.intersect(b.Resource); ok {
				out = append(out, Scope{Feature: a.Feature, Resource: p})
			}
		}
	}
	return normalize(out)
}

// coveredBy reports whether every scope of s is covered by a scope of t,
// when every pattern of both is in its canonical form (the zero Pattern
// for every resource, as Parse makes it): then s.Intersect(t) is s.
func (s Set) coveredBy(t Set) bool {
	for _, b := range t.scopes {
		if b.Resource.All() && b.Resource.Prefix {
			return false
		}
	}
	for _, a := range s.scopes {
		if a.Resource.All() && a.Resource.Prefix || !t.Has(a) {
			return false
		}
	}
	return true
}

// Union returns the set granting what s or t grants.
func (s Set) Union(t Set) Set {
	return normalize(append(slices.Clone(s.scopes), t.scopes...))
}

// Equal reports whether s and t grant the same things.
func (s Set) Equal(t Set) bool {
	return slices.Equal(s.scopes, t.scopes)
}

// MarshalJSON encodes s as a JSON array of scope strings; the empty set is [].
func (s Set) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.Strings())
}

// UnmarshalJSON decodes a JSON array of scope strings with ParseSet.
func (s *Set) UnmarshalJSON(b []byte) error {
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("scopes must be an array of strings")
	}
	v, err := ParseSet(ss)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
