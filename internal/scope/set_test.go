package scope

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewSet(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"Empty", nil, []string{}},
		{"One", []string{"chatbot"}, []string{"chatbot"}},
		{"Sorted", []string{"data-retrieval:hr-docs", "chatbot", "code-generation:claude-*"}, []string{"chatbot", "code-generation:claude-*", "data-retrieval:hr-docs"}},
		{"Duplicates", []string{"chatbot:gpt-4o", "chatbot:gpt-4o", "chatbot:gpt-4o"}, []string{"chatbot:gpt-4o"}},
		{"StarAndWholeFeatureAreOne", []string{"chatbot:*", "chatbot"}, []string{"chatbot"}},
		{"WholeFeatureCoversResources", []string{"chatbot:gpt-4o", "chatbot", "chatbot:claude-*"}, []string{"chatbot"}},
		{"PrefixCoversExact", []string{"chatbot:gpt-4o", "chatbot:gpt-*"}, []string{"chatbot:gpt-*"}},
		{"PrefixCoversLongerPrefix", []string{"chatbot:gpt-4*", "chatbot:gpt*", "chatbot:gpt-4o*"}, []string{"chatbot:gpt*"}},
		{"ExactEqualToPrefixIsCovered", []string{"chatbot:gpt", "chatbot:gpt*"}, []string{"chatbot:gpt*"}},
		{"PrefixDoesNotCoverShorterExact", []string{"chatbot:gpt-4*", "chatbot:gpt"}, []string{"chatbot:gpt", "chatbot:gpt-4*"}},
		{"OtherFeaturesKept", []string{"chatbot", "chatbot2:x", "chat:x"}, []string{"chat:x", "chatbot", "chatbot2:x"}},
		{"CoveredDuplicatesAmongMany", []string{"b:x", "a:y", "b", "a:y", "a:y*", "b:x", "c"}, []string{"a:y*", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustParseSet(tt.in...)
			if diff := cmp.Diff(tt.want, s.Strings()); diff != "" {
				t.Errorf("NewSet(%q).Strings() mismatch (-want +got):\n%s", tt.in, diff)
			}
			if s.Len() != len(tt.want) {
				t.Errorf("NewSet(%q).Len() = %d, want %d", tt.in, s.Len(), len(tt.want))
			}
			if got, want := s.String(), strings.Join(tt.want, " "); got != want {
				t.Errorf("NewSet(%q).String() = %q, want %q", tt.in, got, want)
			}
		})
	}
}

func TestNewSetDropsZeroScopes(t *testing.T) {
	s := NewSet(Scope{}, MustParse("chatbot"), Scope{})
	if got := s.Strings(); !slices.Equal(got, []string{"chatbot"}) {
		t.Errorf("NewSet(zero, chatbot, zero) = %q, want [chatbot]", got)
	}
	if e := NewSet(Scope{}); !e.IsEmpty() {
		t.Errorf("NewSet(zero) = %v, want empty", e)
	}
}

func TestNewSetDoesNotModifyArgument(t *testing.T) {
	in := []Scope{MustParse("b"), MustParse("a"), MustParse("b:x")}
	orig := slices.Clone(in)
	NewSet(in...)
	if !slices.Equal(in, orig) {
		t.Errorf("NewSet changed its argument to %v, want %v", in, orig)
	}
}

func TestParseSetError(t *testing.T) {
	_, err := ParseSet([]string{"chatbot", "Bad", "also bad"})
	se, ok := errors.AsType[*SyntaxError](err)
	if !ok {
		t.Fatalf("ParseSet error = %v, want *SyntaxError", err)
	}
	if se.Scope != "Bad" {
		t.Errorf("ParseSet error names %q, want the first bad scope %q", se.Scope, "Bad")
	}
}

func TestSetScopesIsACopy(t *testing.T) {
	s := MustParseSet("a", "b")
	got := s.Scopes()
	got[0] = MustParse("z")
	if want := []string{"a", "b"}; !slices.Equal(s.Strings(), want) {
		t.Errorf("changing Scopes() result changed the set to %q, want %q", s.Strings(), want)
	}
}

