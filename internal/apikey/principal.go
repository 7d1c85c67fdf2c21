package apikey

import (
	"time"

	"github.com/scopegate/scopegate/internal/scope"
)

// PrincipalID names a principal: a person ("alice@example.com") or a
// service ("svc-billing"). It is chosen by the operator and never changes.
type PrincipalID string

// PrincipalKind says whether a principal is a person or a service.
type PrincipalKind string

// The principal kinds.
const (
	KindUser    PrincipalKind = "user"
	KindService PrincipalKind = "service"
)

// Audience says whether a principal is inside the organisation. External
// principals never reach internal features, whatever their scopes say.
type Audience string

// The audiences.
const (
	AudienceInternal Audience = "internal"
	AudienceExternal Audience = "external"
)

// PrincipalStatus is active or disabled; disabling a principal stops all of
// its keys at once without touching them, and re-enabling brings them back.
type PrincipalStatus string

// The principal statuses.
const (
	PrincipalActive   PrincipalStatus = "active"
	PrincipalDisabled PrincipalStatus = "disabled"
)

// Principal is who keys belong to.
type Principal struct {
	ID       PrincipalID
	Kind     PrincipalKind
	Audience Audience
	// Team groups principals for delegated administration: a keys:team admin
	// manages the keys of principals of its own team.
	Team string
	// Ceiling is every scope the principal's keys may ever hold. A key's
	// effective scopes are its own intersected with the ceiling, so
	// narrowing a ceiling narrows every key at once.
	Ceiling scope.Set
	Status  PrincipalStatus
	// Limits apply to all of the principal's keys together.
	Limits    Limits
	CreatedAt time.Time
	UpdatedAt time.Time
	CreatedBy string
	UpdatedBy string
}

// ValidPrincipalID reports whether id is acceptable as a principal id:
// 1–128 printable ASCII characters without spaces, such as an email address
// or a service name.
func ValidPrincipalID(id PrincipalID) bool {
	if len(id) == 0 || len(id) > 128 || id == "." || id == ".." {
		return false // "." and ".." could never be addressed in a URL path
	}
	for i := range len(id) {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%' {
			return false
		}
	}
	return true
}
