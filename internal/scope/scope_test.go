package scope

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	long := strings.Repeat("a", MaxLen-len("f:")) // "f:" + long is exactly MaxLen
	tests := []struct {
		name string
		in   string
		want Scope
		// str is the canonical text; empty means the input itself.
		str string
	}{
		{"WholeFeature", "chatbot", Scope{Feature: "chatbot"}, ""},
		{"StarMeansWholeFeature", "chatbot:*", Scope{Feature: "chatbot"}, "chatbot"},
		{"ExactResource", "chatbot:gpt-4o-mini", Scope{"chatbot", Pattern{Name: "gpt-4o-mini"}}, ""},
		{"PrefixResource", "code-generation:claude-sonnet-4-*", Scope{"code-generation", Pattern{Name: "claude-sonnet-4-", Prefix: true}}, ""},
		{"Dataset", "data-retrieval:hr-docs", Scope{"data-retrieval", Pattern{Name: "hr-docs"}}, ""},
		{"ResourceWithSlash", "openrouter:openai/gpt-4o", Scope{"openrouter", Pattern{Name: "openai/gpt-4o"}}, ""},
		{"ResourceWithColon", "bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0", Scope{"bedrock", Pattern{Name: "anthropic.claude-3-5-sonnet-20240620-v1:0"}}, ""},
		{"ResourceUpperCase", "chatbot:GPT-4o", Scope{"chatbot", Pattern{Name: "GPT-4o"}}, ""},
		{"ResourceUnderscoreAndDot", "data-retrieval:hr_docs.v2", Scope{"data-retrieval", Pattern{Name: "hr_docs.v2"}}, ""},
		{"PrefixEndingInColon", "bedrock:anthropic:*", Scope{"bedrock", Pattern{Name: "anthropic:", Prefix: true}}, ""},
		{"PrefixEndingInSlash", "openrouter:openai/*", Scope{"openrouter", Pattern{Name: "openai/", Prefix: true}}, ""},
		{"SingleCharacters", "a:b", Scope{"a", Pattern{Name: "b"}}, ""},
		{"SingleCharacterPrefix", "a:b*", Scope{"a", Pattern{Name: "b", Prefix: true}}, ""},
		{"FeatureWithDigitsAndPunctuation", "0x.feature_2-b", Scope{Feature: "0x.feature_2-b"}, ""},
		{"FeatureStartingWithDigit", "4chan", Scope{Feature: "4chan"}, ""},
		{"ExactlyMaxLen", "f:" + long, Scope{"f", Pattern{Name: long}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			wantStr := tt.str
			if wantStr == "" {
				wantStr = tt.in
			}
			if s := got.String(); s != wantStr {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, s, wantStr)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// reason holds substrings the Reason must contain, so that it tells
		// people what is wrong.
		reason []string
	}{
		{"Empty", "", []string{"empty scope"}},
		{"UpperCaseFeature", "Chatbot", []string{`'C'`, "position 1", "lower-case"}},
		{"UpperCaseInsideFeature", "chatBot:gpt-4o", []string{`"chatBot"`, `'B'`, "position 5"}},
		{"LeadingHyphenFeature", "-chatbot", []string{`'-'`, "position 1", "starting with a letter or digit"}},
		{"LeadingDotFeature", ".chatbot", []string{`'.'`, "position 1"}},
		{"LeadingUnderscoreFeature", "_chatbot", []string{`'_'`, "position 1"}},
		{"SlashInFeature", "chat/bot", []string{`'/'`, "position 5"}},
		{"StarInFeature", "chat*", []string{`'*'`, "position 5"}},
		{"MissingFeature", ":gpt-4o", []string{"missing feature name"}},
		{"EmptyResource", "chatbot:", []string{"missing resource after ':'", "feature:*"}},
		{"StarInMiddle", "chatbot:gpt*4o", []string{"'*' is allowed only at the end"}},
		{"StarAtStart", "chatbot:*gpt", []string{"'*' is allowed only at the end"}},
		{"DoubleStar", "chatbot:gpt**", []string{"'*' is allowed only at the end"}},
		{"StarStar", "chatbot:**", []string{"'*' is allowed only at the end"}},
		{"LeadingHyphenResource", "chatbot:-gpt", []string{`'-'`, "position 1", "starting with a letter or digit"}},
		{"LeadingSlashResource", "chatbot:/gpt", []string{`'/'`, "position 1"}},
		{"LeadingColonResource", "chatbot::gpt", []string{`':'`, "position 1"}},
		{"SpaceInFeature", "chat bot", []string{`' '`, "position 5"}},
		{"SpaceInResource", "chatbot:gpt 4o", []string{`' '`, "position 4"}},
		{"LeadingSpace", " chatbot", []string{`' '`, "position 1"}},
		{"TrailingSpace", "chatbot ", []string{`' '`, "position 8"}},
		{"TrailingNewline", "chatbot:gpt\n", []string{`'\n'`}},
		{"NULByte", "chatbot:gpt\x00", []string{`'\x00'`}},
		{"UnicodeFeature", "chätbot", []string{`'ä'`, "position 3"}},
		{"UnicodeResource", "chatbot:gpt-4ö", []string{`'ö'`, "position 6"}},
		{"InvalidUTF8", "chatbot:gpt\xff", []string{"0xff", "not UTF-8"}},
		{"ScopeList", "chatbot,code", []string{`','`}},
		{"TooLong", strings.Repeat("a", MaxLen+1), []string{"longer than 256"}},
		{"TooLongResource", "chatbot:" + strings.Repeat("x", MaxLen), []string{"longer than 256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", tt.in, got)
			}
			if !got.IsZero() {
				t.Errorf("Parse(%q) returned %#v with its error, want the zero Scope", tt.in, got)
			}
			se, ok := errors.AsType[*SyntaxError](err)
			if !ok {
				t.Fatalf("Parse(%q) error = %T %v, want *SyntaxError", tt.in, err, err)
			}
			if se.Scope != tt.in {
				t.Errorf("Parse(%q) error Scope = %q, want the input", tt.in, se.Scope)
			}
			for _, sub := range tt.reason {
				if !strings.Contains(se.Reason, sub) {
					t.Errorf("Parse(%q) error Reason = %q, want it to contain %q", tt.in, se.Reason, sub)
				}
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "invalid scope ") || !strings.HasSuffix(msg, se.Reason) {
				t.Errorf("Parse(%q) error = %q, want \"invalid scope <scope>: <reason>\"", tt.in, msg)
			}
		})
	}
}