func TestEmptySetGrantsNothing(t *testing.T) {
	for name, s := range map[string]Set{"ZeroSet": {}, "NewSet": NewSet(), "ParseSetNil": MustParseSet()} {
		t.Run(name, func(t *testing.T) {
			if !s.IsEmpty() || s.Len() != 0 {
				t.Errorf("IsEmpty() = %v, Len() = %d; want true, 0", s.IsEmpty(), s.Len())
			}
			for _, fr := range [][2]string{{"", ""}, {"chatbot", ""}, {"chatbot", "gpt-4o"}, {"*", "*"}} {
				if s.Allows(fr[0], fr[1]) {
					t.Errorf("Allows(%q, %q) = true, want false", fr[0], fr[1])
				}
			}
			if s.Has(MustParse("chatbot:gpt-4o")) {
				t.Error("Has(chatbot:gpt-4o) = true, want false")
			}
			if s.HasFeature("chatbot") {
				t.Error("HasFeature(chatbot) = true, want false")
			}
			if s.String() != "" {
				t.Errorf("String() = %q, want empty", s.String())
			}
			if got := s.Intersect(MustParseSet("chatbot")); !got.IsEmpty() {
				t.Errorf("Intersect(chatbot) = %v, want empty", got)
			}
		})
	}
}

