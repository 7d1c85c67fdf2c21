package apikey_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

func TestCreatePrincipal(t *testing.T) {
	e := newIssuerEnv(t)
	spec := apikey.PrincipalSpec{ID: "alice@example.com", Team: "ml",
		Scopes: []string{"chatbot:gpt-4o", "keys:self", "chatbot:gpt-4o"}, Limits: apikey.Limits{RequestsPerMinute: 60, CostPerDay: 750_000}}
	got, err := e.issuer.CreatePrincipal(t.Context(), root, spec)
	if err != nil {
		t.Fatalf("CreatePrincipal: %v", err)
	}
	want := apikey.Principal{ID: "alice@example.com", Kind: apikey.KindUser, Audience: apikey.AudienceInternal, Team: "ml",
		Ceiling: scope.MustParseSet("chatbot:gpt-4o", "keys:self"), Status: apikey.PrincipalActive,
		Limits: apikey.Limits{RequestsPerMinute: 60, CostPerDay: 750_000}, CreatedAt: t0, UpdatedAt: t0, CreatedBy: root.String(), UpdatedBy: root.String()}
	if diff := cmp.Diff(want, got, cmpKeys); diff != "" {
		t.Errorf("CreatePrincipal mismatch (-want +got):\n%s", diff)
	}
	stored, err := e.db.Principal(t.Context(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, stored, cmpKeys); diff != "" {
		t.Errorf("stored principal mismatch (-want +got):\n%s", diff)
	}
	changes := e.changes()
	if len(changes) != 1 {
		t.Fatalf("recorded %d changes, want 1", len(changes))
	}
	wantChange(t, changes[0], "principal.create", root, "alice@example.com", map[string][2]string{
		"audience": {"", "internal"},
		"kind":     {"", "user"},
		"limits":   {"", "requests_per_minute=60 cost_per_day=0.75"},
		"scopes":   {"", "chatbot:gpt-4o keys:self"},
		"status":   {"", "active"},
		"team":     {"", "ml"},
	})
	if changes[0].Principal != "alice@example.com" {
		t.Errorf("change Principal = %q, want alice@example.com", changes[0].Principal)
	}

	t.Run("ErrConflict", func(t *testing.T) {
		_, err := e.issuer.CreatePrincipal(t.Context(), root, apikey.PrincipalSpec{ID: "alice@example.com"})
		if !errors.Is(err, apikey.ErrConflict) {
			t.Errorf("CreatePrincipal of an existing id = %v, want ErrConflict", err)
		}
		if c := e.changes(); len(c) != 0 {
			t.Errorf("a refused create recorded %d changes", len(c))
		}
	})
}

func TestCreatePrincipalService(t *testing.T) {
	e := newIssuerEnv(t)
	p, err := e.issuer.CreatePrincipal(t.Context(), root, apikey.PrincipalSpec{ID: "svc-billing",
		Kind: apikey.KindService, Audience: apikey.AudienceExternal})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != apikey.KindService || p.Audience != apikey.AudienceExternal || !p.Ceiling.IsEmpty() {
		t.Errorf("CreatePrincipal = kind %s audience %s ceiling %v, want service, external, empty", p.Kind, p.Audience, p.Ceiling)
	}
}

func TestCreatePrincipalValidation(t *testing.T) {
	tests := []struct {
		name  string
		spec  apikey.PrincipalSpec
		field string
	}{
		{"EmptyID", apikey.PrincipalSpec{ID: ""}, "id"},
		{"IDDot", apikey.PrincipalSpec{ID: "."}, "id"},
		{"IDDotDot", apikey.PrincipalSpec{ID: ".."}, "id"},
		{"IDWithSpace", apikey.PrincipalSpec{ID: "alice smith"}, "id"},
		{"IDWithSlash", apikey.PrincipalSpec{ID: "team/alice"}, "id"},
		{"IDWithPercent", apikey.PrincipalSpec{ID: "alice%40example.com"}, "id"},
		{"IDNonASCII", apikey.PrincipalSpec{ID: "zoë"}, "id"},
		{"IDTooLong", apikey.PrincipalSpec{ID: apikey.PrincipalID(strings.Repeat("a", 129))}, "id"},
		{"Kind", apikey.PrincipalSpec{ID: "a", Kind: "robot"}, "kind"},
		{"Audience", apikey.PrincipalSpec{ID: "a", Audience: "partner"}, "audience"},
		{"ScopeSyntax", apikey.PrincipalSpec{ID: "a", Scopes: []string{"chatbot", "Chat Bot"}}, "scopes"},
		{"UnknownFeature", apikey.PrincipalSpec{ID: "a", Scopes: []string{"no-such-feature"}}, "scopes"},
		{"TeamTooLong", apikey.PrincipalSpec{ID: "a", Team: strings.Repeat("t", 129)}, "team"},
		{"NegativeLimit", apikey.PrincipalSpec{ID: "a", Limits: apikey.Limits{TokensPerMinute: -1}}, "limits.tokens_per_minute"},
		{"NegativeCost", apikey.PrincipalSpec{ID: "a", Limits: apikey.Limits{CostPerMonth: -5}}, "limits.cost_per_month"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newIssuerEnvConfig(t, apikey.IssuerConfig{CheckScopes: onlyFeatures("chatbot", "code-generation")})
			_, err := e.issuer.CreatePrincipal(t.Context(), root, tt.spec)
			wantValidation(t, err, tt.field)
			page, err := e.db.Principals(t.Context(), apikey.PrincipalFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) != 0 {
				t.Errorf("a refused create stored %v", page.Items)
			}
			if c := e.changes(); len(c) != 0 {
				t.Errorf("a refused create recorded %v", c)
			}
		})
	}
}