func TestParseErrorTruncatesHugeInput(t *testing.T) {
	in := strings.Repeat("a", 100_000)
	_, err := Parse(in)
	se, ok := errors.AsType[*SyntaxError](err)
	if !ok {
		t.Fatalf("Parse(<100000 bytes>) error = %v, want *SyntaxError", err)
	}
	if want := in[:MaxLen] + "…"; se.Scope != want {
		t.Errorf("Parse(<100000 bytes>) error Scope has %d bytes, want the first %d and an ellipsis", len(se.Scope), MaxLen)
	}
	if n := len(err.Error()); n > 2*MaxLen {
		t.Errorf("Parse(<100000 bytes>) error message has %d bytes, want at most %d", n, 2*MaxLen)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name             string
		feature, pattern string
		want             string
		wantErr          bool
	}{
		{"WholeFeature", "chatbot", "", "chatbot", false},
		{"Star", "chatbot", "*", "chatbot", false},
		{"Exact", "chatbot", "gpt-4o", "chatbot:gpt-4o", false},
		{"Prefix", "chatbot", "gpt-*", "chatbot:gpt-*", false},
		{"BadFeature", "Chatbot", "gpt-4o", "", true},
		{"BadPattern", "chatbot", "gpt 4o", "", true},
		{"EmptyFeature", "", "gpt-4o", "", true},
		{"ColonInFeatureIsNotSmuggled", "chatbot:gpt-4o", "", "chatbot:gpt-4o", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(tt.feature, tt.pattern)
			if tt.wantErr {
				if _, ok := errors.AsType[*SyntaxError](err); !ok {
					t.Errorf("New(%q, %q) = %v, %v; want a *SyntaxError", tt.feature, tt.pattern, got, err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Errorf("New(%q, %q) = %v, %v; want %s", tt.feature, tt.pattern, got, err, tt.want)
			}
		})
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse(\"Bad\") did not panic")
		}
	}()
	MustParse("Bad")
}

