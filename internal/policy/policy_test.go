package policy_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/policy"
	"github.com/scopegate/scopegate/internal/scope"
)

// featureSpec is a test feature written as text, so that the naive
// reimplementation below can read it without the scope package.
type featureSpec struct {
	name      string
	audience  apikey.Audience
	resources []string // patterns: "gpt-4o", "o3-*", "*"
	aliases   map[string]string
	tools     []string
	testKeys  bool
}

// specs are the features every test here evaluates against:
//
//   - chat and assist are external and share gpt-4o (and an endpoint);
//   - code is internal;
//   - chat and assist differ in their tools ("mcp" wildcard vs one URL) and
//     in whether test keys may use them.
var specs = []featureSpec{
	{name: "chat", audience: apikey.AudienceExternal,
		resources: []string{"gpt-4o-mini", "gpt-4o", "o3-*"},
		aliases:   map[string]string{"chatbot-v1": "gpt-4o-mini", "big": "gpt-4o"},
		tools:     []string{"web_search", "mcp:https://mcp.example.com/sse"},
		testKeys:  true},
	{name: "assist", audience: apikey.AudienceExternal,
		resources: []string{"gpt-4o", "gpt-4.1"},
		tools:     []string{"mcp"}},
	{name: "code", audience: apikey.AudienceInternal,
		resources: []string{"claude-sonnet-4-*", "claude-haiku-4-5"},
		aliases:   map[string]string{"coder": "claude-sonnet-4-5"}},
}

func (s featureSpec) feature() *policy.Feature {
	var rs []scope.Scope
	var models []string
	for _, r := range s.resources {
		rs = append(rs, mustScope(s.name, r))
		if !strings.HasSuffix(r, "*") {
			models = append(models, r)
		}
	}
	return &policy.Feature{Name: s.name, Audience: s.audience, Resources: scope.NewSet(rs...),
		Models: models, Aliases: s.aliases, Tools: s.tools, TestKeys: s.testKeys}
}

func mustScope(feature, pattern string) scope.Scope {
	if pattern == "*" {
		pattern = ""
	}
	s, err := scope.New(feature, pattern)
	if err != nil {
		panic(err)
	}
	return s
}

// testFeatures returns fresh Features for specs, in the order given.
func testFeatures(t testing.TB, names ...string) []*policy.Feature {
	t.Helper()
	var out []*policy.Feature
	for _, n := range names {
		i := slices.IndexFunc(specs, func(s featureSpec) bool { return s.name == n })
		if i < 0 {
			t.Fatalf("no test feature %q", n)
		}
		out = append(out, specs[i].feature())
	}
	return out
}

var everyScope = []string{"chat", "assist", "code"}

func key(env apikey.Env, scopes ...string) *apikey.Key {
	return &apikey.Key{ID: "k", Class: apikey.ClassData, Env: env, Status: apikey.StatusActive,
		Scopes: scope.MustParseSet(scopes...)}
}

func principal(aud apikey.Audience, ceiling ...string) *apikey.Principal {
	return &apikey.Principal{ID: "p", Audience: aud, Status: apikey.PrincipalActive,
		Ceiling: scope.MustParseSet(ceiling...)}
}

var (
	internal = principal(apikey.AudienceInternal, everyScope...)
	external = principal(apikey.AudienceExternal, everyScope...)
)

// decision is the comparable part of a policy.Decision.
type decision struct {
	Allow    bool
	Reason   policy.Reason
	Feature  string
	Resource string
	Scope    string
	Tool     string
}

func summary(d policy.Decision) decision {
	sc := ""
	if !d.Scope.IsZero() {
		sc = d.Scope.String()
	}
	return decision{Allow: d.Allow, Reason: d.Reason, Feature: d.Feature, Resource: d.Resource, Scope: sc, Tool: d.Tool}
}

