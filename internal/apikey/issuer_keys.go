package apikey

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/scopegate/scopegate/internal/scope"
)

// KeySpec is a request to create a key.
type KeySpec struct {
	Principal PrincipalID
	Name      string
	// Class is ClassData (the default) or ClassAdmin.
	Class  Class
	Scopes []string
	Env    Env
	// TTL and ExpiresAt are alternatives; with neither the key lives for the
	// configured default.
	TTL       time.Duration
	ExpiresAt time.Time
	NotBefore time.Time
	CIDRs     []string
	Limits    Limits
}

// CreateKey creates a key and returns its record and the key itself, which
// is never available again.
func (i *Issuer) CreateKey(ctx context.Context, a Actor, spec KeySpec) (Key, Secret, error) {
	if err := i.recordable(); err != nil {
		return Key{}, Secret{}, err
	}
	p, err := i.Principal(ctx, a, spec.Principal)
	if errors.Is(err, ErrNotFound) {
		return Key{}, Secret{}, &ValidationError{Field: "principal", Message: fmt.Sprintf("unknown principal %q", spec.Principal)}
	}
	if err != nil {
		return Key{}, Secret{}, err
	}
	if spec.Class == "" {
		spec.Class = ClassData
	}
	if spec.Env == "" {
		spec.Env = EnvLive
	}
	if !spec.Env.Valid() {
		return Key{}, Secret{}, invalid("env", "must be %q or %q", EnvLive, EnvTest)
	}
	now := i.now().UTC()
	k := Key{Class: spec.Class, Name: spec.Name, Principal: p.ID, Env: spec.Env, Limits: spec.Limits,
		Status: StatusActive, CreatedAt: now, UpdatedAt: now, CreatedBy: a.String(), UpdatedBy: a.String()}
	if err := i.setScopes(&k, &p, a, spec.Scopes); err != nil {
		return Key{}, Secret{}, err
	}
	if err := i.setLifetime(&k, now, spec.TTL, spec.ExpiresAt, spec.NotBefore); err != nil {
		return Key{}, Secret{}, err
	}
	if k.CIDRs, err = parseCIDRs(spec.CIDRs); err != nil {
		return Key{}, Secret{}, err
	}
	if err := validateKey(&k); err != nil {
		return Key{}, Secret{}, err
	}
	secret, err := i.mint(ctx, &k)
	if err != nil {
		return Key{}, Secret{}, err
	}
	return k, secret, i.record(ctx, "key.create", a, string(k.ID), k.Principal, nil, keyFields(&k))
}

// mint generates the key for k, fills in its id, hash and last4, and
// stores it. A clash of random ids is astronomically unlikely but cheap to
// survive, so it retries.
func (i *Issuer) mint(ctx context.Context, k *Key) (Secret, error) {
	for range 3 {
		cred, err := Generate(i.rand, k.Class, k.Env)
		if err != nil {
			return Secret{}, err
		}
		k.ID, k.Hash, k.Last4 = cred.ID, i.hasher.Hash(cred.Secret), cred.Secret.Last4()
		err = i.store.CreateKey(ctx, *k)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return cred.Secret, err
	}
	return Secret{}, errors.New("create key: id collisions")
}

// setScopes checks requested scopes and sets them on k: they must parse, be
// roles exactly when k is an admin key, lie within the principal's ceiling,
// and, for roles, not exceed the caller's own.
func (i *Issuer) setScopes(k *Key, p *Principal, a Actor, ss []string) error {
	set, err := i.parseScopes(ss, k.Class == ClassAdmin)
	if err != nil {
		return err
	}
	if set.IsEmpty() {
		// A key without scopes grants nothing; refusing it catches the
		// mistake when it is made, not when the key is first used.
		return invalid("scopes", "at least one scope is required")
	}
	switch k.Class {
	case ClassData:
	case ClassAdmin:
		for _, s := range set.Scopes() {
			if !IsRole(s) {
				return invalid("scopes", "%q is not an admin role; admin keys hold %q, %q or %q", s, RoleAdmin, RoleKeysTeam, RoleKeysSelf)
			}
		}
		if !a.mayGrant(set) {
			return invalid("scopes", "an admin key may not hold roles above the caller's own (%s)", a.Roles)
		}
	default:
		return invalid("kind", "must be %q or %q", "data", "admin")
	}
	outside := set.Outside(p.Ceiling)
	if k.Class == ClassAdmin {
		outside = set.Outside(EffectiveRoles(set, p.Ceiling))
	}
	if len(outside) > 0 {
		return invalid("scopes", "%s outside the ceiling of principal %q (%s)", scope.NewSet(outside...), p.ID, ceilingText(p.Ceiling))
	}
	k.Scopes = set
	return nil
}

