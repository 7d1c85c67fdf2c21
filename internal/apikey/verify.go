package apikey

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Lookup is what verifying a key needs from storage. A Store is a Lookup;
// a cache in front of one is too.
type Lookup interface {
	// Key returns the key with id, or ErrNotFound.
	Key(ctx context.Context, id ID) (Key, error)
	// Principal returns the principal with id, or ErrNotFound.
	Principal(ctx context.Context, id PrincipalID) (Principal, error)
}

// Verifier checks presented keys: shape and checksum first, then the
// stored hash in constant time, then the key's and principal's state.
type Verifier struct {
	lookup Lookup
	hasher *Hasher
	now    func() time.Time
	// decoy is compared against when the id is unknown, so that an unknown
	// id costs the same HMAC and comparison as a wrong secret.
	decoy Hash
}

// NewVerifier returns a Verifier. now defaults to time.Now.
func NewVerifier(lookup Lookup, hasher *Hasher, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{lookup: lookup, hasher: hasher, now: now, decoy: hasher.Derive("decoy")}
}

// Verified is a key that passed verification, with its principal.
type Verified struct {
	Key       Key
	Principal Principal
}

// Verify checks the key text presented by a client at addr for an endpoint
// that takes keys of class. It returns the key's id in the error's
// *VerifyError whenever the id could be read, so a denial can be recorded
// against it.
//
// A malformed key is a *FormatError; an unknown id and a wrong secret are
// both ErrInvalidKey. Only a caller holding the real key learns that it is
// suspended, revoked, expired or not yet valid, because the state is checked
// after the hash. A store failure is returned as is: callers fail closed.
func (v *Verifier) Verify(ctx context.Context, presented string, class Class, addr netip.Addr) (Verified, error) {
	// The presented text is hashed as it is, never wrapped in a Secret:
	// that would allocate on every request, and the text is already the
	// caller's plain string.
	cls, _, id, err := parse(presented)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return Verified{}, &VerifyError{ID: fe.ID, Err: err}
		}
		return Verified{}, &VerifyError{Err: err}
	}
	fail := func(err error) (Verified, error) { return Verified{}, &VerifyError{ID: id, Err: err} }
	k, err := v.lookup.Key(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		v.hasher.verifyString(presented, v.decoy)
		return fail(ErrInvalidKey)
	case err != nil:
		return fail(err)
	}
	if !v.hasher.verifyString(presented, k.Hash) {
		return fail(ErrInvalidKey)
	}
	if cls != class || k.Class != class {
		return fail(ErrWrongClass)
	}
	if err := k.Usable(v.now()); err != nil {
		return fail(err)
	}
	if !k.AllowsClient(addr) {
		return fail(ErrClientNotAllowed)
	}
	p, err := v.lookup.Principal(ctx, k.Principal)
	switch {
	case errors.Is(err, ErrNotFound):
		return fail(ErrPrincipalDisabled) // an orphaned key fails closed
	case err != nil:
		return fail(err)
	}
	if p.Status != PrincipalActive {
		return fail(ErrPrincipalDisabled)
	}
	return Verified{Key: k, Principal: p}, nil
}

// VerifyError is a failed verification: the reason, and the key id when it
// was readable. It never holds the secret.
type VerifyError struct {
	ID  ID
	Err error
}

// Error implements error.
func (e *VerifyError) Error() string { return e.Err.Error() }

// Unwrap returns the reason.
func (e *VerifyError) Unwrap() error { return e.Err }

// Reason returns a short machine-readable reason for a verification error,
// as used in audit events and metrics: "invalid_key", "key_revoked", ….
// Errors it does not know are "unavailable": the check could not be made.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrBadPrefix), errors.Is(err, ErrBadEnv), errors.Is(err, ErrBadLength),
		errors.Is(err, ErrBadChars), errors.Is(err, ErrBadChecksum):
		return "malformed_key"
	case errors.Is(err, ErrInvalidKey):
		return "invalid_key"
	case errors.Is(err, ErrWrongClass):
		return "wrong_key_class"
	case errors.Is(err, ErrKeySuspended):
		return "key_suspended"
	case errors.Is(err, ErrKeyRevoked):
		return "key_revoked"
	case errors.Is(err, ErrKeyExpired):
		return "key_expired"
	case errors.Is(err, ErrKeyNotYetValid):
		return "key_not_yet_valid"
	case errors.Is(err, ErrPrincipalDisabled):
		return "principal_disabled"
	case errors.Is(err, ErrClientNotAllowed):
		return "client_not_allowed"
	case errors.Is(err, ErrWrongEnv):
		return "wrong_env"
	}
	return "unavailable"
}

// IsCredentialError reports whether err is the client's fault (a bad,
// unknown or unusable key) rather than a failure to check it.
func IsCredentialError(err error) bool { return Reason(err) != "unavailable" }