func TestEvaluate(t *testing.T) {
	chatOnly := []string{"chat"}
	shared := []string{"chat", "assist"}
	tests := []struct {
		name       string
		key        *apikey.Key
		principal  *apikey.Principal
		candidates []string
		resource   string
		tools      []string
		want       decision
	}{
		{name: "ExactScope", key: key(apikey.EnvLive, "chat:gpt-4o-mini"), principal: internal,
			candidates: chatOnly, resource: "gpt-4o-mini",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o-mini", Scope: "chat:gpt-4o-mini"}},
		{name: "ExactScopeOtherModel", key: key(apikey.EnvLive, "chat:gpt-4o-mini"), principal: internal,
			candidates: chatOnly, resource: "gpt-4o",
			want: decision{Reason: policy.ReasonMissingScope, Feature: "chat", Resource: "gpt-4o", Scope: "chat:gpt-4o"}},
		{name: "PrefixScope", key: key(apikey.EnvLive, "chat:o3-*"), principal: internal,
			candidates: chatOnly, resource: "o3-mini",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "o3-mini", Scope: "chat:o3-*"}},
		{name: "PrefixScopeOutsidePrefix", key: key(apikey.EnvLive, "chat:o3-*"), principal: internal,
			candidates: chatOnly, resource: "o4-mini",
			want: decision{Reason: policy.ReasonResourceNotServed, Resource: "o4-mini"}},
		{name: "WholeFeature", key: key(apikey.EnvLive, "chat"), principal: internal,
			candidates: chatOnly, resource: "gpt-4o",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o", Scope: "chat"}},
		{name: "ScopeOutsideCeiling", key: key(apikey.EnvLive, "chat"),
			principal:  principal(apikey.AudienceInternal, "chat:gpt-4o-mini"),
			candidates: chatOnly, resource: "gpt-4o",
			want: decision{Reason: policy.ReasonMissingScope, Feature: "chat", Resource: "gpt-4o", Scope: "chat:gpt-4o"}},
		{name: "CeilingNarrowsGrant", key: key(apikey.EnvLive, "chat"),
			principal:  principal(apikey.AudienceInternal, "chat:gpt-4o-mini"),
			candidates: chatOnly, resource: "gpt-4o-mini",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o-mini", Scope: "chat:gpt-4o-mini"}},
		{name: "EmptyCeiling", key: key(apikey.EnvLive, "chat"), principal: principal(apikey.AudienceInternal),
			candidates: chatOnly, resource: "gpt-4o-mini",
			want: decision{Reason: policy.ReasonMissingScope, Feature: "chat", Resource: "gpt-4o-mini", Scope: "chat:gpt-4o-mini"}},
		{name: "EmptyScopes", key: key(apikey.EnvLive), principal: internal,
			candidates: chatOnly, resource: "gpt-4o-mini",
			want: decision{Reason: policy.ReasonMissingScope, Feature: "chat", Resource: "gpt-4o-mini", Scope: "chat:gpt-4o-mini"}},
		{name: "SharedEndpointOtherFeatureGrants", key: key(apikey.EnvLive, "chat:gpt-4o-mini"), principal: internal,
			candidates: []string{"assist", "chat"}, resource: "gpt-4o-mini",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o-mini", Scope: "chat:gpt-4o-mini"}},
		{name: "SharedEndpointGrantingFeatureChosen", key: key(apikey.EnvLive, "assist:gpt-4o"), principal: internal,
			candidates: shared, resource: "gpt-4o",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "assist", Resource: "gpt-4o", Scope: "assist:gpt-4o"}},
		{name: "SharedEndpointBothGrantFirstByName", key: key(apikey.EnvLive, "chat", "assist"), principal: internal,
			candidates: shared, resource: "gpt-4o",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "assist", Resource: "gpt-4o", Scope: "assist"}},
		{name: "SharedEndpointBothGrantOtherOrder", key: key(apikey.EnvLive, "chat", "assist"), principal: internal,
			candidates: []string{"assist", "chat"}, resource: "gpt-4o",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "assist", Resource: "gpt-4o", Scope: "assist"}},
		{name: "SharedEndpointOnlyOtherServes", key: key(apikey.EnvLive, "chat"), principal: internal,
			candidates: shared, resource: "gpt-4.1",
			want: decision{Reason: policy.ReasonMissingScope, Feature: "assist", Resource: "gpt-4.1", Scope: "assist:gpt-4.1"}},
		{name: "Alias", key: key(apikey.EnvLive, "chat:gpt-4o-mini"), principal: internal,
			candidates: chatOnly, resource: "chatbot-v1",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o-mini", Scope: "chat:gpt-4o-mini"}},
		{name: "AliasScopeNamingAliasDoesNotGrant", key: key(apikey.EnvLive, "chat:big"), principal: internal,
			candidates: chatOnly, resource: "big",
			want: decision{Reason: policy.ReasonMissingScope, Feature: "chat", Resource: "gpt-4o", Scope: "chat:gpt-4o"}},
		{name: "AliasToDeniedModel", key: key(apikey.EnvLive, "chat:gpt-4o-mini"), principal: internal,
			candidates: chatOnly, resource: "big",
			want: decision{Reason: policy.ReasonMissingScope, Feature: "chat", Resource: "gpt-4o", Scope: "chat:gpt-4o"}},
		{name: "AliasOfOtherFeatureNotResolved", key: key(apikey.EnvLive, "assist"), principal: internal,
			candidates: []string{"assist"}, resource: "big",
			want: decision{Reason: policy.ReasonResourceNotServed, Resource: "big"}},
		{name: "ExternalInternalFeatureHeld", key: key(apikey.EnvLive, "code"), principal: external,
			candidates: []string{"code"}, resource: "claude-haiku-4-5",
			want: decision{Reason: policy.ReasonAudience, Feature: "code", Resource: "claude-haiku-4-5", Scope: "code:claude-haiku-4-5"}},
		{name: "ExternalInternalFeatureNotHeld", key: key(apikey.EnvLive, "chat"), principal: external,
			candidates: []string{"code"}, resource: "claude-haiku-4-5",
			want: decision{Reason: policy.ReasonResourceNotServed, Resource: "claude-haiku-4-5"}},
		{name: "ExternalInternalAliasNotHeld", key: key(apikey.EnvLive, "chat"), principal: external,
			candidates: []string{"chat", "code"}, resource: "coder",
			want: decision{Reason: policy.ReasonResourceNotServed, Resource: "coder"}},
		{name: "InternalInternalFeature", key: key(apikey.EnvLive, "code:claude-sonnet-4-*"), principal: internal,
			candidates: []string{"code"}, resource: "coder",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "code", Resource: "claude-sonnet-4-5", Scope: "code:claude-sonnet-4-*"}},
		{name: "TestKeyNonTestFeature", key: key(apikey.EnvTest, "assist"), principal: internal,
			candidates: []string{"assist"}, resource: "gpt-4.1",
			want: decision{Reason: policy.ReasonTestKey, Feature: "assist", Resource: "gpt-4.1", Scope: "assist:gpt-4.1"}},
		{name: "TestKeyTestFeature", key: key(apikey.EnvTest, "chat"), principal: internal,
			candidates: chatOnly, resource: "gpt-4o",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o", Scope: "chat"}},
		{name: "TestKeySharedEndpointFallsToTestFeature", key: key(apikey.EnvTest, "chat", "assist"), principal: internal,
			candidates: shared, resource: "gpt-4o",
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o", Scope: "chat"}},
		{name: "ToolAllowed", key: key(apikey.EnvLive, "chat"), principal: internal,
			candidates: chatOnly, resource: "gpt-4o", tools: []string{"web_search"},
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o", Scope: "chat"}},
		{name: "ToolRefused", key: key(apikey.EnvLive, "chat"), principal: internal,
			candidates: chatOnly, resource: "gpt-4o", tools: []string{"web_search", "code_interpreter"},
			want: decision{Reason: policy.ReasonToolNotAllowed, Feature: "chat", Resource: "gpt-4o", Scope: "chat:gpt-4o", Tool: "code_interpreter"}},
		{name: "MCPExactURLAllowed", key: key(apikey.EnvLive, "chat"), principal: internal,
			candidates: chatOnly, resource: "gpt-4o", tools: []string{"mcp:https://mcp.example.com/sse"},
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o", Scope: "chat"}},
		{name: "MCPOtherURLRefused", key: key(apikey.EnvLive, "chat"), principal: internal,
			candidates: chatOnly, resource: "gpt-4o", tools: []string{"mcp:https://mcp.example.com/sse/../evil"},
			want: decision{Reason: policy.ReasonToolNotAllowed, Feature: "chat", Resource: "gpt-4o", Scope: "chat:gpt-4o", Tool: "mcp:https://mcp.example.com/sse/../evil"}},
		{name: "MCPWildcardAllowsAnyServer", key: key(apikey.EnvLive, "assist"), principal: internal,
			candidates: []string{"assist"}, resource: "gpt-4o", tools: []string{"mcp:https://evil.example.net/sse"},
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "assist", Resource: "gpt-4o", Scope: "assist"}},
		{name: "MCPWildcardAllowsNoOtherTool", key: key(apikey.EnvLive, "assist"), principal: internal,
			candidates: []string{"assist"}, resource: "gpt-4o", tools: []string{"mcp_toolset"},
			want: decision{Reason: policy.ReasonToolNotAllowed, Feature: "assist", Resource: "gpt-4o", Scope: "assist:gpt-4o", Tool: "mcp_toolset"}},
		{name: "ToolRefusedByOneAllowedByOther", key: key(apikey.EnvLive, "chat", "assist"), principal: internal,
			candidates: shared, resource: "gpt-4o", tools: []string{"web_search"},
			want: decision{Allow: true, Reason: policy.ReasonAllowed, Feature: "chat", Resource: "gpt-4o", Scope: "chat"}},
		{name: "NotServed", key: key(apikey.EnvLive, "chat"), principal: internal,
			candidates: shared, resource: "gpt-5",
			want: decision{Reason: policy.ReasonResourceNotServed, Resource: "gpt-5"}},
		{name: "CaseVariantNotServed", key: key(apikey.EnvLive, "chat"), principal: internal,
			candidates: chatOnly, resource: "GPT-4o",
			want: decision{Reason: policy.ReasonResourceNotServed, Resource: "GPT-4o"}},
		{name: "EmptyResource", key: key(apikey.EnvLive, "chat"), principal: internal,
			candidates: chatOnly, resource: "",
			want: decision{Reason: policy.ReasonResourceNotServed}},
		{name: "NoCandidates", key: key(apikey.EnvLive, "chat"), principal: internal,
			resource: "gpt-4o",
			want:     decision{Reason: policy.ReasonResourceNotServed, Resource: "gpt-4o"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := policy.Request{Candidates: testFeatures(t, tt.candidates...), Resource: tt.resource, Tools: tt.tools}
			got := summary(policy.Evaluate(tt.key, tt.principal, req))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate(%v, %q, tools %q) mismatch (-want +got):\n%s", tt.key.Scopes, tt.resource, tt.tools, diff)
			}
			// The order candidates come in never changes the decision.
			slices.Reverse(req.Candidates)
			if again := summary(policy.Evaluate(tt.key, tt.principal, req)); again != got {
				t.Errorf("Evaluate with candidates reversed = %+v, want %+v", again, got)
			}
		})
	}
}

func TestDecisionMessageNamesNoInternalFeature(t *testing.T) {
	d := policy.Evaluate(key(apikey.EnvLive, "chat"), external,
		policy.Request{Candidates: testFeatures(t, "chat", "code"), Resource: "claude-haiku-4-5"})
	if strings.Contains(d.Message(), "code") {
		t.Errorf("Message() = %q, names the internal feature", d.Message())
	}
}

func TestModels(t *testing.T) {
	all := []string{"assist", "chat", "code"}
	tests := []struct {
		name      string
		key       *apikey.Key
		principal *apikey.Principal
		want      []string
	}{
		{name: "ExactScope", key: key(apikey.EnvLive, "chat:gpt-4o-mini"), principal: internal,
			want: []string{"chatbot-v1", "gpt-4o-mini"}},
		{name: "WholeFeatureNoPatterns", key: key(apikey.EnvLive, "chat"), principal: internal,
			want: []string{"big", "chatbot-v1", "gpt-4o", "gpt-4o-mini"}},
		{name: "PrefixScopeListsNothing", key: key(apikey.EnvLive, "chat:o3-*"), principal: internal,
			want: nil},
		{name: "SharedModelListedOnce", key: key(apikey.EnvLive, "chat:gpt-4o", "assist"), principal: internal,
			want: []string{"big", "gpt-4.1", "gpt-4o"}},
		{name: "CeilingApplies", key: key(apikey.EnvLive, "chat", "code"),
			principal: principal(apikey.AudienceInternal, "chat:gpt-4o", "code:claude-sonnet-4-*"),
			want:      []string{"big", "coder", "gpt-4o"}},
		{name: "ExternalSeesNoInternal", key: key(apikey.EnvLive, "chat:gpt-4o-mini", "code"), principal: external,
			want: []string{"chatbot-v1", "gpt-4o-mini"}},
		{name: "TestKey", key: key(apikey.EnvTest, "chat:gpt-4o", "assist"), principal: internal,
			want: []string{"big", "gpt-4o"}},
		{name: "EmptyScopes", key: key(apikey.EnvLive), principal: internal, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := policy.Models(tt.key, tt.principal, testFeatures(t, all...))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Models(%v) mismatch (-want +got):\n%s", tt.key.Scopes, diff)
			}
			// Everything listed is allowed by Evaluate.
			for _, m := range got {
				d := policy.Evaluate(tt.key, tt.principal, policy.Request{Candidates: testFeatures(t, all...), Resource: m})
				if !d.Allow {
					t.Errorf("Models lists %q, but Evaluate denies it: %s", m, d.Reason)
				}
			}
		})
	}
}

