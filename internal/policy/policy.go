// Package policy makes the authorization decision: given a verified key,
// its principal and what a request asks for, allow or deny, and why.
//
// It is pure: no I/O, no clock, no configuration loading. The proxy builds
// the Features from the configuration once and calls Evaluate for every
// request; the admin API's explain calls the same function, so what
// explain says is what the gateway does.
//
// # Rules
//
//   - Deny by default: a request is allowed only if some feature that
//     serves its endpoint also serves its resource and is granted by the
//     key's effective scopes (the key's scopes intersected with its
//     principal's ceiling).
//   - External principals never reach internal features.
//   - Keys of the test environment reach only features whose upstream
//     accepts test keys.
//   - Every server-side tool a request names must be allowed by the
//     granting feature.
//   - The model a request names is resolved through the granting feature's
//     aliases first; the canonical id is what is authorized and forwarded.
package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

// Feature is what the policy needs to know of a configured feature.
type Feature struct {
	Name     string
	Audience apikey.Audience
	// Resources are the models or datasets it serves, as scopes of this
	// feature (patterns allowed).
	Resources scope.Set
	// Models are the exact model ids the feature declares, for listing
	// (Resources may fold an exact id into a covering pattern). Datasets
	// are never listed.
	Models []string
	// Aliases map names a client may send to canonical resource ids.
	Aliases map[string]string
	// Tools are the server-side tools requests may use through it.
	Tools []string
	// TestKeys is whether keys of the test environment may use it.
	TestKeys bool
}

// Request is what a request asks for.
type Request struct {
	// Candidates are the features serving the request's endpoint.
	Candidates []*Feature
	// Resource is the model or dataset as the client named it.
	Resource string
	// Tools are the server-side tools the request names, normalized
	// (e.g. "web_search", "mcp:https://mcp.example.com/sse").
	Tools []string
}

// Reason is a machine-readable decision reason, used in error bodies,
// audit events and metrics.
type Reason string

// The reasons.
const (
	ReasonAllowed           Reason = "allowed"
	ReasonMissingScope      Reason = "missing_scope"
	ReasonResourceNotServed Reason = "resource_not_served"
	ReasonAudience          Reason = "audience_mismatch"
	ReasonTestKey           Reason = "test_key_not_allowed"
	ReasonToolNotAllowed    Reason = "tool_not_allowed"
)

// Decision is the outcome of Evaluate.
type Decision struct {
	Allow  bool
	Reason Reason
	// Feature is the feature that granted the request, or the one the
	// denial is about.
	Feature string
	// Resource is the canonical resource id: what is forwarded when
	// allowed.
	Resource string
	// Scope is the scope that granted the request, or, for
	// missing_scope, the scope that would have.
	Scope scope.Scope
	// Tool is the refused tool, for tool_not_allowed.
	Tool string
}

// Message explains the decision to the client in one sentence.
func (d Decision) Message() string {
	switch d.Reason {
	case ReasonAllowed:
		return fmt.Sprintf("allowed by scope %s", d.Scope)
	case ReasonMissingScope:
		return fmt.Sprintf("this key lacks the scope %s needed for %q", d.Scope, d.Resource)
	case ReasonAudience:
		return fmt.Sprintf("feature %q is internal; keys of external principals cannot use it", d.Feature)
	case ReasonTestKey:
		return fmt.Sprintf("feature %q does not accept test keys; use a live key", d.Feature)
	case ReasonToolNotAllowed:
		return fmt.Sprintf("tool %q is not allowed for feature %q", d.Tool, d.Feature)
	}
	return fmt.Sprintf("%q is not served by this endpoint", d.Resource)
}

// rank orders denials: when several features could serve a request, the
// most specific denial is reported.
func (r Reason) rank() int {
	return slices.Index([]Reason{ReasonResourceNotServed, ReasonMissingScope, ReasonTestKey, ReasonAudience, ReasonToolNotAllowed, ReasonAllowed}, r)
}