func TestSetAllows(t *testing.T) {
	s := MustParseSet("chatbot:gpt-4o-mini", "code-generation:claude-sonnet-4-*", "data-retrieval")
	tests := []struct {
		f, r string
		want bool
	}{
		{"chatbot", "gpt-4o-mini", true},
		{"chatbot", "gpt-4o", false},
		{"chatbot", "", false},
		{"code-generation", "claude-sonnet-4-20250514", true},
		{"code-generation", "claude-opus-4-1", false},
		{"code-generation", "", false},
		{"data-retrieval", "hr-docs", true},
		{"data-retrieval", "", true},
		{"embeddings", "text-embedding-3-small", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := s.Allows(tt.f, tt.r); got != tt.want {
			t.Errorf("Set(%s).Allows(%q, %q) = %v, want %v", s, tt.f, tt.r, got, tt.want)
		}
	}
}

func TestSetHas(t *testing.T) {
	s := MustParseSet("chatbot:gpt-*", "data-retrieval")
	tests := []struct {
		scope string
		want  bool
	}{
		{"chatbot:gpt-*", true},
		{"chatbot:gpt-4o", true},
		{"chatbot:gpt-4*", true},
		{"chatbot:gpt*", false},
		{"chatbot", false},
		{"chatbot:claude", false},
		{"data-retrieval", true},
		{"data-retrieval:hr-*", true},
		{"code-generation", false},
	}
	for _, tt := range tests {
		if got := s.Has(MustParse(tt.scope)); got != tt.want {
			t.Errorf("Set(%s).Has(%s) = %v, want %v", s, tt.scope, got, tt.want)
		}
	}
	if s.Has(Scope{}) {
		t.Errorf("Set(%s).Has(zero Scope) = true, want false", s)
	}
}

func TestSetHasFeature(t *testing.T) {
	s := MustParseSet("chatbot:gpt-4o", "data-retrieval")
	for f, want := range map[string]bool{"chatbot": true, "data-retrieval": true, "chat": false, "code-generation": false, "": false} {
		if got := s.HasFeature(f); got != want {
			t.Errorf("Set(%s).HasFeature(%q) = %v, want %v", s, f, got, want)
		}
	}
}

func TestSetWithin(t *testing.T) {
	tests := []struct {
		name        string
		set, ceil   []string
		wantOutside []string
	}{
		{"EmptyWithinEmpty", nil, nil, nil},
		{"EmptyWithinAny", nil, []string{"chatbot"}, nil},
		{"NothingWithinEmpty", []string{"chatbot:gpt-4o"}, nil, []string{"chatbot:gpt-4o"}},
		{"Equal", []string{"chatbot", "code"}, []string{"code", "chatbot"}, nil},
		{"ResourceWithinFeature", []string{"chatbot:gpt-4o", "code:claude-*"}, []string{"chatbot", "code"}, nil},
		{"ExactWithinPrefix", []string{"chatbot:gpt-4o"}, []string{"chatbot:gpt-*"}, nil},
		{"LongerPrefixWithinPrefix", []string{"chatbot:gpt-4*"}, []string{"chatbot:gpt-*"}, nil},
		{"ShorterPrefixOutside", []string{"chatbot:gpt*"}, []string{"chatbot:gpt-4*"}, []string{"chatbot:gpt*"}},
		{"FeatureOutsideResource", []string{"chatbot"}, []string{"chatbot:gpt-4o"}, []string{"chatbot"}},
		{"OtherFeatureOutside", []string{"chatbot", "data-retrieval:hr-docs"}, []string{"chatbot"}, []string{"data-retrieval:hr-docs"}},
		{"NotCoveredByUnionOfPieces", []string{"chatbot:gpt*"}, []string{"chatbot:gpt", "chatbot:gpt-*"}, []string{"chatbot:gpt*"}},
		{"SeveralOutsideSorted", []string{"z", "a:x", "m"}, []string{"m"}, []string{"a:x", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := MustParseSet(tt.set...), MustParseSet(tt.ceil...)
			out := make([]string, 0)
			for _, sc := range s.Outside(c) {
				out = append(out, sc.String())
			}
			if diff := cmp.Diff(tt.wantOutside, out, cmpEmptyEqual); diff != "" {
				t.Errorf("Set(%s).Outside(%s) mismatch (-want +got):\n%s", s, c, diff)
			}
			if got, want := s.Within(c), len(tt.wantOutside) == 0; got != want {
				t.Errorf("Set(%s).Within(%s) = %v, want %v", s, c, got, want)
			}
		})
	}
}

var cmpEmptyEqual = cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

func TestSetIntersect(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		want []string
	}{
		{"PrefixPrefixChain", []string{"x:gpt*"}, []string{"x:gpt-4*"}, []string{"x:gpt-4*"}},
		{"PrefixPrefixEqual", []string{"x:gpt*"}, []string{"x:gpt*"}, []string{"x:gpt*"}},
		{"PrefixPrefixDisjoint", []string{"x:gpt*"}, []string{"x:claude*"}, []string{}},
		{"PrefixPrefixSiblings", []string{"x:gpt-4*"}, []string{"x:gpt-3*"}, []string{}},
		{"PrefixExactInside", []string{"x:gpt*"}, []string{"x:gpt-4o"}, []string{"x:gpt-4o"}},
		{"PrefixExactEqualToPrefix", []string{"x:gpt*"}, []string{"x:gpt"}, []string{"x:gpt"}},
		{"PrefixExactOutside", []string{"x:gpt-4*"}, []string{"x:gpt"}, []string{}},
		{"ExactExactEqual", []string{"x:gpt-4o"}, []string{"x:gpt-4o"}, []string{"x:gpt-4o"}},
		{"ExactExactDifferent", []string{"x:gpt-4o"}, []string{"x:gpt-4o-mini"}, []string{}},
		{"ExactIsCaseSensitive", []string{"x:gpt-4o"}, []string{"x:GPT-4o"}, []string{}},
		{"WholeFeatureAndWholeFeature", []string{"x"}, []string{"x"}, []string{"x"}},
		{"WholeFeatureAndPrefix", []string{"x"}, []string{"x:gpt*"}, []string{"x:gpt*"}},
		{"WholeFeatureAndExact", []string{"x"}, []string{"x:gpt-4o"}, []string{"x:gpt-4o"}},
		{"DisjointFeatures", []string{"chatbot"}, []string{"code-generation"}, []string{}},
		{"DisjointFeaturesSameResource", []string{"chatbot:gpt-4o"}, []string{"code-generation:gpt-4o"}, []string{}},
		{"EmptyAndSomething", nil, []string{"chatbot"}, []string{}},
		{"KeyNarrowedByCeiling",
			[]string{"chatbot", "code-generation:claude-*", "data-retrieval:hr-docs"},
			[]string{"chatbot:gpt-4o-mini", "code-generation:claude-sonnet-4-*", "embeddings"},
			[]string{"chatbot:gpt-4o-mini", "code-generation:claude-sonnet-4-*"}},
		{"SeveralPiecesPerFeature",
			[]string{"x:a*", "x:b*"},
			[]string{"x:ab*", "x:b", "x:c"},
			[]string{"x:ab*", "x:b"}},
		{"ResultNormalized",
			[]string{"x:gpt*", "x:gpt-4*"},
			[]string{"x"},
			[]string{"x:gpt*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := MustParseSet(tt.a...), MustParseSet(tt.b...)
			for _, order := range [][2]Set{{a, b}, {b, a}} {
				got := order[0].Intersect(order[1])
				if diff := cmp.Diff(tt.want, got.Strings()); diff != "" {
					t.Errorf("Set(%s).Intersect(%s) mismatch (-want +got):\n%s", order[0], order[1], diff)
				}
			}
		})
	}
}