// The property: Evaluate allows a request exactly when a naive reading of
// the rules does, and an allowed decision's Resource is the canonical name
// under the granting feature.

// scopeUniverse is what random key scopes and ceilings are drawn from.
var scopeUniverse = []string{
	"chat", "chat:gpt-4o", "chat:gpt-4o-mini", "chat:gpt-4o*", "chat:o3-*", "chat:o3-mini", "chat:big",
	"chat:chatbot-v1", "chat:gpt-4.1",
	"assist", "assist:gpt-4o", "assist:gpt-4.1", "assist:gpt-*",
	"code", "code:claude-*", "code:claude-sonnet-4-*", "code:claude-sonnet-4-5", "code:claude-haiku-4-5", "code:coder",
	"other", "other:gpt-4o",
}

// resourceUniverse is what random resources are drawn from, next to
// random strings.
var resourceUniverse = []string{
	"gpt-4o", "gpt-4o-mini", "gpt-4o-mini-2024", "o3-mini", "o3-", "o3", "gpt-4.1", "big", "chatbot-v1", "coder",
	"claude-sonnet-4-5", "claude-sonnet-4-", "claude-haiku-4-5", "claude-haiku-4-5 ", "GPT-4o", "gpt-4o\u200b",
	"gpt-4\u043e", "", "*", "gpt-4o*", "chat", "chat:gpt-4o", "o3-*",
}