func ceilingText(c scope.Set) string {
	if c.IsEmpty() {
		return "empty"
	}
	return c.String()
}

// setLifetime sets not_before and expires_at on k from a request, within
// the configured maximum lifetime.
func (i *Issuer) setLifetime(k *Key, now time.Time, ttl time.Duration, expires, notBefore time.Time) error {
	start := now
	if !notBefore.IsZero() {
		if notBefore.After(now.Add(i.cfg.MaxTTL)) {
			return invalid("not_before", "more than %s in the future", i.cfg.MaxTTL)
		}
		k.NotBefore = notBefore.UTC()
		if k.NotBefore.After(now) {
			start = k.NotBefore
		}
	}
	switch {
	case ttl != 0 && !expires.IsZero():
		return invalid("ttl", "give ttl or expires_at, not both")
	case ttl < 0:
		return invalid("ttl", "must be positive")
	case ttl > 0:
		expires = start.Add(ttl)
	case expires.IsZero():
		expires = start.Add(i.cfg.DefaultTTL)
	}
	if !expires.After(now) {
		return invalid("expires_at", "is not in the future")
	}
	if !expires.After(start) {
		return invalid("expires_at", "is not after not_before")
	}
	if expires.Sub(start) > i.cfg.MaxTTL {
		field := "expires_at"
		if ttl > 0 {
			field = "ttl"
		}
		return invalid(field, "lifetime %s exceeds the maximum of %s", expires.Sub(start).Round(time.Second), i.cfg.MaxTTL)
	}
	k.ExpiresAt = expires.UTC()
	return nil
}

func parseCIDRs(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, invalid("cidrs", "%q is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// Clients are matched unmapped (Key.AllowsClient), so an
			// IPv4-mapped network must be stored as the IPv4 network it
			// names, or it would admit no one.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func validateKey(k *Key) error {
	if len(k.Name) > 200 {
		return invalid("name", "longer than 200 characters")
	}
	return validateLimits(k.Limits)
}

// reachKey loads the key id and checks that a reaches its principal;
// anything out of reach is ErrNotFound.
func (i *Issuer) reachKey(ctx context.Context, a Actor, k *Key) (Principal, error) {
	p, err := i.store.Principal(ctx, k.Principal)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Principal{}, fmt.Errorf("key %s: principal %q missing: %w", k.ID, k.Principal, ErrConflict)
		}
		return Principal{}, err
	}
	if !a.Reaches(&p) {
		return Principal{}, ErrNotFound
	}
	return p, nil
}

// Key returns the key id if a reaches it, else ErrNotFound.
func (i *Issuer) Key(ctx context.Context, a Actor, id ID) (Key, error) {
	k, err := i.store.Key(ctx, id)
	if err != nil {
		return Key{}, err
	}
	if _, err := i.reachKey(ctx, a, &k); err != nil {
		return Key{}, err
	}
	return k, nil
}

// Keys lists the keys a reaches that match f.
func (i *Issuer) Keys(ctx context.Context, a Actor, f KeyFilter) (Page[Key], error) {
	switch a.rank() {
	case 3:
	case 2:
		if a.Team == "" || (f.Team != "" && f.Team != a.Team) {
			return Page[Key]{}, nil
		}
		f.Team = a.Team
	case 1:
		if f.Principal != "" && f.Principal != a.Principal {
			return Page[Key]{}, nil
		}
		f.Principal = a.Principal
	default:
		return Page[Key]{}, ErrForbidden
	}
	return i.store.Keys(ctx, f)
}

