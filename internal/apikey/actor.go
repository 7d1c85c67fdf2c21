package apikey

import (
	"errors"

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

func (a Actor) rank() int {
	r := 0
	for _, s := range a.Roles.Scopes() {
		r = max(r, roleRank(s))
	}
	return r
}

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
