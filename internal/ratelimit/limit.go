package ratelimit

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Kind is what a limit counts, and over which window.
type Kind string

// The kinds of limit. Their names are those of the admin API and config.
const (
	RequestsPerMinute Kind = "requests_per_minute"
	TokensPerMinute   Kind = "tokens_per_minute"
	Concurrent        Kind = "concurrent"
	TokensPerDay      Kind = "tokens_per_day"
	TokensPerMonth    Kind = "tokens_per_month"
	CostPerDay        Kind = "cost_per_day"
	CostPerMonth      Kind = "cost_per_month"
)

// kinds are the valid kinds; a kind's index in it is Kind.index.
var kinds = [...]Kind{RequestsPerMinute, TokensPerMinute, Concurrent,
	TokensPerDay, TokensPerMonth, CostPerDay, CostPerMonth}

// index returns the position of k, a valid kind, in kinds.
func (k Kind) index() int {
	switch k {
	case RequestsPerMinute:
		return 0
	case TokensPerMinute:
		return 1
	case Concurrent:
		return 2
	case TokensPerDay:
		return 3
	case TokensPerMonth:
		return 4
	case CostPerDay:
		return 5
	}
	return 6
}

// ConcurrentRetryAfter is the RetryAfter of a refusal by a [Concurrent]
// limit: when a slot frees is not known in advance.
const ConcurrentRetryAfter = time.Second

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool {
	return kinds[k.index()] == k
}

// Reason returns the audit reason of a refusal by a limit of kind k:
// "budget_exceeded" for day and month budgets, "rate_limited" otherwise.
func (k Kind) Reason() string {
	switch k {
	case TokensPerDay, TokensPerMonth, CostPerDay, CostPerMonth:
		return "budget_exceeded"
	}
	return "rate_limited"
}

// countsTokens reports whether a limit of kind k counts tokens.
func (k Kind) countsTokens() bool {
	return k == TokensPerMinute || k == TokensPerDay || k == TokensPerMonth
}

// Limit is one limit of one scope: at most Max of Kind.
type Limit struct {
	Kind Kind
	// Scope is "key:<id>" or "principal:<id>"; see KeyScope and
	// PrincipalScope.
	Scope string
	// Max is positive. A limit of zero (none) is left out of a Request.
	Max int64
}

// KeyScope returns the scope of the limits of key id.
func KeyScope(id apikey.ID) string { return "key:" + string(id) }

// PrincipalScope returns the scope of the limits of principal id.
func PrincipalScope(id apikey.PrincipalID) string { return "principal:" + string(id) }

// AppendLimits appends to dst the limits of l that are set (non-zero), in
// scope.
func AppendLimits(dst []Limit, scope string, l apikey.Limits) []Limit {
	for _, c := range [...]struct {
		kind Kind
		max  int64
	}{
		{RequestsPerMinute, l.RequestsPerMinute},
		{TokensPerMinute, l.TokensPerMinute},
		{Concurrent, l.Concurrent},
		{TokensPerDay, l.TokensPerDay},
		{TokensPerMonth, l.TokensPerMonth},
		{CostPerDay, int64(l.CostPerDay)},
		{CostPerMonth, int64(l.CostPerMonth)},
	} {
		if c.max > 0 {
			dst = append(dst, Limit{Kind: c.kind, Scope: scope, Max: c.max})
		}
	}
	return dst
}

// DefaultLease is how long a concurrency slot is held at most when a
// Request sets no Lease: longer than any call the gateway lets run, so it
// only ever frees the slots of calls whose settlement was lost (a gateway
// replica that crashed).
const DefaultLease = time.Hour