// sampleResources are resources near the edges of the patterns used in the
// property tests below: exact names, prefixes and their extensions, other
// case, and the empty resource (the whole feature).
var sampleResources = []string{
	"", "g", "gp", "gpt", "gpt-", "gpt-4", "gpt-4o", "gpt-4o-mini", "gpt-3.5", "GPT-4o",
	"c", "claude", "claude-", "claude-sonnet-4-", "claude-sonnet-4-20250514", "claude-opus-4-1",
	"openai/gpt-4o", "openai/", "hr-docs", "hr-docs:v2", "x",
}

func TestIntersectAllowsWhatBothAllow(t *testing.T) {
	sets := [][]string{
		nil,
		{"chatbot"},
		{"chatbot:gpt*"},
		{"chatbot:gpt-4*", "chatbot:claude"},
		{"chatbot:gpt-4o", "chatbot:gpt-4o-mini", "code:claude-*"},
		{"chatbot:g*", "code"},
		{"chatbot:GPT-4o", "chatbot:openai/*"},
		{"code:claude-sonnet-4-*", "chatbot:gpt"},
		{"chatbot:gpt-*", "chatbot:c*", "data:hr-docs*"},
		{"data", "chatbot:claude-sonnet-4-20250514"},
	}
	features := []string{"chatbot", "code", "data", "other"}
	for _, as := range sets {
		for _, bs := range sets {
			a, b := MustParseSet(as...), MustParseSet(bs...)
			got := a.Intersect(b)
			for _, f := range features {
				for _, r := range sampleResources {
					want := a.Allows(f, r) && b.Allows(f, r)
					if g := got.Allows(f, r); g != want {
						t.Errorf("Set(%s).Intersect(%s) = %s: Allows(%q, %q) = %v, want %v", a, b, got, f, r, g, want)
					}
				}
			}
			if !got.Within(a) || !got.Within(b) {
				t.Errorf("Set(%s).Intersect(%s) = %s, not within both", a, b, got)
			}
		}
	}
}

func TestSetUnion(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		want []string
	}{
		{"Disjoint", []string{"a"}, []string{"b"}, []string{"a", "b"}},
		{"Overlapping", []string{"a:x", "b"}, []string{"a", "b:y"}, []string{"a", "b"}},
		{"PrefixAbsorbsExact", []string{"a:gpt*"}, []string{"a:gpt-4o", "a:claude"}, []string{"a:claude", "a:gpt*"}},
		{"WithEmpty", []string{"a:x"}, nil, []string{"a:x"}},
		{"BothEmpty", nil, nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := MustParseSet(tt.a...), MustParseSet(tt.b...)
			got := a.Union(b)
			if diff := cmp.Diff(tt.want, got.Strings()); diff != "" {
				t.Errorf("Set(%s).Union(%s) mismatch (-want +got):\n%s", a, b, diff)
			}
			if again := a.Strings(); !slices.Equal(again, MustParseSet(tt.a...).Strings()) {
				t.Errorf("Union changed its receiver to %q", again)
			}
			for _, r := range sampleResources {
				for _, f := range []string{"a", "b", "c"} {
					if g, want := got.Allows(f, r), a.Allows(f, r) || b.Allows(f, r); g != want {
						t.Errorf("Set(%s).Union(%s).Allows(%q, %q) = %v, want %v", a, b, f, r, g, want)
					}
				}
			}
		})
	}
}

func TestSetEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		want bool
	}{
		{"BothEmpty", nil, nil, true},
		{"Same", []string{"a", "b:x"}, []string{"a", "b:x"}, true},
		{"OrderDoesNotMatter", []string{"b:x", "a"}, []string{"a", "b:x"}, true},
		{"StarEqualsFeature", []string{"a:*"}, []string{"a"}, true},
		{"CoveredScopesDoNotMatter", []string{"a", "a:x"}, []string{"a"}, true},
		{"Different", []string{"a:x"}, []string{"a:y"}, false},
		{"Subset", []string{"a:x"}, []string{"a:x", "b"}, false},
		{"PrefixVersusExact", []string{"a:x*"}, []string{"a:x"}, false},
		{"EmptyVersusSome", nil, []string{"a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := MustParseSet(tt.a...), MustParseSet(tt.b...)
			if got := a.Equal(b); got != tt.want {
				t.Errorf("Set(%s).Equal(%s) = %v, want %v", a, b, got, tt.want)
			}
			if got := b.Equal(a); got != tt.want {
				t.Errorf("Set(%s).Equal(%s) = %v, want %v", b, a, got, tt.want)
			}
		})
	}
	if !(Set{}).Equal(NewSet()) {
		t.Error("Set{}.Equal(NewSet()) = false, want true")
	}
}

func TestSetJSON(t *testing.T) {
	t.Run("RoundTrip", func(t *testing.T) {
		type record struct {
			Name   string `json:"name"`
			Scopes Set    `json:"scopes"`
		}
		in := record{Name: "k", Scopes: MustParseSet("data-retrieval:hr-docs", "chatbot:*", "code-generation:claude-sonnet-4-*")}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		want := `{"name":"k","scopes":["chatbot","code-generation:claude-sonnet-4-*","data-retrieval:hr-docs"]}`
		if string(b) != want {
			t.Errorf("json.Marshal = %s, want %s", b, want)
		}
		var out record
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("json.Unmarshal(%s): %v", b, err)
		}
		if !out.Scopes.Equal(in.Scopes) {
			t.Errorf("round trip = %v, want %v", out.Scopes, in.Scopes)
		}
	})
	t.Run("EmptyIsArray", func(t *testing.T) {
		for _, s := range []Set{{}, NewSet()} {
			b, err := json.Marshal(s)
			if err != nil || string(b) != "[]" {
				t.Errorf("json.Marshal(empty Set) = %s, %v; want []", b, err)
			}
		}
	})
	t.Run("UnmarshalNormalizes", func(t *testing.T) {
		var s Set
		if err := json.Unmarshal([]byte(`["b","a:x","a","b"]`), &s); err != nil {
			t.Fatal(err)
		}
		if got, want := s.Strings(), []string{"a", "b"}; !slices.Equal(got, want) {
			t.Errorf("Unmarshal = %q, want %q", got, want)
		}
	})
	t.Run("NullIsEmpty", func(t *testing.T) {
		s := MustParseSet("a")
		if err := json.Unmarshal([]byte(`null`), &s); err != nil {
			t.Fatal(err)
		}
		if !s.IsEmpty() {
			t.Errorf("Unmarshal(null) = %v, want empty", s)
		}
	})
	t.Run("ErrBadScope", func(t *testing.T) {
		var s Set
		err := json.Unmarshal([]byte(`["chatbot","Chat Bot"]`), &s)
		if se, ok := errors.AsType[*SyntaxError](err); !ok || se.Scope != "Chat Bot" {
			t.Errorf("Unmarshal of a bad scope error = %v, want *SyntaxError naming %q", err, "Chat Bot")
		}
	})
	t.Run("ErrNotArray", func(t *testing.T) {
		for _, in := range []string{`"chatbot"`, `{"a":1}`, `[1,2]`, `["a",null,3]`} {
			var s Set
			err := json.Unmarshal([]byte(in), &s)
			if err == nil || !strings.Contains(err.Error(), "array of strings") {
				t.Errorf("Unmarshal(%s) error = %v, want one saying scopes are an array of strings", in, err)
			}
		}
	})
}