var toolUniverse = []string{"web_search", "code_interpreter", "mcp", "mcp:https://mcp.example.com/sse",
	"mcp:https://evil.example.net/", "mcp_toolset", "file_search"}

// naiveMatch reports whether the scope text s grants resource r of
// feature f, read straight from the grammar.
func naiveMatch(s, f, r string) bool {
	feat, pat, has := strings.Cut(s, ":")
	if feat != f {
		return false
	}
	if !has || pat == "*" {
		return true
	}
	if p, ok := strings.CutSuffix(pat, "*"); ok {
		return strings.HasPrefix(r, p)
	}
	return r == pat
}

func naiveAny(scopes []string, f, r string) bool {
	return slices.ContainsFunc(scopes, func(s string) bool { return naiveMatch(s, f, r) })
}

// naiveEvaluate returns the feature that grants the request, or "".
func naiveEvaluate(keyScopes, ceiling []string, env apikey.Env, aud apikey.Audience, candidates []featureSpec, resource string, tools []string) string {
	byName := slices.Clone(candidates)
	slices.SortFunc(byName, func(a, b featureSpec) int { return strings.Compare(a.name, b.name) })
	for _, f := range byName {
		c := resource
		if a, ok := f.aliases[resource]; ok {
			c = a
		}
		if c == "" {
			continue
		}
		served := slices.ContainsFunc(f.resources, func(p string) bool { return naiveMatch(f.name+":"+p, f.name, c) })
		granted := naiveAny(keyScopes, f.name, c) && naiveAny(ceiling, f.name, c)
		audienceOK := aud == apikey.AudienceInternal || f.audience == apikey.AudienceExternal
		envOK := env == apikey.EnvLive || f.testKeys
		toolsOK := true
		for _, t := range tools {
			if !slices.Contains(f.tools, t) && !(slices.Contains(f.tools, "mcp") && strings.HasPrefix(t, "mcp:")) {
				toolsOK = false
			}
		}
		if served && granted && audienceOK && envOK && toolsOK {
			return f.name
		}
	}
	return ""
}

