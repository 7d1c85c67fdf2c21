package apikey_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

// reachEnv holds three principals, alice and bob in team ml and carol in
// finance, with one key each.
type reachEnv struct {
	*issuerEnv
	keys map[apikey.PrincipalID]apikey.Key
}

func newReachEnv(t *testing.T) *reachEnv {
	t.Helper()
	e := &reachEnv{issuerEnv: newIssuerEnv(t), keys: map[apikey.PrincipalID]apikey.Key{}}
	for id, team := range map[string]string{"alice@example.com": "ml", "bob@example.com": "ml", "carol@example.com": "finance"} {
		e.principal(id, team, "chatbot", "keys:self")
		k, _ := e.key(root, apikey.KeySpec{Principal: apikey.PrincipalID(id), Scopes: []string{"chatbot"}})
		e.keys[apikey.PrincipalID(id)] = k
	}
	e.changes()
	return e
}

var (
	aliceSelf = apikey.Actor{Principal: "alice@example.com", Team: "ml", KeyID: "ALICESELF0000000", Roles: scope.MustParseSet("keys:self")}
	aliceTeam = apikey.Actor{Principal: "alice@example.com", Team: "ml", KeyID: "ALICETEAM0000000", Roles: scope.MustParseSet("keys:team")}
	aliceNone = apikey.Actor{Principal: "alice@example.com", Team: "ml", KeyID: "ALICENONE0000000"}
)

// TestKeyReach runs every key operation as each kind of caller on each
// principal's key. Keys out of reach answer ErrNotFound, exactly like keys
// that do not exist, and are left untouched.
func TestKeyReach(t *testing.T) {
	tests := []struct {
		name    string
		actor   apikey.Actor
		reaches []apikey.PrincipalID
	}{
		{"KeysSelf", aliceSelf, []apikey.PrincipalID{"alice@example.com"}},
		{"KeysTeam", aliceTeam, []apikey.PrincipalID{"alice@example.com", "bob@example.com"}},
		{"NoRole", aliceNone, nil},
		{"Admin", root, []apikey.PrincipalID{"alice@example.com", "bob@example.com", "carol@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newReachEnv(t)
			ctx := t.Context()
			a := tt.actor
			name := "renamed"
			ops := []struct {
				name string
				call func(apikey.ID) error
			}{
				{"Key", func(id apikey.ID) error { _, err := e.issuer.Key(ctx, a, id); return err }},
				{"UpdateKey", func(id apikey.ID) error {
					_, err := e.issuer.UpdateKey(ctx, a, id, apikey.KeyPatch{Name: &name})
					return err
				}},
				{"SuspendKey", func(id apikey.ID) error { _, err := e.issuer.SuspendKey(ctx, a, id); return err }},
				{"ResumeKey", func(id apikey.ID) error { _, err := e.issuer.ResumeKey(ctx, a, id); return err }},
				{"RotateKey", func(id apikey.ID) error {
					_, s, err := e.issuer.RotateKey(ctx, a, id, apikey.RotateSpec{})
					if err == nil {
						e.remember(s)
					}
					return err
				}},
				{"RevokeKey", func(id apikey.ID) error { _, err := e.issuer.RevokeKey(ctx, a, id); return err }},
			}
			for _, op := range ops {
				if err := op.call("0000000000000000"); !errors.Is(err, apikey.ErrNotFound) {
					t.Errorf("%s(unknown id) = %v, want ErrNotFound", op.name, err)
				}
			}
			for owner, k := range e.keys {
				reached := slices.Contains(tt.reaches, owner)
				before := e.stored(k.ID)
				for _, op := range ops {
					err := op.call(k.ID)
					switch {
					case reached && err != nil:
						t.Errorf("%s(key of %s) = %v, want success", op.name, owner, err)
					case !reached && !errors.Is(err, apikey.ErrNotFound):
						t.Errorf("%s(key of %s) = %v, want ErrNotFound", op.name, owner, err)
					}
				}
				if !reached {
					if diff := cmp.Diff(before, e.stored(k.ID), cmpKeys); diff != "" {
						t.Errorf("operations out of reach changed the key of %s:\n%s", owner, diff)
					}
				}
			}
			for _, c := range e.changes() {
				if owner := c.Principal; !slices.Contains(tt.reaches, owner) {
					t.Errorf("recorded %s on a key of %s, out of reach", c.Action, owner)
				}
				if c.Actor != a.String() {
					t.Errorf("change %s recorded actor %q, want %q", c.Action, c.Actor, a.String())
				}
			}
		})
	}
}

