package apikey

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers branch on. Adapters translate their driver's
// errors into these.
var (
	// ErrNotFound means the principal or key does not exist, or is outside
	// the caller's reach.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the record already exists, or changed under the
	// caller.
	ErrConflict = errors.New("conflict")
	// ErrUnrecorded means a change was refused before it was made because
	// it could not be recorded (the audit log cannot write): no record, no
	// change.
	ErrUnrecorded = errors.New("the audit log cannot record changes right now; nothing was changed")

	// ErrBadPrefix, ErrBadEnv, ErrBadLength, ErrBadChars and ErrBadChecksum
	// are the ways a presented key can be malformed; a *FormatError wraps
	// one of them.
	ErrBadPrefix   = errors.New("bad key prefix")
	ErrBadEnv      = errors.New("bad key environment")
	ErrBadLength   = errors.New("bad key length")
	ErrBadChars    = errors.New("bad key characters")
	ErrBadChecksum = errors.New("bad key checksum")

	// ErrInvalidKey means the key is unknown or its secret is wrong. The two
	// are one error on purpose: telling them apart would let a caller probe
	// for valid ids.
	ErrInvalidKey = errors.New("invalid API key")
	// ErrWrongClass means an admin key on the data plane, or a data key on
	// the admin API.
	ErrWrongClass = errors.New("wrong class of key for this endpoint")
	// ErrKeySuspended, ErrKeyRevoked, ErrKeyExpired and ErrKeyNotYetValid
	// describe a key that exists but may not be used now.
	ErrKeySuspended   = errors.New("key is suspended")
	ErrKeyRevoked     = errors.New("key is revoked")
	ErrKeyExpired     = errors.New("key has expired")
	ErrKeyNotYetValid = errors.New("key is not valid yet")
	// ErrPrincipalDisabled means the key's principal is disabled, which
	// stops every key it holds.
	ErrPrincipalDisabled = errors.New("principal is disabled")
	// ErrClientNotAllowed means the client address is outside the key's
	// allowed networks.
	ErrClientNotAllowed = errors.New("client address not allowed for this key")
	// ErrWrongEnv means a key of one environment used where the other is
	// required.
	ErrWrongEnv = errors.New("key environment not accepted here")
)

// FormatError is the error Parse returns for a malformed key. It unwraps to
// one of ErrBadPrefix, ErrBadEnv, ErrBadLength, ErrBadChars, ErrBadChecksum.
type FormatError struct {
	// Err is the sentinel for the kind of malformation.
	Err error
	// ID is the key id when the key was well-formed enough to read it (only
	// for a bad checksum), so the denial can be attributed; never the secret.
	ID ID
	// Detail says what is wrong, for people. It never quotes the key.
	Detail string
}

func formatError(err error, id ID, detail string) error {
	return &FormatError{Err: err, ID: id, Detail: detail}
}

// Error implements error.
func (e *FormatError) Error() string { return "malformed API key: " + e.Detail }

// Unwrap returns the sentinel.
func (e *FormatError) Unwrap() error { return e.Err }

// ValidationError is a refused change: a field with a bad value. The admin
// API answers it with 400 and names the field.
type ValidationError struct {
	// Field is the JSON name of the offending field, e.g. "scopes".
	Field string
	// Message says what is wrong with it.
	Message string
}

// Error implements error.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}