// evalCase is one random input of the property.
type evalCase struct {
	keyScopes, ceiling []string
	env                apikey.Env
	audience           apikey.Audience
	candidates         []featureSpec
	resource           string
	tools              []string
}

func checkEvaluate(t *testing.T, c evalCase) {
	t.Helper()
	k := &apikey.Key{ID: "k", Class: apikey.ClassData, Env: c.env, Status: apikey.StatusActive, Scopes: scope.MustParseSet(c.keyScopes...)}
	p := &apikey.Principal{ID: "p", Audience: c.audience, Status: apikey.PrincipalActive, Ceiling: scope.MustParseSet(c.ceiling...)}
	var fs []*policy.Feature
	for _, s := range c.candidates {
		fs = append(fs, s.feature())
	}
	d := policy.Evaluate(k, p, policy.Request{Candidates: fs, Resource: c.resource, Tools: c.tools})
	want := naiveEvaluate(c.keyScopes, c.ceiling, c.env, c.audience, c.candidates, c.resource, c.tools)
	where := func() string {
		return fmt.Sprintf("key %q, ceiling %q, env %s, audience %s, resource %q, tools %q",
			c.keyScopes, c.ceiling, c.env, c.audience, c.resource, c.tools)
	}
	if d.Allow != (want != "") {
		t.Fatalf("Evaluate(%s) = %+v, naive evaluation grants %q", where(), summary(d), want)
	}
	if !d.Allow {
		if d.Reason == policy.ReasonAllowed {
			t.Fatalf("Evaluate(%s): denied with reason %q", where(), d.Reason)
		}
		// An external principal learns of an internal feature only when
		// its key holds a scope for it.
		if i := slices.IndexFunc(c.candidates, func(s featureSpec) bool { return s.name == d.Feature }); i >= 0 &&
			c.audience == apikey.AudienceExternal && c.candidates[i].audience == apikey.AudienceInternal && d.Reason != policy.ReasonAudience {
			t.Fatalf("Evaluate(%s) = %+v: names internal feature %q to an external principal", where(), summary(d), d.Feature)
		}
		return
	}
	if d.Feature != want {
		t.Fatalf("Evaluate(%s): granted by %q, want %q (first granting feature by name)", where(), d.Feature, want)
	}
	f := fs[slices.IndexFunc(fs, func(f *policy.Feature) bool { return f.Name == d.Feature })]
	if canon := policy.Canonical(f, c.resource); d.Resource != canon {
		t.Fatalf("Evaluate(%s): Resource = %q, want Canonical = %q", where(), d.Resource, canon)
	}
	if d.Reason != policy.ReasonAllowed || !d.Scope.Allows(d.Feature, d.Resource) || !k.Scopes.Allows(d.Feature, d.Resource) {
		t.Fatalf("Evaluate(%s) = %+v: the granting scope does not grant it", where(), summary(d))
	}
}

