package apikey

import (
	"context"
	"time"
)

// Store keeps principals and keys. The sqlite and postgres packages
// implement it, and apikeytest.Run checks that they behave alike.
//
// Every method is safe for concurrent use. Times are kept to the
// microsecond (PostgreSQL's precision) and returned in UTC. Not-found is ErrNotFound, an
// existing id on create is ErrConflict; adapters translate their drivers'
// errors. Methods do not retry: a failed call changed nothing.
type Store interface {
	PrincipalStore
	KeyStore
	// Rotate atomically creates next, applies retire to the key it replaces
	// (next.RotatedFrom), and, when idem is not nil, records idem. If an
	// unexpired idempotency record with idem's Actor and Key already
	// exists, Rotate changes nothing and returns it with ErrConflict. On
	// success it returns the stored idem (nil when idem was nil); an
	// idempotency record with a zero ExpiresAt never expires.
	Rotate(ctx context.Context, next Key, retire func(*Key) error, idem *Idempotency) (*Idempotency, error)
	// Idempotency returns the record for actor and key, or ErrNotFound.
	// Records older than their ExpiresAt are not found.
	Idempotency(ctx context.Context, actor, key string) (Idempotency, error)
}

// PrincipalStore keeps principals.
type PrincipalStore interface {
	// CreatePrincipal stores p; ErrConflict if its id exists.
	CreatePrincipal(ctx context.Context, p Principal) error
	// Principal returns the principal with id, or ErrNotFound.
	Principal(ctx context.Context, id PrincipalID) (Principal, error)
	// Principals returns a page of principals ordered by id.
	Principals(ctx context.Context, f PrincipalFilter) (Page[Principal], error)
	// UpdatePrincipal reads the principal, calls fn on it, and stores the
	// result, all in one transaction; an error from fn aborts it and is
	// returned as is. fn may not change the id. It returns the stored
	// principal, exactly as a later Principal call would.
	UpdatePrincipal(ctx context.Context, id PrincipalID, fn func(*Principal) error) (Principal, error)
}

// KeyStore keeps keys.
type KeyStore interface {
	// CreateKey stores k; ErrConflict if its id exists, ErrNotFound if its
	// principal does not.
	CreateKey(ctx context.Context, k Key) error
	// Key returns the key with id, or ErrNotFound.
	Key(ctx context.Context, id ID) (Key, error)
	// Keys returns a page of keys ordered by id.
	Keys(ctx context.Context, f KeyFilter) (Page[Key], error)
	// UpdateKey reads the key, calls fn on it, and stores the result, all in
	// one transaction; an error from fn aborts it and is returned as is. fn
	// may not change the id, the hash or the principal: the store refuses
	// such a change with an error and stores nothing. It returns the stored
	// key, exactly as a later Key call would.
	UpdateKey(ctx context.Context, id ID, fn func(*Key) error) (Key, error)
	// TouchKeys sets last_used_at for many keys in one write, never moving
	// it backwards. Unknown ids are ignored.
	TouchKeys(ctx context.Context, used map[ID]time.Time) error
}

// PrincipalFilter selects principals. Zero fields select everything.
type PrincipalFilter struct {
	Team   string
	Status PrincipalStatus
	// After is the cursor: only ids greater than it are returned.
	After PrincipalID
	// Limit is the page size; zero or more than MaxPageSize means
	// MaxPageSize.
	Limit int
}

// KeyFilter selects keys. Zero fields select everything.
type KeyFilter struct {
	Principal PrincipalID
	// Team selects the keys of principals of that team.
	Team   string
	Status Status
	// After is the cursor: only ids greater than it are returned.
	After ID
	// Limit is the page size; zero or more than MaxPageSize means
	// MaxPageSize.
	Limit int
}

// MaxPageSize is the largest page a list returns.
const MaxPageSize = 500

// PageSize returns the page size to use for a requested limit.
func PageSize(limit int) int {
	if limit <= 0 || limit > MaxPageSize {
		return MaxPageSize
	}
	return limit
}

// Page is one page of a list. Next is the cursor for the following page, or
// empty on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

// Idempotency remembers the result of a request that carried an
// Idempotency-Key header, so a retry gets the same answer instead of doing
// the work twice.
type Idempotency struct {
	// Actor is who sent the request; keys are per actor, so one caller
	// cannot replay another's answer.
	Actor string
	// Key is the Idempotency-Key header.
	Key string
	// Fingerprint identifies the request (operation and target); a reuse of
	// the key for a different request is a conflict.
	Fingerprint string
	// Result is the id of the key the request created.
	Result ID
	// Sealed is the one-time response secret, encrypted with a key derived
	// from the pepper, so a retry can be shown the new key again. It is
	// never stored in clear.
	Sealed    []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}
