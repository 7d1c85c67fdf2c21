package apikey

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/scopegate/scopegate/internal/scope"
)

// Default lifetimes of keys; the operator can change them in config.
const (
	DefaultTTL      = 90 * 24 * time.Hour
	DefaultMaxTTL   = 365 * 24 * time.Hour
	DefaultGrace    = 24 * time.Hour
	MaxGrace        = 30 * 24 * time.Hour
	idempotencyLife = 24 * time.Hour
)

// IssuerConfig holds the settings and dependencies of an Issuer.
type IssuerConfig struct {
	Store    Store
	Hasher   *Hasher
	Recorder Recorder
	Logger   *slog.Logger
	// DefaultTTL is a new key's lifetime when the request gives none;
	// MaxTTL is the longest allowed. Zero means the package defaults.
	DefaultTTL time.Duration
	MaxTTL     time.Duration
	// DefaultGrace is how long a rotated key keeps working when the request
	// gives no grace. Zero means DefaultGrace; use a negative value for none.
	DefaultGrace time.Duration
	// CheckScopes, when set, refuses data scopes the configuration does not
	// serve (an unknown feature, a resource no feature has), so a typo does
	// not become a silently useless key. Errors that are not a
	// *ValidationError are reported as one on the field "scopes".
	CheckScopes func(scope.Set) error
	// CanRecord, when set, is asked before every change; an error refuses
	// the change with ErrUnrecorded before anything is stored, so no change
	// is made that the audit log cannot record.
	CanRecord func() error
	// Now and Rand default to time.Now and crypto/rand.Reader; tests set them.
	Now  func() time.Time
	Rand io.Reader
}

// Issuer creates and changes principals and keys. It enforces the rules
// (ceilings, lifetimes, who may touch what) and reports every change to its
// Recorder. It holds no state of its own and is safe for concurrent use.
type Issuer struct {
	store    Store
	hasher   *Hasher
	recorder Recorder
	logger   *slog.Logger
	cfg      IssuerConfig
	now      func() time.Time
	rand     io.Reader
}

// NewIssuer returns an Issuer for cfg.
func NewIssuer(cfg IssuerConfig) *Issuer {
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = DefaultTTL
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.DefaultGrace == 0 {
		cfg.DefaultGrace = DefaultGrace
	} else if cfg.DefaultGrace < 0 {
		cfg.DefaultGrace = 0
	}
	i := &Issuer{store: cfg.Store, hasher: cfg.Hasher, recorder: cfg.Recorder, logger: cfg.Logger, cfg: cfg, now: cfg.Now, rand: cfg.Rand}
	if i.now == nil {
		i.now = time.Now
	}
	// Stores keep microseconds; truncating here makes the record a create
	// answers equal to the one a later read returns.
	clock := i.now
	i.now = func() time.Time { return clock().Truncate(time.Microsecond) }
	if i.rand == nil {
		i.rand = rand.Reader
	}
	if i.logger == nil {
		i.logger = slog.New(slog.DiscardHandler)
	}
	return i
}

// MaxTTL returns the longest lifetime a key may have.
func (i *Issuer) MaxTTL() time.Duration { return i.cfg.MaxTTL }

// recordable refuses a change the audit log could not record.
func (i *Issuer) recordable() error {
	if i.cfg.CanRecord == nil {
		return nil
	}
	if err := i.cfg.CanRecord(); err != nil {
		i.logger.Warn("admin change refused: the audit log cannot record it", "err", err)
		return ErrUnrecorded
	}
	return nil
}

// record reports a change. The change is already committed, so a failure
// cannot undo it; it is logged and returned so that the caller learns the
// audit trail is broken.
func (i *Issuer) record(ctx context.Context, action string, a Actor, target string, p PrincipalID, before, after map[string]string) error {
	if i.recorder == nil {
		return nil
	}
	c := Change{Action: action, Actor: a.String(), Target: target, Principal: p, Fields: diff(before, after)}
	if err := i.recorder.Record(ctx, c); err != nil {
		i.logger.ErrorContext(ctx, "audit record failed after change was applied", "action", action, "target", target, "err", err)
		return fmt.Errorf("%s %s applied but not recorded: %w", action, target, err)
	}
	return nil
}