// onlyFeatures is a CheckScopes that knows only the given features, as the
// configuration would.
func onlyFeatures(features ...string) func(scope.Set) error {
	return func(s scope.Set) error {
		for _, sc := range s.Scopes() {
			known := false
			for _, f := range features {
				known = known || sc.Feature == f
			}
			if !known {
				return &apikey.ValidationError{Field: "scopes", Message: "unknown feature " + sc.Feature}
			}
		}
		return nil
	}
}

func TestCreatePrincipalForbidden(t *testing.T) {
	e := newIssuerEnv(t)
	for _, a := range []apikey.Actor{
		{Principal: "alice@example.com", Team: "ml", Roles: scope.MustParseSet("keys:team")},
		{Principal: "alice@example.com", Team: "ml", Roles: scope.MustParseSet("keys:self")},
		{Principal: "alice@example.com", Team: "ml"},
	} {
		_, err := e.issuer.CreatePrincipal(t.Context(), a, apikey.PrincipalSpec{ID: "mallory"})
		if !errors.Is(err, apikey.ErrForbidden) {
			t.Errorf("CreatePrincipal by %s = %v, want ErrForbidden", a.Roles, err)
		}
	}
	if _, err := e.db.Principal(t.Context(), "mallory"); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("forbidden create stored the principal (lookup error %v)", err)
	}
}

func TestUpdatePrincipal(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("alice@example.com", "ml", "chatbot", "code-generation")
	e.clock.Advance(time.Hour)
	team, scopes := "research", []string{"chatbot:gpt-*"}
	p, err := e.issuer.UpdatePrincipal(t.Context(), root, "alice@example.com", apikey.PrincipalPatch{Team: &team, Scopes: &scopes})
	if err != nil {
		t.Fatal(err)
	}
	if p.Team != "research" || p.Ceiling.String() != "chatbot:gpt-*" || !p.UpdatedAt.Equal(t0.Add(time.Hour)) || !p.CreatedAt.Equal(t0) {
		t.Errorf("UpdatePrincipal = team %q ceiling %s updated %v created %v", p.Team, p.Ceiling, p.UpdatedAt, p.CreatedAt)
	}
	changes := e.changes()
	if len(changes) != 1 {
		t.Fatalf("recorded %d changes, want 1", len(changes))
	}
	wantChange(t, changes[0], "principal.update", root, "alice@example.com", map[string][2]string{
		"scopes": {"chatbot code-generation", "chatbot:gpt-*"},
		"team":   {"ml", "research"},
	})

	t.Run("InvalidLeavesItUnchanged", func(t *testing.T) {
		kind := apikey.PrincipalKind("robot")
		_, err := e.issuer.UpdatePrincipal(t.Context(), root, "alice@example.com", apikey.PrincipalPatch{Kind: &kind, Team: &team})
		wantValidation(t, err, "kind")
		bad := []string{"chatbot:"}
		_, err = e.issuer.UpdatePrincipal(t.Context(), root, "alice@example.com", apikey.PrincipalPatch{Scopes: &bad})
		wantValidation(t, err, "scopes")
		stored, _ := e.db.Principal(t.Context(), "alice@example.com")
		if stored.Kind != apikey.KindUser || stored.Ceiling.String() != "chatbot:gpt-*" {
			t.Errorf("refused update changed the principal to kind %s ceiling %s", stored.Kind, stored.Ceiling)
		}
		if c := e.changes(); len(c) != 0 {
			t.Errorf("refused updates recorded %v", c)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := e.issuer.UpdatePrincipal(t.Context(), root, "nobody", apikey.PrincipalPatch{Team: &team})
		if !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("UpdatePrincipal(nobody) = %v, want ErrNotFound", err)
		}
	})
}

func TestDisablePrincipalStopsItsKeys(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("alice@example.com", "ml", "chatbot")
	_, s1 := e.key(root, apikey.KeySpec{Principal: "alice@example.com", Scopes: []string{"chatbot"}})
	_, s2 := e.key(root, apikey.KeySpec{Principal: "alice@example.com", Scopes: []string{"chatbot:gpt-4o"}})
	e.changes()

	if _, err := e.issuer.DisablePrincipal(t.Context(), root, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []apikey.Secret{s1, s2} {
		if err := e.verify(s, apikey.ClassData); !errors.Is(err, apikey.ErrPrincipalDisabled) {
			t.Errorf("Verify(key of a disabled principal) = %v, want ErrPrincipalDisabled", err)
		}
	}
	changes := e.changes()
	if len(changes) != 1 {
		t.Fatalf("recorded %d changes, want 1", len(changes))
	}
	wantChange(t, changes[0], "principal.disable", root, "alice@example.com", map[string][2]string{"status": {"active", "disabled"}})
	if _, err := e.issuer.DisablePrincipal(t.Context(), root, "alice@example.com"); err != nil {
		t.Errorf("DisablePrincipal of a disabled principal = %v, want success", err)
	}
	if c := e.changes(); len(c) != 0 {
		t.Errorf("disabling a disabled principal recorded %v, want nothing", c)
	}

	if _, err := e.issuer.EnablePrincipal(t.Context(), root, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []apikey.Secret{s1, s2} {
		if err := e.verify(s, apikey.ClassData); err != nil {
			t.Errorf("Verify after EnablePrincipal = %v, want success", err)
		}
	}
	changes = e.changes()
	if len(changes) != 1 {
		t.Fatalf("recorded %d changes, want 1", len(changes))
	}
	wantChange(t, changes[0], "principal.enable", root, "alice@example.com", map[string][2]string{"status": {"disabled", "active"}})
}