func TestPatternMatch(t *testing.T) {
	all := Pattern{}
	exact := Pattern{Name: "gpt-4o"}
	prefix := Pattern{Name: "claude-sonnet-4-", Prefix: true}
	tests := []struct {
		name string
		p    Pattern
		r    string
		want bool
	}{
		{"AllMatchesAnything", all, "gpt-4o", true},
		{"AllMatchesEmpty", all, "", true},
		{"ExactMatchesItself", exact, "gpt-4o", true},
		{"ExactIsNotPrefix", exact, "gpt-4o-mini", false},
		{"ExactRefusesShorter", exact, "gpt-4", false},
		{"ExactIsCaseSensitive", exact, "GPT-4o", false},
		{"ExactRefusesEmpty", exact, "", false},
		{"PrefixMatchesLonger", prefix, "claude-sonnet-4-20250514", true},
		{"PrefixMatchesItself", prefix, "claude-sonnet-4-", true},
		{"PrefixRefusesShorter", prefix, "claude-sonnet-4", false},
		{"PrefixRefusesOther", prefix, "claude-opus-4-1", false},
		{"PrefixIsCaseSensitive", prefix, "Claude-sonnet-4-x", false},
		{"PrefixRefusesEmpty", prefix, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Match(tt.r); got != tt.want {
				t.Errorf("Pattern(%s).Match(%q) = %v, want %v", tt.p, tt.r, got, tt.want)
			}
		})
	}
}

func TestPatternCovers(t *testing.T) {
	all := Pattern{}
	tests := []struct {
		name string
		p, q Pattern
		want bool
	}{
		{"AllCoversAll", all, all, true},
		{"AllCoversExact", all, Pattern{Name: "a"}, true},
		{"AllCoversPrefix", all, Pattern{Name: "a", Prefix: true}, true},
		{"ExactDoesNotCoverAll", Pattern{Name: "a"}, all, false},
		{"PrefixDoesNotCoverAll", Pattern{Name: "a", Prefix: true}, all, false},
		{"ExactCoversItself", Pattern{Name: "gpt"}, Pattern{Name: "gpt"}, true},
		{"ExactDoesNotCoverOther", Pattern{Name: "gpt"}, Pattern{Name: "gpt-4o"}, false},
		{"ExactDoesNotCoverSamePrefix", Pattern{Name: "gpt"}, Pattern{Name: "gpt", Prefix: true}, false},
		{"PrefixCoversItself", Pattern{Name: "gpt", Prefix: true}, Pattern{Name: "gpt", Prefix: true}, true},
		{"PrefixCoversLongerPrefix", Pattern{Name: "gpt", Prefix: true}, Pattern{Name: "gpt-4", Prefix: true}, true},
		{"PrefixDoesNotCoverShorterPrefix", Pattern{Name: "gpt-4", Prefix: true}, Pattern{Name: "gpt", Prefix: true}, false},
		{"PrefixCoversMatchingExact", Pattern{Name: "gpt", Prefix: true}, Pattern{Name: "gpt-4o"}, true},
		{"PrefixCoversExactEqualToPrefix", Pattern{Name: "gpt", Prefix: true}, Pattern{Name: "gpt"}, true},
		{"PrefixDoesNotCoverOtherExact", Pattern{Name: "gpt", Prefix: true}, Pattern{Name: "claude"}, false},
		{"PrefixDoesNotCoverDisjointPrefix", Pattern{Name: "gpt", Prefix: true}, Pattern{Name: "claude", Prefix: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Covers(tt.q); got != tt.want {
				t.Errorf("Pattern(%s).Covers(%s) = %v, want %v", tt.p, tt.q, got, tt.want)
			}
		})
	}
}

// TestPatternCoversMatchesDefinition checks Covers against its definition,
// "every resource q selects is selected by p", over every pattern and
// resource of a small alphabet. Resources one character longer than the
// longest pattern name are enough to tell every pair apart.
func TestPatternCoversMatchesDefinition(t *testing.T) {
	names := wordsUpTo("ab-", 3)
	resources := wordsUpTo("ab-", 4)
	patterns := []Pattern{{}}
	for _, n := range names {
		if n != "" {
			patterns = append(patterns, Pattern{Name: n}, Pattern{Name: n, Prefix: true})
		}
	}
	for _, p := range patterns {
		for _, q := range patterns {
			want := true
			for _, r := range resources {
				if q.Match(r) && !p.Match(r) {
					want = false
					break
				}
			}
			if got := p.Covers(q); got != want {
				t.Errorf("Pattern(%s).Covers(%s) = %v, want %v", p, q, got, want)
			}
		}
	}
}

