package scope

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that what it accepts prints in a
// canonical form that parses back to the same Scope, and that what it
// refuses is a *SyntaxError with a reason.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"chatbot", "chatbot:*", "chatbot:gpt-4o-mini", "code-generation:claude-sonnet-4-*",
		"openrouter:openai/gpt-4o", "bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0", "chatbot:GPT-4o",
		"a:b:*", "", ":", "chatbot:", "Chatbot", "chatbot:gpt*4o", "chatbot:**", "chat bot", "chätbot",
		"chatbot:\xff", strings.Repeat("a", MaxLen+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			se, ok := errors.AsType[*SyntaxError](err)
			if !ok {
				t.Fatalf("Parse(%q) error = %T %v, want *SyntaxError", in, err, err)
			}
			if se.Reason == "" {
				t.Errorf("Parse(%q) error has no Reason", in)
			}
			if !utf8.ValidString(err.Error()) {
				t.Errorf("Parse(%q) error message is not valid UTF-8: %q", in, err.Error())
			}
			if !s.IsZero() {
				t.Errorf("Parse(%q) = %#v with an error, want the zero Scope", in, s)
			}
			return
		}
		if s.IsZero() {
			t.Fatalf("Parse(%q) = zero Scope, nil", in)
		}
		str := s.String()
		if len(str) > len(in) {
			t.Errorf("Parse(%q).String() = %q, longer than the input", in, str)
		}
		again, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v, but Parse(%q) failed: %v", in, s, str, err)
		}
		if again != s {
			t.Errorf("Parse(Parse(%q).String()) = %#v, want %#v", in, again, s)
		}
		if str2 := again.String(); str2 != str {
			t.Errorf("String is not stable: %q, then %q", str, str2)
		}
		if !s.Covers(again) || !again.Covers(s) {
			t.Errorf("Parse(%q) and its round trip do not cover each other", in)
		}
	})
}

// FuzzIntersect checks that the intersection of two sets allows exactly
// what both allow, on resources chosen at the edges of their patterns.
func FuzzIntersect(f *testing.F) {
	f.Add("chatbot code:claude-*", "chatbot:gpt-4o code:claude-sonnet-4-*")
	f.Add("x:gpt*", "x:gpt-4*")
	f.Add("x:gpt*", "x:claude*")
	f.Add("x:gpt*", "x:gpt")
	f.Add("x", "y")
	f.Add("x:a* x:b*", "x:ab* x:b x:c")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, as, bs string) {
		a, err := ParseSet(strings.Fields(as))
		if err != nil {
			return
		}
		b, err := ParseSet(strings.Fields(bs))
		if err != nil {
			return
		}
		got := a.Intersect(b)
		if !got.Equal(b.Intersect(a)) {
			t.Errorf("Intersect is not commutative: %s ∩ %s = %s, but %s", a, b, got, b.Intersect(a))
		}
		if !got.Within(a) || !got.Within(b) {
			t.Errorf("Set(%s).Intersect(%s) = %s, not within both", a, b, got)
		}
		features, resources := edges(a, b)
		for _, f := range features {
			for _, r := range resources {
				want := a.Allows(f, r) && b.Allows(f, r)
				if g := got.Allows(f, r); g != want {
					t.Errorf("Set(%s).Intersect(%s) = %s: Allows(%q, %q) = %v, want %v", a, b, got, f, r, g, want)
				}
			}
		}
	})
}

// edges returns the features of the sets, plus one they lack, and resources
// at the edges of their patterns: each name, shorter and longer.
func edges(sets ...Set) (features, resources []string) {
	features = []string{"zz-absent"}
	resources = []string{"", "zz-absent"}
	for _, s := range sets {
		for _, sc := range s.Scopes() {
			features = append(features, sc.Feature)
			n := sc.Resource.Name
			if n == "" {
				continue
			}
			resources = append(resources, n, n+"x", n+"-", n[:len(n)-1])
		}
	}
	return features, resources
}

