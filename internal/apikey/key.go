package apikey

import (
	"net/netip"
	"time"

	"github.com/scopegate/scopegate/internal/scope"
)

// Status is the state of a key. Suspension is reversible; revocation is
// permanent.
type Status string

// The key statuses.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusRevoked   Status = "revoked"
)

// Limits are the usage limits of a key or a principal. Zero means no limit
// of that kind. They are stored here and enforced by the ratelimit package.
type Limits struct {
	RequestsPerMinute int64 `json:"requests_per_minute,omitempty"`
	TokensPerMinute   int64 `json:"tokens_per_minute,omitempty"`
	Concurrent        int64 `json:"concurrent,omitempty"`
	TokensPerDay      int64 `json:"tokens_per_day,omitempty"`
	TokensPerMonth    int64 `json:"tokens_per_month,omitempty"`
	// CostPerDay and CostPerMonth cap what the calls cost, in the UTC
	// calendar day and month, as the provider prices configured for the
	// models put it. On the wire they are US dollars (12.5), in Go and in
	// the stores micros.
	CostPerDay   Micros `json:"cost_per_day,omitempty"`
	CostPerMonth Micros `json:"cost_per_month,omitempty"`
}

// Key is a stored credential: everything about a key except the key itself,
// of which only the HMAC is kept.
type Key struct {
	ID ID
	// Class is ClassData for data-plane keys (sgk_) and ClassAdmin for
	// admin keys (sga_), whose scopes are admin roles.
	Class     Class
	Name      string
	Principal PrincipalID
	Scopes    scope.Set
	Env       Env
	NotBefore time.Time
	ExpiresAt time.Time
	// CIDRs, when not empty, are the only client networks the key works from.
	CIDRs  []netip.Prefix
	Limits Limits
	Status Status
	Hash   Hash
	// Last4 is the end of the key, to tell keys apart in lists.
	Last4 string
	// RotatedFrom is the key this one replaced, if it came from a rotation.
	RotatedFrom ID
	// ReplacedBy is the key that replaced this one in a rotation; a key is
	// rotated at most once.
	ReplacedBy ID
	LastUsedAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	RevokedAt  time.Time
	CreatedBy  string
	UpdatedBy  string
	RevokedBy  string
}

// Usable reports why k may not be used at time now, or nil if it may. It
// checks only the key's own state; the principal's status is checked by the
// caller that has the principal.
func (k *Key) Usable(now time.Time) error {
	switch k.Status {
	case StatusActive:
	case StatusSuspended:
		return ErrKeySuspended
	case StatusRevoked:
		return ErrKeyRevoked
	default:
		return ErrKeyRevoked // unknown status: fail closed
	}
	if !k.NotBefore.IsZero() && now.Before(k.NotBefore) {
		return ErrKeyNotYetValid
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return ErrKeyExpired
	}
	return nil
}

// AllowsClient reports whether addr is inside the key's allowed networks.
// A key without networks allows every client. An IPv4-mapped address is
// matched as the IPv4 address it is, and an IPv6 zone is ignored (a prefix
// never has one, so netip would otherwise match no zoned address at all).
func (k *Key) AllowsClient(addr netip.Addr) bool {
	if len(k.CIDRs) == 0 {
		return true
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range k.CIDRs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