func TestPatternString(t *testing.T) {
	tests := []struct {
		p    Pattern
		want string
	}{
		{Pattern{}, "*"},
		{Pattern{Name: "gpt-4o"}, "gpt-4o"},
		{Pattern{Name: "gpt-", Prefix: true}, "gpt-*"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestScopeAllows(t *testing.T) {
	tests := []struct {
		scope string
		f, r  string
		want  bool
	}{
		{"chatbot", "chatbot", "gpt-4o", true},
		{"chatbot", "chatbot", "", true},
		{"chatbot:*", "chatbot", "anything", true},
		{"chatbot", "code-generation", "gpt-4o", false},
		{"chatbot", "chat", "gpt-4o", false},
		{"chatbot", "chatbot2", "", false},
		{"chatbot:gpt-4o-mini", "chatbot", "gpt-4o-mini", true},
		{"chatbot:gpt-4o-mini", "chatbot", "gpt-4o", false},
		{"chatbot:gpt-4o-mini", "chatbot", "", false},
		{"chatbot:gpt-4o-mini", "code-generation", "gpt-4o-mini", false},
		{"code-generation:claude-sonnet-4-*", "code-generation", "claude-sonnet-4-20250514", true},
		{"code-generation:claude-sonnet-4-*", "code-generation", "claude-sonnet-4", false},
		{"code-generation:claude-sonnet-4-*", "code-generation", "claude-opus-4-1", false},
		{"code-generation:claude-sonnet-4-*", "code-generation", "", false},
		{"chatbot:GPT-4o", "chatbot", "gpt-4o", false},
		{"openrouter:openai/*", "openrouter", "openai/gpt-4o", true},
		{"openrouter:openai/*", "openrouter", "anthropic/claude", false},
	}
	for _, tt := range tests {
		s := MustParse(tt.scope)
		if got := s.Allows(tt.f, tt.r); got != tt.want {
			t.Errorf("Scope(%s).Allows(%q, %q) = %v, want %v", tt.scope, tt.f, tt.r, got, tt.want)
		}
	}
}

func TestZeroScopeGrantsNothing(t *testing.T) {
	var z Scope
	if !z.IsZero() {
		t.Error("Scope{}.IsZero() = false, want true")
	}
	for _, fr := range [][2]string{{"", ""}, {"", "x"}, {"chatbot", ""}, {"chatbot", "gpt-4o"}} {
		if z.Allows(fr[0], fr[1]) {
			t.Errorf("Scope{}.Allows(%q, %q) = true, want false", fr[0], fr[1])
		}
	}
	if z.Covers(Scope{}) {
		t.Error("Scope{}.Covers(Scope{}) = true, want false")
	}
	if z.Covers(MustParse("chatbot")) {
		t.Error("Scope{}.Covers(chatbot) = true, want false")
	}
	if b, err := z.MarshalText(); err == nil {
		t.Errorf("Scope{}.MarshalText() = %q, nil; want an error", b)
	}
}

func TestScopeCovers(t *testing.T) {
	tests := []struct {
		s, t string
		want bool
	}{
		{"chatbot", "chatbot", true},
		{"chatbot", "chatbot:gpt-4o", true},
		{"chatbot", "chatbot:gpt*", true},
		{"chatbot:gpt*", "chatbot:gpt-4o", true},
		{"chatbot:gpt*", "chatbot:gpt-4*", true},
		{"chatbot:gpt-4*", "chatbot:gpt*", false},
		{"chatbot:gpt-4o", "chatbot", false},
		{"chatbot", "code-generation", false},
		{"chatbot", "code-generation:gpt-4o", false},
		{"chatbot:gpt-4o", "code-generation:gpt-4o", false},
	}
	for _, tt := range tests {
		if got := MustParse(tt.s).Covers(MustParse(tt.t)); got != tt.want {
			t.Errorf("Scope(%s).Covers(%s) = %v, want %v", tt.s, tt.t, got, tt.want)
		}
	}
}

func TestScopeText(t *testing.T) {
	for _, in := range []string{"chatbot", "chatbot:gpt-4o", "code-generation:claude-sonnet-4-*"} {
		s := MustParse(in)
		b, err := s.MarshalText()
		if err != nil || string(b) != in {
			t.Errorf("Scope(%s).MarshalText() = %q, %v; want %q", in, b, err, in)
		}
		var got Scope
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, got, err, s)
		}
	}
	t.Run("InvalidKeepsOldValue", func(t *testing.T) {
		s := MustParse("chatbot")
		err := s.UnmarshalText([]byte("Bad Scope"))
		if _, ok := errors.AsType[*SyntaxError](err); !ok {
			t.Errorf("UnmarshalText(%q) error = %v, want *SyntaxError", "Bad Scope", err)
		}
		if s != MustParse("chatbot") {
			t.Errorf("UnmarshalText of bad text changed the scope to %#v", s)
		}
	})
}

// wordsUpTo returns every string of length 0..n over alphabet.
func wordsUpTo(alphabet string, n int) []string {
	out := []string{""}
	level := []string{""}
	for range n {
		var next []string
		for _, w := range level {
			for _, c := range alphabet {
				next = append(next, w+string(c))
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}