// pick returns the elements of universe whose bit is set in bits.
func pick[T any](universe []T, bits uint64) []T {
	var out []T
	for i, v := range universe {
		if bits&(1<<(i%64)) != 0 {
			out = append(out, v)
		}
	}
	return out
}

func caseFrom(keyBits, ceilingBits, featureBits, toolBits uint64, flags uint8, resource string) evalCase {
	c := evalCase{keyScopes: pick(scopeUniverse, keyBits), ceiling: pick(scopeUniverse, ceilingBits),
		env: apikey.EnvLive, audience: apikey.AudienceInternal, candidates: pick(specs, featureBits), resource: resource}
	if flags&1 != 0 {
		c.env = apikey.EnvTest
	}
	if flags&2 != 0 {
		c.audience = apikey.AudienceExternal
	}
	if flags&4 != 0 {
		c.tools = pick(toolUniverse, toolBits)
	}
	return c
}

func TestEvaluateProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		res := resourceUniverse[r.IntN(len(resourceUniverse))]
		if r.IntN(8) == 0 {
			res = randomName(r)
		}
		// Keys hold a few scopes, so that most requests are denied for
		// some reason and many are allowed.
		c := caseFrom(r.Uint64()&r.Uint64()&r.Uint64(), r.Uint64()|r.Uint64(), r.Uint64(), r.Uint64()&r.Uint64(),
			uint8(r.IntN(8)), res)
		checkEvaluate(t, c)
	}
}