// PrincipalSpec is a request to create a principal.
type PrincipalSpec struct {
	ID       PrincipalID
	Kind     PrincipalKind
	Audience Audience
	Team     string
	Scopes   []string
	Limits   Limits
}

// CreatePrincipal creates a principal. Only admins may.
func (i *Issuer) CreatePrincipal(ctx context.Context, a Actor, spec PrincipalSpec) (Principal, error) {
	if !a.IsAdmin() {
		return Principal{}, ErrForbidden
	}
	if err := i.recordable(); err != nil {
		return Principal{}, err
	}
	if !ValidPrincipalID(spec.ID) {
		return Principal{}, invalid("id", "must be 1 to 128 printable characters without spaces or any of / ? # %%")
	}
	if spec.Kind == "" {
		spec.Kind = KindUser
	}
	if spec.Audience == "" {
		spec.Audience = AudienceInternal
	}
	ceiling, err := i.parseScopes(spec.Scopes, true)
	if err != nil {
		return Principal{}, err
	}
	now := i.now().UTC()
	p := Principal{ID: spec.ID, Kind: spec.Kind, Audience: spec.Audience, Team: spec.Team, Ceiling: ceiling,
		Status: PrincipalActive, Limits: spec.Limits, CreatedAt: now, UpdatedAt: now,
		CreatedBy: a.String(), UpdatedBy: a.String()}
	if err := validatePrincipal(&p); err != nil {
		return Principal{}, err
	}
	if err := i.store.CreatePrincipal(ctx, p); err != nil {
		if errors.Is(err, ErrConflict) {
			return Principal{}, fmt.Errorf("principal %q already exists: %w", p.ID, ErrConflict)
		}
		return Principal{}, err
	}
	return p, i.record(ctx, "principal.create", a, string(p.ID), p.ID, nil, principalFields(&p))
}

func validatePrincipal(p *Principal) error {
	switch p.Kind {
	case KindUser, KindService:
	default:
		return invalid("kind", "must be %q or %q", KindUser, KindService)
	}
	switch p.Audience {
	case AudienceInternal, AudienceExternal:
	default:
		return invalid("audience", "must be %q or %q", AudienceInternal, AudienceExternal)
	}
	if len(p.Team) > 128 {
		return invalid("team", "longer than 128 characters")
	}
	return validateLimits(p.Limits)
}

func validateLimits(l Limits) error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"requests_per_minute", l.RequestsPerMinute}, {"tokens_per_minute", l.TokensPerMinute},
		{"concurrent", l.Concurrent}, {"tokens_per_day", l.TokensPerDay}, {"tokens_per_month", l.TokensPerMonth},
		{"cost_per_day", int64(l.CostPerDay)}, {"cost_per_month", int64(l.CostPerMonth)},
	} {
		if f.v < 0 {
			return invalid("limits."+f.name, "must not be negative")
		}
	}
	return nil
}

// parseScopes parses scopes from a request. Roles are accepted only in a
// ceiling (which may hold both data scopes and roles) or when roles is true.
func (i *Issuer) parseScopes(ss []string, roles bool) (scope.Set, error) {
	set, err := scope.ParseSet(ss)
	if err != nil {
		return scope.Set{}, &ValidationError{Field: "scopes", Message: err.Error()}
	}
	var data []scope.Scope
	for _, s := range set.Scopes() {
		if IsRole(s) {
			if !roles {
				return scope.Set{}, invalid("scopes", "%q is an admin role; it is valid only on admin keys and ceilings", s)
			}
			continue
		}
		data = append(data, s)
	}
	if i.cfg.CheckScopes != nil && len(data) > 0 {
		if err := i.cfg.CheckScopes(scope.NewSet(data...)); err != nil {
			if _, ok := errors.AsType[*ValidationError](err); !ok { // a refused scope is the caller's 400, never a 500
				err = &ValidationError{Field: "scopes", Message: err.Error()}
			}
			return scope.Set{}, err
		}
	}
	return set, nil
}