// KeyPatch is a change to a key; nil fields are left alone.
type KeyPatch struct {
	Name      *string
	Scopes    *[]string
	ExpiresAt *time.Time
	CIDRs     *[]string
	Limits    *Limits
}

// UpdateKey changes a key's settings. A revoked key cannot be changed.
func (i *Issuer) UpdateKey(ctx context.Context, a Actor, id ID, patch KeyPatch) (Key, error) {
	return i.changeKey(ctx, a, id, "key.update", func(k *Key, p *Principal) error {
		if k.Status == StatusRevoked {
			return fmt.Errorf("key %s is revoked: %w", k.ID, ErrConflict)
		}
		if k.Class == ClassAdmin && !a.mayGrant(k.Scopes) {
			return errAboveCaller
		}
		if patch.Name != nil {
			k.Name = *patch.Name
		}
		if patch.Scopes != nil {
			if err := i.setScopes(k, p, a, *patch.Scopes); err != nil {
				return err
			}
		}
		if patch.ExpiresAt != nil {
			now := i.now().UTC()
			if err := i.setLifetime(k, now, 0, *patch.ExpiresAt, k.NotBefore); err != nil {
				return err
			}
		}
		if patch.CIDRs != nil {
			cidrs, err := parseCIDRs(*patch.CIDRs)
			if err != nil {
				return err
			}
			k.CIDRs = cidrs
		}
		if patch.Limits != nil {
			k.Limits = *patch.Limits
		}
		return validateKey(k)
	})
}

// SuspendKey stops a key until it is resumed.
func (i *Issuer) SuspendKey(ctx context.Context, a Actor, id ID) (Key, error) {
	return i.changeKey(ctx, a, id, "key.suspend", func(k *Key, _ *Principal) error {
		if k.Status == StatusRevoked {
			return fmt.Errorf("key %s is revoked: %w", k.ID, ErrConflict)
		}
		k.Status = StatusSuspended
		return nil
	})
}

// ResumeKey lets a suspended key work again.
func (i *Issuer) ResumeKey(ctx context.Context, a Actor, id ID) (Key, error) {
	return i.changeKey(ctx, a, id, "key.resume", func(k *Key, _ *Principal) error {
		if k.Status == StatusRevoked {
			return fmt.Errorf("key %s is revoked and cannot be resumed: %w", k.ID, ErrConflict)
		}
		if k.Class == ClassAdmin && !a.mayGrant(k.Scopes) {
			return errAboveCaller
		}
		k.Status = StatusActive
		return nil
	})
}

// RevokeKey revokes a key for good. Revoking a revoked key changes nothing
// and is not an error, so a retried revoke succeeds.
func (i *Issuer) RevokeKey(ctx context.Context, a Actor, id ID) (Key, error) {
	return i.changeKey(ctx, a, id, "key.revoke", func(k *Key, _ *Principal) error {
		if k.Status == StatusRevoked {
			return nil
		}
		k.Status = StatusRevoked
		k.RevokedAt = i.now().UTC()
		k.RevokedBy = a.String()
		return nil
	})
}

func (i *Issuer) changeKey(ctx context.Context, a Actor, id ID, action string, fn func(*Key, *Principal) error) (Key, error) {
	if err := i.recordable(); err != nil {
		return Key{}, err
	}
	// A key's principal never changes, so reach is checked before the
	// transaction and the store is never called from inside it.
	cur, err := i.store.Key(ctx, id)
	if err != nil {
		return Key{}, err
	}
	p, err := i.reachKey(ctx, a, &cur)
	if err != nil {
		return Key{}, err
	}
	var before map[string]string
	k, err := i.store.UpdateKey(ctx, id, func(k *Key) error {
		before = keyFields(k)
		if err := fn(k, &p); err != nil {
			return err
		}
		k.UpdatedAt = i.now().UTC()
		k.UpdatedBy = a.String()
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	after := keyFields(&k)
	if len(diff(before, after)) == 0 {
		return k, nil // nothing changed, e.g. a repeated revoke
	}
	return k, i.record(ctx, action, a, string(k.ID), k.Principal, before, after)
}