func TestKeysListReach(t *testing.T) {
	e := newReachEnv(t)
	tests := []struct {
		name   string
		actor  apikey.Actor
		filter apikey.KeyFilter
		want   []apikey.PrincipalID
	}{
		{"SelfSeesOwn", aliceSelf, apikey.KeyFilter{}, []apikey.PrincipalID{"alice@example.com"}},
		{"SelfAsksForOther", aliceSelf, apikey.KeyFilter{Principal: "bob@example.com"}, nil},
		{"SelfAsksForTeam", aliceSelf, apikey.KeyFilter{Team: "finance"}, nil},
		{"TeamSeesTeam", aliceTeam, apikey.KeyFilter{}, []apikey.PrincipalID{"alice@example.com", "bob@example.com"}},
		{"TeamAsksForOtherTeam", aliceTeam, apikey.KeyFilter{Team: "finance"}, nil},
		{"TeamAsksForOutsider", aliceTeam, apikey.KeyFilter{Principal: "carol@example.com"}, nil},
		{"AdminSeesAll", root, apikey.KeyFilter{}, []apikey.PrincipalID{"alice@example.com", "bob@example.com", "carol@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := e.issuer.Keys(t.Context(), tt.actor, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []apikey.PrincipalID
			for _, k := range page.Items {
				got = append(got, k.Principal)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Keys(%+v) as %s = keys of %v, want %v", tt.filter, tt.actor.Roles, got, tt.want)
			}
		})
	}
	if _, err := e.issuer.Keys(t.Context(), aliceNone, apikey.KeyFilter{}); !errors.Is(err, apikey.ErrForbidden) {
		t.Errorf("Keys as a caller without roles = %v, want ErrForbidden", err)
	}
}

func TestPrincipalReach(t *testing.T) {
	e := newReachEnv(t)
	ctx := t.Context()
	tests := []struct {
		name    string
		actor   apikey.Actor
		reaches []apikey.PrincipalID
	}{
		{"KeysSelf", aliceSelf, []apikey.PrincipalID{"alice@example.com"}},
		{"KeysTeam", aliceTeam, []apikey.PrincipalID{"alice@example.com", "bob@example.com"}},
		{"NoRole", aliceNone, nil},
	}
	team := "research"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.actor
			if _, err := e.issuer.CreatePrincipal(ctx, a, apikey.PrincipalSpec{ID: "mallory"}); !errors.Is(err, apikey.ErrForbidden) {
				t.Errorf("CreatePrincipal = %v, want ErrForbidden", err)
			}
			for _, id := range []apikey.PrincipalID{"alice@example.com", "bob@example.com", "carol@example.com"} {
				reached := slices.Contains(tt.reaches, id)
				_, err := e.issuer.Principal(ctx, a, id)
				if reached != (err == nil) || (!reached && !errors.Is(err, apikey.ErrNotFound)) {
					t.Errorf("Principal(%s) = %v, want reached=%v (else ErrNotFound)", id, err, reached)
				}
				// Only admins change principals: ErrForbidden when the
				// caller can see it, ErrNotFound when it cannot.
				wantErr := apikey.ErrNotFound
				if reached {
					wantErr = apikey.ErrForbidden
				}
				if _, err := e.issuer.UpdatePrincipal(ctx, a, id, apikey.PrincipalPatch{Team: &team}); !errors.Is(err, wantErr) {
					t.Errorf("UpdatePrincipal(%s) = %v, want %v", id, err, wantErr)
				}
				if _, err := e.issuer.DisablePrincipal(ctx, a, id); !errors.Is(err, wantErr) {
					t.Errorf("DisablePrincipal(%s) = %v, want %v", id, err, wantErr)
				}
				// Creating a key for a principal out of reach looks exactly
				// like naming one that does not exist.
				_, s, err := e.issuer.CreateKey(ctx, a, apikey.KeySpec{Principal: id, Scopes: []string{"chatbot"}})
				if err == nil {
					e.remember(s)
				}
				if reached && err != nil {
					t.Errorf("CreateKey for %s = %v, want success", id, err)
				}
				if !reached {
					ve, ok := errors.AsType[*apikey.ValidationError](err)
					if want := fmt.Sprintf("unknown principal %q", id); !ok || ve.Field != "principal" || ve.Message != want {
						t.Errorf("CreateKey for %s = %v, want principal: %s", id, err, want)
					}
				}
			}
			page, err := e.issuer.Principals(ctx, a, apikey.PrincipalFilter{})
			if tt.reaches == nil {
				if !errors.Is(err, apikey.ErrForbidden) {
					t.Errorf("Principals = %v, want ErrForbidden", err)
				}
				return
			}
			var got []apikey.PrincipalID
			for _, p := range page.Items {
				got = append(got, p.ID)
			}
			if err != nil || !slices.Equal(got, tt.reaches) {
				t.Errorf("Principals = %v, %v; want %v", got, err, tt.reaches)
			}
		})
	}
	// Nothing above changed a principal.
	for _, id := range []apikey.PrincipalID{"alice@example.com", "bob@example.com", "carol@example.com"} {
		p, err := e.db.Principal(ctx, id)
		if err != nil || p.Status != apikey.PrincipalActive || p.Team == team {
			t.Errorf("principal %s after refused changes: status %s team %q, %v", id, p.Status, p.Team, err)
		}
	}
}