// Principal returns the principal id if a reaches it, else ErrNotFound.
func (i *Issuer) Principal(ctx context.Context, a Actor, id PrincipalID) (Principal, error) {
	p, err := i.store.Principal(ctx, id)
	if err != nil {
		return Principal{}, err
	}
	if !a.Reaches(&p) {
		return Principal{}, ErrNotFound
	}
	return p, nil
}

// Principals lists the principals a reaches that match f.
func (i *Issuer) Principals(ctx context.Context, a Actor, f PrincipalFilter) (Page[Principal], error) {
	switch {
	case a.IsAdmin():
	case a.rank() == 2:
		if f.Team != "" && f.Team != a.Team {
			return Page[Principal]{}, nil
		}
		f.Team = a.Team
		if a.Team == "" {
			return Page[Principal]{}, nil
		}
	case a.rank() == 1:
		p, err := i.store.Principal(ctx, a.Principal)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Page[Principal]{}, err
		}
		if err != nil || (f.Team != "" && p.Team != f.Team) || (f.Status != "" && p.Status != f.Status) || (f.After != "" && p.ID <= f.After) {
			return Page[Principal]{}, nil
		}
		return Page[Principal]{Items: []Principal{p}}, nil
	default:
		return Page[Principal]{}, ErrForbidden
	}
	return i.store.Principals(ctx, f)
}

// PrincipalPatch is a change to a principal; nil fields are left alone.
type PrincipalPatch struct {
	Kind     *PrincipalKind
	Audience *Audience
	Team     *string
	Scopes   *[]string
	Limits   *Limits
}

// UpdatePrincipal changes a principal. Only admins may. Narrowing the
// ceiling narrows every key of the principal at once, because a key's
// effective scopes are intersected with the ceiling at request time.
func (i *Issuer) UpdatePrincipal(ctx context.Context, a Actor, id PrincipalID, patch PrincipalPatch) (Principal, error) {
	var ceiling *scope.Set
	if patch.Scopes != nil {
		c, err := i.parseScopes(*patch.Scopes, true)
		if err != nil {
			return Principal{}, err
		}
		ceiling = &c
	}
	return i.changePrincipal(ctx, a, id, "principal.update", func(p *Principal) error {
		if patch.Kind != nil {
			p.Kind = *patch.Kind
		}
		if patch.Audience != nil {
			p.Audience = *patch.Audience
		}
		if patch.Team != nil {
			p.Team = *patch.Team
		}
		if ceiling != nil {
			p.Ceiling = *ceiling
		}
		if patch.Limits != nil {
			p.Limits = *patch.Limits
		}
		return validatePrincipal(p)
	})
}

// DisablePrincipal disables a principal, which stops all of its keys.
func (i *Issuer) DisablePrincipal(ctx context.Context, a Actor, id PrincipalID) (Principal, error) {
	return i.changePrincipal(ctx, a, id, "principal.disable", func(p *Principal) error {
		p.Status = PrincipalDisabled
		return nil
	})
}

// EnablePrincipal re-enables a disabled principal; its keys work again
// unless they were suspended, revoked or have expired meanwhile.
func (i *Issuer) EnablePrincipal(ctx context.Context, a Actor, id PrincipalID) (Principal, error) {
	return i.changePrincipal(ctx, a, id, "principal.enable", func(p *Principal) error {
		p.Status = PrincipalActive
		return nil
	})
}

func (i *Issuer) changePrincipal(ctx context.Context, a Actor, id PrincipalID, action string, fn func(*Principal) error) (Principal, error) {
	if err := i.recordable(); err != nil {
		return Principal{}, err
	}
	var before map[string]string
	p, err := i.store.UpdatePrincipal(ctx, id, func(p *Principal) error {
		if !a.Reaches(p) {
			return ErrNotFound
		}
		if !a.IsAdmin() {
			return ErrForbidden
		}
		before = principalFields(p)
		if err := fn(p); err != nil {
			return err
		}
		p.UpdatedAt = i.now().UTC()
		p.UpdatedBy = a.String()
		return nil
	})
	if err != nil {
		return Principal{}, err
	}
	after := principalFields(&p)
	if len(diff(before, after)) == 0 {
		return p, nil // nothing changed, e.g. disabling a disabled principal
	}
	return p, i.record(ctx, action, a, string(p.ID), p.ID, before, after)
}
