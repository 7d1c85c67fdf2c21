package apikey

import (
	"testing"

	"github.com/scopegate/scopegate/internal/scope"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		scope string
		rank  int
	}{
		{"admin", 3},
		{"keys:team", 2},
		{"keys:self", 1},
		{"keys", 0},
		{"keys:*", 0},
		{"keys:team*", 0},
		{"keys:other", 0},
		{"admin:x", 0},
		{"chatbot", 0},
	}
	for _, tt := range tests {
		s := scope.MustParse(tt.scope)
		if got := roleRank(s); got != tt.rank {
			t.Errorf("roleRank(%s) = %d, want %d", tt.scope, got, tt.rank)
		}
		if got, want := IsRole(s), tt.rank > 0; got != want {
			t.Errorf("IsRole(%s) = %v, want %v", tt.scope, got, want)
		}
	}
}

func TestActorReaches(t *testing.T) {
	alice := &Principal{ID: "alice@example.com", Team: "ml"}
	bob := &Principal{ID: "bob@example.com", Team: "ml"}
	carol := &Principal{ID: "carol@example.com", Team: "finance"}
	loner := &Principal{ID: "svc-loner", Team: ""}
	actor := func(p PrincipalID, team string, roles ...string) Actor {
		return Actor{Principal: p, Team: team, KeyID: "k", Roles: scope.MustParseSet(roles...)}
	}
	tests := []struct {
		name  string
		actor Actor
		want  map[*Principal]bool
	}{
		{"AdminReachesAll", actor("root", "", "admin"),
			map[*Principal]bool{alice: true, bob: true, carol: true, loner: true}},
		{"SystemActorReachesAll", SystemActor,
			map[*Principal]bool{alice: true, bob: true, carol: true, loner: true}},
		{"TeamReachesOwnTeam", actor("alice@example.com", "ml", "keys:team"),
			map[*Principal]bool{alice: true, bob: true, carol: false, loner: false}},
		{"TeamWithoutTeamReachesNobody", actor("svc-loner", "", "keys:team"),
			map[*Principal]bool{alice: false, bob: false, carol: false, loner: false}},
		{"SelfReachesOnlySelf", actor("alice@example.com", "ml", "keys:self"),
			map[*Principal]bool{alice: true, bob: false, carol: false, loner: false}},
		{"HighestRoleCounts", actor("alice@example.com", "ml", "keys:self", "keys:team"),
			map[*Principal]bool{alice: true, bob: true, carol: false}},
		{"NoRolesReachNothing", actor("alice@example.com", "ml"),
			map[*Principal]bool{alice: false, bob: false}},
		{"DataScopesAreNotRoles", actor("alice@example.com", "ml", "chatbot", "keys"),
			map[*Principal]bool{alice: false, bob: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for p, want := range tt.want {
				if got := tt.actor.Reaches(p); got != want {
					t.Errorf("Actor{%s roles %s}.Reaches(%s of team %q) = %v, want %v", tt.actor.Principal, tt.actor.Roles, p.ID, p.Team, got, want)
				}
			}
		})
	}
}

func TestActorMayGrant(t *testing.T) {
	tests := []struct {
		actor []string
		grant []string
		want  bool
	}{
		{[]string{"admin"}, []string{"admin", "keys:team", "keys:self"}, true},
		{[]string{"keys:team"}, []string{"keys:team", "keys:self"}, true},
		{[]string{"keys:team"}, []string{"admin"}, false},
		{[]string{"keys:team"}, []string{"keys:self", "admin"}, false},
		{[]string{"keys:self"}, []string{"keys:self"}, true},
		{[]string{"keys:self"}, []string{"keys:team"}, false},
		{[]string{}, []string{"keys:self"}, false},
		{[]string{}, []string{}, true},
		{[]string{"keys:self"}, []string{"chatbot"}, true}, // not a role: setScopes refuses it separately
	}
	for _, tt := range tests {
		a := Actor{Roles: scope.MustParseSet(tt.actor...)}
		if got := a.mayGrant(scope.MustParseSet(tt.grant...)); got != tt.want {
			t.Errorf("Actor{roles %q}.mayGrant(%q) = %v, want %v", tt.actor, tt.grant, got, tt.want)
		}
	}
}

func TestActorIsAdminAndString(t *testing.T) {
	tests := []struct {
		actor   Actor
		admin   bool
		display string
	}{
		{Actor{Principal: "root", KeyID: "0123456789ABCDEF", Roles: scope.MustParseSet("admin")}, true, "root/0123456789ABCDEF"},
		{Actor{Principal: "alice@example.com", KeyID: "K", Roles: scope.MustParseSet("keys:team")}, false, "alice@example.com/K"},
		{Actor{Principal: "alice@example.com", Roles: scope.MustParseSet("keys:self")}, false, "alice@example.com"},
		{SystemActor, true, "system"},
	}
	for _, tt := range tests {
		if got := tt.actor.IsAdmin(); got != tt.admin {
			t.Errorf("Actor %s IsAdmin() = %v, want %v", tt.display, got, tt.admin)
		}
		if got := tt.actor.String(); got != tt.display {
			t.Errorf("Actor.String() = %q, want %q", got, tt.display)
		}
	}
}