func TestTeamAdminGrantsRoles(t *testing.T) {
	e := newReachEnv(t)
	ctx := t.Context()
	k, s, err := e.issuer.CreateKey(ctx, aliceTeam, apikey.KeySpec{Principal: "bob@example.com", Class: apikey.ClassAdmin, Scopes: []string{"keys:self"}})
	if err != nil {
		t.Fatalf("keys:team caller creating a keys:self admin key for a team member = %v, want success", err)
	}
	e.remember(s)
	if k.Class != apikey.ClassAdmin || k.CreatedBy != aliceTeam.String() {
		t.Errorf("CreateKey = class %s created by %q, want sga by %q", k.Class, k.CreatedBy, aliceTeam.String())
	}
	_, _, err = e.issuer.CreateKey(ctx, aliceSelf, apikey.KeySpec{Principal: "alice@example.com", Class: apikey.ClassAdmin, Scopes: []string{"keys:team"}})
	wantValidation(t, err, "scopes")
}

// TestAdminKeyAboveCaller checks that a caller cannot obtain roles above
// its own through an admin key it reaches: rotating, resuming or changing
// a teammate's admin key would hand out that key's roles. Suspending and
// revoking it only take power away, so they stay allowed.
func TestAdminKeyAboveCaller(t *testing.T) {
	tests := []struct {
		name    string
		call    func(e *reachEnv, id apikey.ID) error
		wantErr error
	}{
		{"Rotate", func(e *reachEnv, id apikey.ID) error {
			_, _, err := e.issuer.RotateKey(t.Context(), aliceTeam, id, apikey.RotateSpec{})
			return err
		}, apikey.ErrForbidden},
		{"Update", func(e *reachEnv, id apikey.ID) error {
			name := "mine now"
			_, err := e.issuer.UpdateKey(t.Context(), aliceTeam, id, apikey.KeyPatch{Name: &name})
			return err
		}, apikey.ErrForbidden},
		{"Resume", func(e *reachEnv, id apikey.ID) error {
			if _, err := e.issuer.SuspendKey(t.Context(), root, id); err != nil {
				t.Fatal(err)
			}
			_, err := e.issuer.ResumeKey(t.Context(), aliceTeam, id)
			return err
		}, apikey.ErrForbidden},
		{"Suspend", func(e *reachEnv, id apikey.ID) error {
			_, err := e.issuer.SuspendKey(t.Context(), aliceTeam, id)
			return err
		}, nil},
		{"Revoke", func(e *reachEnv, id apikey.ID) error {
			_, err := e.issuer.RevokeKey(t.Context(), aliceTeam, id)
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newReachEnv(t)
			// bob, alice's teammate, holds an admin key.
			if _, err := e.issuer.UpdatePrincipal(t.Context(), root, "bob@example.com", apikey.PrincipalPatch{Scopes: &[]string{"chatbot", "admin"}}); err != nil {
				t.Fatal(err)
			}
			bobAdmin, _ := e.key(root, apikey.KeySpec{Principal: "bob@example.com", Class: apikey.ClassAdmin, Scopes: []string{"admin"}})
			before := e.keyCount()
			err := tt.call(e, bobAdmin.ID)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("%s by keys:team = %v, want success", tt.name, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("%s by keys:team = %v, want %v", tt.name, err, tt.wantErr)
			}
			if e.keyCount() != before {
				t.Errorf("%s created a key", tt.name)
			}
		})
	}
}

// TestRolesNestInCeiling checks that an admin ceiling allows lower roles,
// and that effective roles follow the ceiling.
func TestRolesNestInCeiling(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("ops@example.com", "ops", "admin")
	if _, _, err := e.issuer.CreateKey(t.Context(), root, apikey.KeySpec{Principal: "ops@example.com", Class: apikey.ClassAdmin, Scopes: []string{"keys:self"}}); err != nil {
		t.Errorf("keys:self key under an admin ceiling: %v", err)
	}
	e.principal("dev@example.com", "ops", "keys:self")
	_, _, err := e.issuer.CreateKey(t.Context(), root, apikey.KeySpec{Principal: "dev@example.com", Class: apikey.ClassAdmin, Scopes: []string{"keys:team"}})
	wantValidation(t, err, "scopes")

	tests := []struct {
		key, ceiling []string
		want         string
	}{
		{[]string{"keys:self"}, []string{"admin"}, "keys:self"},
		{[]string{"admin"}, []string{"keys:team"}, ""},
		{[]string{"admin", "keys:self"}, []string{"keys:team"}, "keys:self"},
		{[]string{"keys:team"}, []string{"chatbot"}, ""},
		{[]string{"chatbot"}, []string{"admin", "chatbot"}, ""},
	}
	for _, tt := range tests {
		got := apikey.EffectiveRoles(scope.MustParseSet(tt.key...), scope.MustParseSet(tt.ceiling...)).String()
		if got != tt.want {
			t.Errorf("EffectiveRoles(%v, %v) = %q, want %q", tt.key, tt.ceiling, got, tt.want)
		}
	}
}