// TestCompareText checks that normalize's order is the order of the
// scopes' String forms, which it compares without making them.
func TestCompareText(t *testing.T) {
	scopes := []Scope{
		{Feature: "chat"}, {Feature: "chat", Resource: Pattern{Name: "gpt-4o"}},
		{Feature: "chat", Resource: Pattern{Name: "gpt-4o", Prefix: true}},
		{Feature: "chat", Resource: Pattern{Name: "gpt", Prefix: true}},
		{Feature: "chat", Resource: Pattern{Prefix: true}}, {Feature: "chat-x"}, {Feature: "cha"},
		{Feature: "code", Resource: Pattern{Name: strings.Repeat("m", 200)}},
		{Feature: "code", Resource: Pattern{Name: strings.Repeat("m", 200), Prefix: true}},
	}
	for _, a := range scopes {
		for _, b := range scopes {
			if got, want := compareText(a, b), strings.Compare(a.String(), b.String()); got != want {
				t.Errorf("compareText(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestSetGranting(t *testing.T) {
	s := MustParseSet("chat:gpt-4o", "chat:o3-*", "code")
	tests := []struct {
		feature, resource string
		want              string
		ok                bool
	}{
		{"chat", "gpt-4o", "chat:gpt-4o", true},
		{"chat", "o3-mini", "chat:o3-*", true},
		{"code", "claude-haiku-4-5", "code", true},
		{"chat", "gpt-4o-mini", "", false},
		{"search", "", "", false},
	}
	for _, tt := range tests {
		got, ok := s.Granting(tt.feature, tt.resource)
		if ok != tt.ok || (ok && got.String() != tt.want) || (!ok && !got.IsZero()) {
			t.Errorf("Granting(%q, %q) = %v, %v; want %q, %v", tt.feature, tt.resource, got, ok, tt.want, tt.ok)
		}
	}
}

// TestIntersectCoveredMatchesGeneral checks Intersect's shortcut, for a
// set within the other, against the general intersection on every pair of
// sets drawn from a pool of scopes.
func TestIntersectCoveredMatchesGeneral(t *testing.T) {
	pool := []string{"chat", "chat:gpt-4o", "chat:gpt-4o-mini", "chat:gpt-*", "chat:gpt-4o*", "chat:o3-*",
		"code", "code:claude-*", "search:hr-docs"}
	general := func(s, u Set) Set {
		var out []Scope
		for _, a := range s.scopes {
			for _, b := range u.scopes {
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
	var sets []Set
	for mask := range 1 << len(pool) {
		if mask%7 != 0 && mask%11 != 0 { // a spread of the 512 subsets
			continue
		}
		var ss []string
		for i, s := range pool {
			if mask&(1<<i) != 0 {
				ss = append(ss, s)
			}
		}
		sets = append(sets, MustParseSet(ss...))
	}
	for _, s := range sets {
		for _, u := range sets {
			if got, want := s.Intersect(u), general(s, u); !slices.Equal(got.scopes, want.scopes) {
				t.Errorf("(%s).Intersect(%s) = %s, want %s", s, u, got, want)
			}
		}
	}
	nonCanonical := NewSet(Scope{Feature: "chat", Resource: Pattern{Prefix: true}})
	for _, u := range []Set{MustParseSet("chat"), MustParseSet("chat:gpt-*")} {
		if got, want := nonCanonical.Intersect(u), general(nonCanonical, u); !slices.Equal(got.scopes, want.scopes) {
			t.Errorf("(%#v).Intersect(%s) = %#v, want %#v", nonCanonical, u, got, want)
		}
		if got, want := u.Intersect(nonCanonical), general(u, nonCanonical); !slices.Equal(got.scopes, want.scopes) {
			t.Errorf("(%s).Intersect(%#v) = %#v, want %#v", u, nonCanonical, got, want)
		}
	}
}