// Request is what [Store.Take] checks and takes.
type Request struct {
	// Limits are every limit that applies, with no two of the same Kind
	// and Scope.
	Limits []Limit
	// Tokens is the reserved worst case in tokens; Cost, in micro-dollars.
	// Neither is negative.
	Tokens int64
	Cost   int64
	// Now is the time of the decision; zero means the store's clock.
	Now time.Time
	// ID identifies the call, unique per Take: a concurrency slot is a
	// lease held by this ID until the Settlement with the same ID. It is
	// required when Limits has a Concurrent limit.
	ID string
	// Lease is how long a concurrency slot is held at most if it is never
	// settled, counted in whole microseconds rounded up; zero means
	// DefaultLease. It is not negative.
	Lease time.Duration
}

// Settlement is what [Store.Settle] applies after a granted Take.
type Settlement struct {
	// Limits are the Limits of the granted Request.
	Limits []Limit
	// Taken is the Grant.At of the granted Take: it names the day and
	// month windows the reservation was charged to. Zero means those of
	// Now.
	Taken time.Time
	// Tokens and Cost are used minus reserved: negative to give back an
	// unused reservation, positive to charge overspend.
	Tokens int64
	Cost   int64
	// Now is the time of the settlement; zero means the store's clock.
	Now time.Time
	// ID is the Request.ID of the granted Take, whose concurrency leases
	// are dropped. It is required when Limits has a Concurrent limit.
	ID string
}

// ErrInvalid is wrapped by the errors a Store returns for a malformed
// Request or Settlement; it is a caller's bug, not a refusal.
var ErrInvalid = errors.New("invalid limit request")

// Validate returns an error wrapping ErrInvalid if r is malformed: a limit
// of unknown kind, not positive Max, or a scope that is neither a key's nor
// a principal's; two limits of the same Kind and Scope; negative Tokens,
// Cost or Lease; or a Concurrent limit without an ID. Every Store checks
// it first, so that all refuse the same requests.
func (r Request) Validate() error {
	if r.Tokens < 0 || r.Cost < 0 {
		return fmt.Errorf("%w: negative tokens %d or cost %d", ErrInvalid, r.Tokens, r.Cost)
	}
	if r.Lease < 0 {
		return fmt.Errorf("%w: negative lease %v", ErrInvalid, r.Lease)
	}
	return validate(r.Limits, r.ID)
}

// Validate returns an error wrapping ErrInvalid if s is malformed: its
// limits as for [Request.Validate], or a Concurrent limit without an ID.
// Tokens and Cost may be negative.
func (s Settlement) Validate() error {
	return validate(s.Limits, s.ID)
}

// validate checks limits, that no two share Kind and Scope, and that id is
// set if one is Concurrent.
func validate(limits []Limit, id string) error {
	for i, l := range limits {
		switch {
		case !l.Kind.Valid():
			return fmt.Errorf("%w: unknown kind %q", ErrInvalid, l.Kind)
		case l.Max <= 0:
			return fmt.Errorf("%w: %s %s max %d is not positive", ErrInvalid, l.Scope, l.Kind, l.Max)
		case !strings.HasPrefix(l.Scope, "key:") && !strings.HasPrefix(l.Scope, "principal:"):
			return fmt.Errorf("%w: scope %q names neither a key nor a principal", ErrInvalid, l.Scope)
		case l.Kind == Concurrent && id == "":
			return fmt.Errorf("%w: %s %s needs a request ID to hold its slot", ErrInvalid, l.Scope, l.Kind)
		}
		for _, m := range limits[:i] {
			if m.Kind == l.Kind && m.Scope == l.Scope {
				return fmt.Errorf("%w: %s %s given twice", ErrInvalid, l.Scope, l.Kind)
			}
		}
	}
	return nil
}

// Units returns how many units a request of tokens and cost (in
// micro-dollars) counts against a limit of kind k: 1 for requests and
// concurrency, tokens for token limits, cost for cost limits. Applied to a
// Settlement's Tokens and Cost it gives the delta of a token or cost limit.
func (k Kind) Units(tokens, cost int64) int64 {
	switch {
	case k == RequestsPerMinute || k == Concurrent:
		return 1
	case k.countsTokens():
		return tokens
	default:
		return cost
	}
}