// TestSetProperties checks the algebra of Sets on random sets over a small
// alphabet, where patterns overlap often, against the definition of Allows.
func TestSetProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "gp-4"
	resources := wordsUpTo(alphabet, 4)
	features := []string{"a", "b", "c"}
	randomScopes := func() []Scope {
		out := make([]Scope, rng.IntN(5))
		for i := range out {
			s := Scope{Feature: features[rng.IntN(2)]}
			if rng.IntN(4) > 0 {
				var name strings.Builder
				name.WriteString(string("gp4"[rng.IntN(3)]))
				for range rng.IntN(3) {
					name.WriteString(string(alphabet[rng.IntN(len(alphabet))]))
				}
				s.Resource = Pattern{Name: name.String(), Prefix: rng.IntN(2) == 0}
			}
			out[i] = s
		}
		return out
	}
	anyAllows := func(scopes []Scope, f, r string) bool {
		return slices.ContainsFunc(scopes, func(s Scope) bool { return s.Allows(f, r) })
	}
	for range 3000 {
		as, bs := randomScopes(), randomScopes()
		a, b := NewSet(as...), NewSet(bs...)
		checkNormalized(t, a)
		if again := NewSet(a.Scopes()...); !again.Equal(a) {
			t.Errorf("NewSet is not idempotent: %s, then %s", a, again)
		}
		inter, union := a.Intersect(b), a.Union(b)
		checkNormalized(t, inter)
		checkNormalized(t, union)
		if !inter.Equal(b.Intersect(a)) || !union.Equal(b.Union(a)) {
			t.Errorf("Intersect or Union of %s and %s is not commutative", a, b)
		}
		if !a.Intersect(a).Equal(a) {
			t.Errorf("Set(%s).Intersect(itself) = %s", a, a.Intersect(a))
		}
		if got, want := a.Within(b), a.Intersect(b).Equal(a); got != want {
			t.Errorf("Set(%s).Within(%s) = %v, but Intersect equal to it is %v", a, b, got, want)
		}
		for _, f := range features {
			for _, r := range resources {
				inA, inB := a.Allows(f, r), b.Allows(f, r)
				if want := anyAllows(as, f, r); inA != want {
					t.Fatalf("NewSet(%v) = %s: Allows(%q, %q) = %v, want %v", as, a, f, r, inA, want)
				}
				if got := inter.Allows(f, r); got != (inA && inB) {
					t.Fatalf("Set(%s).Intersect(%s) = %s: Allows(%q, %q) = %v, want %v", a, b, inter, f, r, got, inA && inB)
				}
				if got := union.Allows(f, r); got != (inA || inB) {
					t.Fatalf("Set(%s).Union(%s) = %s: Allows(%q, %q) = %v, want %v", a, b, union, f, r, got, inA || inB)
				}
				if a.Within(b) && inA && !inB {
					t.Fatalf("Set(%s).Within(%s) = true, but only the first allows (%q, %q)", a, b, f, r)
				}
			}
		}
		for _, s := range as {
			if got, want := b.Has(s), NewSet(s).Within(b); got != want {
				t.Errorf("Set(%s).Has(%s) = %v, but Within = %v", b, s, got, want)
			}
		}
	}
}

// checkNormalized fails unless s is sorted by text, free of duplicates and
// of scopes covered by another of its scopes.
func checkNormalized(t *testing.T, s Set) {
	t.Helper()
	strs := s.Strings()
	if !slices.IsSorted(strs) {
		t.Errorf("Set %q is not sorted", strs)
	}
	scopes := s.Scopes()
	for i, x := range scopes {
		if x.IsZero() {
			t.Errorf("Set %q holds a zero Scope", strs)
		}
		for j, y := range scopes {
			if i != j && y.Covers(x) {
				t.Errorf("Set %q holds %s, which %s covers", strs, x, y)
			}
		}
	}
}