// Evaluate decides whether key k of principal p may make request req.
// Candidates are tried in name order, so the decision is deterministic.
func Evaluate(k *apikey.Key, p *apikey.Principal, req Request) Decision {
	effective := k.Scopes.Intersect(p.Ceiling)
	best := Decision{Reason: ReasonResourceNotServed, Resource: req.Resource}
	for _, f := range sortedCandidates(req.Candidates) {
		d := evaluateOne(k, p, effective, f, req)
		if d.Allow {
			return d
		}
		if d.Reason.rank() > best.Reason.rank() {
			best = d
		}
	}
	return best
}

func evaluateOne(k *apikey.Key, p *apikey.Principal, effective scope.Set, f *Feature, req Request) Decision {
	resource := Canonical(f, req.Resource)
	d := Decision{Feature: f.Name, Resource: resource, Scope: scope.Scope{Feature: f.Name, Resource: scope.Pattern{Name: resource}}}
	internalToExternal := f.Audience != apikey.AudienceExternal && p.Audience == apikey.AudienceExternal
	switch {
	case resource == "" || !f.Resources.Allows(f.Name, resource):
		d.Reason, d.Scope = ReasonResourceNotServed, scope.Scope{}
	case !effective.Allows(f.Name, resource):
		d.Reason = ReasonMissingScope
		if internalToExternal {
			// An external principal is not told which internal features
			// exist: to it, this one does not serve the resource.
			d.Reason, d.Feature, d.Scope = ReasonResourceNotServed, "", scope.Scope{}
		}
	case internalToExternal:
		d.Reason = ReasonAudience
	case k.Env == apikey.EnvTest && !f.TestKeys:
		d.Reason = ReasonTestKey
	default:
		if t, ok := firstRefusedTool(f, req.Tools); ok {
			d.Reason, d.Tool = ReasonToolNotAllowed, t
			return d
		}
		d.Allow, d.Reason, d.Scope = true, ReasonAllowed, grantingScope(effective, f.Name, resource)
	}
	return d
}

// Canonical resolves name through f's aliases.
func Canonical(f *Feature, name string) string {
	if c, ok := f.Aliases[name]; ok {
		return c
	}
	return name
}

func grantingScope(effective scope.Set, feature, resource string) scope.Scope {
	s, _ := effective.Granting(feature, resource)
	return s
}

func firstRefusedTool(f *Feature, tools []string) (string, bool) {
	for _, t := range tools {
		if !toolAllowed(f.Tools, t) {
			return t, true
		}
	}
	return "", false
}

// toolAllowed reports whether tool t is in allowed. "mcp" allows every MCP
// server; "mcp:<url>" allows one.
func toolAllowed(allowed []string, t string) bool {
	for _, a := range allowed {
		if a == t || (a == "mcp" && strings.HasPrefix(t, "mcp:")) {
			return true
		}
	}
	return false
}

func sortedCandidates(c []*Feature) []*Feature {
	if slices.IsSortedFunc(c, byName) {
		return c
	}
	c = slices.Clone(c)
	slices.SortFunc(c, byName)
	return c
}

func byName(a, b *Feature) int { return strings.Compare(a.Name, b.Name) }

// Models returns the declared model ids and aliases that k may use
// through features, sorted: what GET /v1/models shows a key. Prefix
// patterns name no model and datasets are no models, so neither is listed.
func Models(k *apikey.Key, p *apikey.Principal, features []*Feature) []string {
	var out []string
	effective := k.Scopes.Intersect(p.Ceiling)
	for _, f := range features {
		for _, m := range f.Models {
			if evaluateOne(k, p, effective, f, Request{Resource: m}).Allow {
				out = append(out, m)
			}
		}
		for alias := range f.Aliases {
			if evaluateOne(k, p, effective, f, Request{Resource: alias}).Allow {
				out = append(out, alias)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
