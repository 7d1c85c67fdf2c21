package admin_test

import (
	"net/http"
	"testing"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
)

// Operations the caller's roles never allow, on objects it can see: 403.

func TestForbidden(t *testing.T) {
	env := newTenants(t)
	tests := []struct {
		name   string
		caller string
		req    request
	}{
		{"TeamCreatesPrincipal", env.bobAdmin, request{method: "POST", path: "/admin/v1/principals", body: `{"id":"mallory@example.com","team":"red","scopes":["admin"]}`}},
		{"SelfCreatesPrincipal", env.aliceAdmin, request{method: "POST", path: "/admin/v1/principals", body: `{"id":"mallory@example.com"}`}},
		{"TeamPatchesTeammate", env.bobAdmin, request{method: "PATCH", path: "/admin/v1/principals/dave@example.com", body: `{"scopes":["chatbot","admin"]}`}},
		{"TeamRaisesOwnCeiling", env.bobAdmin, request{method: "PATCH", path: "/admin/v1/principals/bob@example.com", body: `{"scopes":["admin"]}`}},
		{"TeamDisablesTeammate", env.bobAdmin, request{method: "POST", path: "/admin/v1/principals/dave@example.com/disable"}},
		{"TeamEnablesTeammate", env.bobAdmin, request{method: "POST", path: "/admin/v1/principals/dave@example.com/enable"}},
		{"SelfDisablesSelf", env.aliceAdmin, request{method: "POST", path: "/admin/v1/principals/alice@example.com/disable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.key = tt.caller
			got := errorOf(t, env.do(t, tt.req), http.StatusForbidden)
			diff(t, "error", got, admin.ErrorDetail{Type: "forbidden", Message: apikey.ErrForbidden.Error()})
		})
	}
	for _, id := range []apikey.PrincipalID{"dave@example.com", "bob@example.com", "alice@example.com"} {
		p, err := env.issuer.Principal(t.Context(), apikey.SystemActor, id)
		if err != nil || p.Status != apikey.PrincipalActive || p.Ceiling.Has(apikey.RoleAdmin) {
			t.Errorf("principal %s after refused calls: status %q ceiling %s, %v; want unchanged", id, p.Status, p.Ceiling, err)
		}
	}
	if _, err := env.issuer.Principal(t.Context(), apikey.SystemActor, "mallory@example.com"); err == nil {
		t.Error("a refused create made the principal")
	}
}

// A key's roles are narrowed by its principal's ceiling at every request:
// taking "admin" out of the ceiling takes it from every key at once.
func TestRolesNarrowedByCeiling(t *testing.T) {
	env := newTestEnv(t)
	env.principal(t, apikey.PrincipalSpec{ID: "eve@example.com", Team: "ops", Scopes: []string{"admin"}})
	_, eveKey := env.adminKey(t, "eve@example.com", "admin")
	call[admin.List[admin.Principal]](t, env, request{method: "GET", path: "/admin/v1/principals", key: eveKey}, 200)

	call[admin.Principal](t, env, request{method: "PATCH", path: "/admin/v1/principals/eve@example.com", key: env.rootKey, body: `{"scopes":[]}`}, 200)
	for _, req := range []request{
		{method: "GET", path: "/admin/v1/principals"},
		{method: "GET", path: "/admin/v1/keys"},
		{method: "POST", path: "/admin/v1/principals", body: `{"id":"x"}`},
	} {
		req.key = eveKey
		got := errorOf(t, env.do(t, req), http.StatusForbidden)
		wantError(t, got, "forbidden", "", "not allowed")
	}
}

// The audit log spans every tenant: only the admin role reads it, and
// other roles are refused before anything else is checked.
func TestAuditForbidden(t *testing.T) {
	env := newTenantsWith(t, envConfig{audit: newFakeAudit(3)})
	paths := []string{
		"/admin/v1/audit/events",
		"/admin/v1/audit/events?limit=0", // the role is checked before the query
		"/admin/v1/audit/events/0",
		"/admin/v1/audit/checkpoint",
		"/admin/v1/audit/consistency?old=1&new=2",
		"/admin/v1/audit/stream",
		"/admin/v1/audit/pseudonym?principal=alice@example.com",
	}
	for _, caller := range []struct{ name, key string }{{"KeysTeam", env.bobAdmin}, {"KeysSelf", env.aliceAdmin}} {
		for _, path := range paths {
			t.Run(caller.name+path, func(t *testing.T) {
				got := errorOf(t, env.do(t, request{method: "GET", path: path, key: caller.key}), http.StatusForbidden)
				diff(t, "error", got, admin.ErrorDetail{Type: "forbidden", Message: apikey.ErrForbidden.Error()})
			})
		}
	}
}

// An admin key whose principal's ceiling holds no role reads no usage,
// and is refused before the server says whether it has a usage store.
func TestUsageForbidden(t *testing.T) {
	for _, withUsage := range []bool{true, false} {
		env := newTestEnvWith(t, envConfig{usage: withUsage})
		env.principal(t, apikey.PrincipalSpec{ID: "eve@example.com", Team: "ops", Scopes: []string{"keys:self"}})
		_, eveKey := env.adminKey(t, "eve@example.com", "keys:self")
		call[admin.Principal](t, env, request{method: "PATCH", path: "/admin/v1/principals/eve@example.com", key: env.rootKey, body: `{"scopes":["chatbot"]}`}, 200)
		got := errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/usage", key: eveKey}), http.StatusForbidden)
		diff(t, "error", got, admin.ErrorDetail{Type: "forbidden", Message: apikey.ErrForbidden.Error()})
	}
}

// An admin key whose principal's ceiling holds no role reads no hygiene
// report, and is refused before the server says whether it has a usage
// store.
func TestHygieneForbidden(t *testing.T) {
	for _, withUsage := range []bool{true, false} {
		env := newTestEnvWith(t, envConfig{usage: withUsage})
		env.principal(t, apikey.PrincipalSpec{ID: "eve@example.com", Team: "ops", Scopes: []string{"keys:self"}})
		_, eveKey := env.adminKey(t, "eve@example.com", "keys:self")
		call[admin.Principal](t, env, request{method: "PATCH", path: "/admin/v1/principals/eve@example.com", key: env.rootKey, body: `{"scopes":["chatbot"]}`}, 200)
		got := errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/hygiene", key: eveKey}), http.StatusForbidden)
		diff(t, "error", got, admin.ErrorDetail{Type: "forbidden", Message: apikey.ErrForbidden.Error()})
	}
}