func randomName(r *rand.Rand) string {
	const alphabet = "gpt-4o3mini.clau*:\u200b\u043e "
	runes := []rune(alphabet)
	b := make([]rune, r.IntN(12))
	for i := range b {
		b[i] = runes[r.IntN(len(runes))]
	}
	return string(b)
}

func FuzzEvaluate(f *testing.F) {
	f.Add(uint64(1), uint64(1), uint64(7), uint64(0), uint8(0), "gpt-4o")
	f.Add(uint64(0b100000), uint64(^uint64(0)), uint64(7), uint64(0), uint8(0), "big")
	f.Add(uint64(1<<13), uint64(^uint64(0)), uint64(4), uint64(0), uint8(2), "coder")
	f.Add(uint64(1<<9), uint64(^uint64(0)), uint64(3), uint64(1<<2), uint8(5), "gpt-4o")
	f.Add(uint64(^uint64(0)), uint64(^uint64(0)), uint64(7), uint64(^uint64(0)), uint8(7), "o3-mini")
	f.Fuzz(func(t *testing.T, keyBits, ceilingBits, featureBits, toolBits uint64, flags uint8, resource string) {
		checkEvaluate(t, caseFrom(keyBits, ceilingBits, featureBits, toolBits, flags, resource))
	})
}

// TestModelsListsExactIDCoveredByPattern checks that a declared model is
// listed even when a pattern of the same feature covers it (the scope set
// folds the exact id into the pattern).
func TestModelsListsExactIDCoveredByPattern(t *testing.T) {
	f := &policy.Feature{Name: "code", Audience: apikey.AudienceInternal,
		Resources: scope.MustParseSet("code:claude-sonnet-4-5", "code:claude-*"),
		Models:    []string{"claude-sonnet-4-5"}}
	k := &apikey.Key{Scopes: scope.MustParseSet("code"), Env: apikey.EnvLive}
	p := &apikey.Principal{Audience: apikey.AudienceInternal, Ceiling: scope.MustParseSet("code"), Status: apikey.PrincipalActive}
	got := policy.Models(k, p, []*policy.Feature{f})
	if len(got) != 1 || got[0] != "claude-sonnet-4-5" {
		t.Errorf("Models = %v, want [claude-sonnet-4-5]", got)
	}
}
