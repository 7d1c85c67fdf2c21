package apikey

import (
	"errors"
	"fmt"

	"github.com/scopegate/scopegate/internal/scope"
)

// Admin roles, held as scopes by admin (sga_) keys.
var (
	// RoleAdmin may do everything.
	RoleAdmin = scope.MustParse("admin")
	// RoleKeysTeam manages the keys of principals in the caller's team,
	// within their ceilings, and reads those principals.
	RoleKeysTeam = scope.MustParse("keys:team")
	// RoleKeysSelf manages only the caller's own keys.
	RoleKeysSelf = scope.MustParse("keys:self")
)

// roleRank orders the roles: a caller may hand out only roles of its own
// rank or lower.
func roleRank(s scope.Scope) int {
	switch s {
	case RoleAdmin:
		return 3
	case RoleKeysTeam:
		return 2
	case RoleKeysSelf:
		return 1
	}
	return 0
}

// IsRole reports whether s is one of the admin roles.
func IsRole(s scope.Scope) bool { return roleRank(s) > 0 }

// ErrForbidden means the caller's roles do not allow the operation at all
// (as opposed to ErrNotFound, which hides objects outside its reach).
var ErrForbidden = errors.New("operation not allowed for this admin key's roles")

// Actor is who asks for an admin operation: the principal and admin key
// behind the request, and that key's effective roles. Owner and team come
// from here, never from a request body.
type Actor struct {
	Principal PrincipalID
	Team      string
	KeyID     ID
	Roles     scope.Set
}

// SystemActor is the actor for changes scopegate makes on its own, such as
// the first admin principal created by init.
var SystemActor = Actor{Principal: "system", Roles: scope.NewSet(RoleAdmin)}

// String names the actor in audit events: its principal and key id.
func (a Actor) String() string {
	if a.KeyID == "" {
		return string(a.Principal)
	}
	return string(a.Principal) + "/" + string(a.KeyID)
}

func (a Actor) rank() int { return rankOf(a.Roles) }

// IsAdmin reports whether a holds the admin role.
func (a Actor) IsAdmin() bool { return a.rank() == 3 }

// Reaches reports whether a may see and manage the keys of principal p.
func (a Actor) Reaches(p *Principal) bool {
	switch a.rank() {
	case 3:
		return true
	case 2:
		return a.Team != "" && p.Team == a.Team
	case 1:
		return p.ID == a.Principal
	}
	return false
}

// rankOf returns the highest role rank in set, 0 if it holds no role.
func rankOf(set scope.Set) int {
	r := 0
	for _, s := range set.Scopes() {
		r = max(r, roleRank(s))
	}
	return r
}

// EffectiveRoles returns the roles of an admin key that its principal's
// ceiling allows. Roles nest by rank (admin ⊇ keys:team ⊇ keys:self), so a
// ceiling holding admin allows a keys:self key, and narrowing a ceiling
// narrows every admin key at once, as for data scopes.
func EffectiveRoles(keyScopes, ceiling scope.Set) scope.Set {
	limit := rankOf(ceiling)
	var out []scope.Scope
	for _, s := range keyScopes.Scopes() {
		if r := roleRank(s); r > 0 && r <= limit {
			out = append(out, s)
		}
	}
	return scope.NewSet(out...)
}

// errAboveCaller refuses a change to an admin key whose roles the caller
// could not grant: resuming, extending or rotating such a key would hand
// out more than the caller holds. Suspending and revoking stay allowed.
var errAboveCaller = fmt.Errorf("the key holds admin roles above the caller's own: %w", ErrForbidden)

// mayGrant reports whether a may hand out every role in roles.
func (a Actor) mayGrant(roles scope.Set) bool {
	r := a.rank()
	for _, s := range roles.Scopes() {
		if roleRank(s) > r {
			return false
		}
	}
	return true
}
