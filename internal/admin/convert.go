package admin

import (
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// This file is the only place that converts between the wire shapes of
// wire.go and the apikey types. Requests become specs and patches without
// judging them (the Issuer does that); records become wire shapes without
// the hash, which has no business leaving the store.

// The values of the "kind" field of a key.
const (
	kindData  = "data"
	kindAdmin = "admin"
)

func principalSpec(req PrincipalRequest) apikey.PrincipalSpec {
	spec := apikey.PrincipalSpec{
		ID:       apikey.PrincipalID(req.ID),
		Kind:     apikey.PrincipalKind(req.Kind),
		Audience: apikey.Audience(req.Audience),
		Team:     req.Team,
		Scopes:   req.Scopes,
	}
	if req.Limits != nil {
		spec.Limits = *req.Limits
	}
	return spec
}

func principalPatch(req PrincipalPatch) apikey.PrincipalPatch {
	patch := apikey.PrincipalPatch{Team: req.Team, Scopes: req.Scopes, Limits: req.Limits}
	if req.Kind != nil {
		patch.Kind = new(apikey.PrincipalKind(*req.Kind))
	}
	if req.Audience != nil {
		patch.Audience = new(apikey.Audience(*req.Audience))
	}
	return patch
}

func toPrincipal(p apikey.Principal) Principal {
	return Principal{
		ID:        string(p.ID),
		Kind:      string(p.Kind),
		Audience:  string(p.Audience),
		Team:      p.Team,
		Scopes:    p.Ceiling.Strings(),
		Status:    string(p.Status),
		Limits:    p.Limits,
		CreatedAt: p.CreatedAt,
		UpdatedAt: p.UpdatedAt,
		CreatedBy: p.CreatedBy,
		UpdatedBy: p.UpdatedBy,
	}
}

func keySpec(req KeyRequest) (apikey.KeySpec, error) {
	class, err := keyClass(req.Kind)
	if err != nil {
		return apikey.KeySpec{}, err
	}
	spec := apikey.KeySpec{
		Principal: apikey.PrincipalID(req.Principal),
		Name:      req.Name,
		Class:     class,
		Scopes:    req.Scopes,
		Env:       apikey.Env(req.Env),
		CIDRs:     req.CIDRs,
	}
	if req.TTL != "" {
		if spec.TTL, err = parseDuration("ttl", req.TTL); err != nil {
			return apikey.KeySpec{}, err
		}
		// The Issuer reads a zero TTL as "not given"; a client that wrote
		// "ttl":"0s" meant something else, so say so.
		if spec.TTL == 0 {
			return apikey.KeySpec{}, badRequest("ttl", "must be longer than zero")
		}
	}
	if req.ExpiresAt != nil {
		spec.ExpiresAt = *req.ExpiresAt
	}
	if req.NotBefore != nil {
		spec.NotBefore = *req.NotBefore
	}
	if req.Limits != nil {
		spec.Limits = *req.Limits
	}
	return spec, nil
}

func keyClass(kind string) (apikey.Class, error) {
	switch kind {
	case "", kindData:
		return apikey.ClassData, nil
	case kindAdmin:
		return apikey.ClassAdmin, nil
	}
	return "", badRequest("kind", "must be %q or %q", kindData, kindAdmin)
}

func keyKind(c apikey.Class) string {
	if c == apikey.ClassAdmin {
		return kindAdmin
	}
	return kindData
}

func keyPatch(req KeyPatch) apikey.KeyPatch {
	return apikey.KeyPatch{Name: req.Name, Scopes: req.Scopes, ExpiresAt: req.ExpiresAt, CIDRs: req.CIDRs, Limits: req.Limits}
}

func rotateSpec(req RotateRequest, idempotencyKey string) (apikey.RotateSpec, error) {
	spec := apikey.RotateSpec{IdempotencyKey: idempotencyKey}
	if req.Grace != nil {
		g, err := parseDuration("grace", *req.Grace)
		if err != nil {
			return apikey.RotateSpec{}, err
		}
		spec.Grace = &g
	}
	return spec, nil
}

// toKey returns the record of k as the API shows it, without the key
// itself: only the create and rotate handlers add that, once.
func toKey(k apikey.Key) Key {
	cidrs := make([]string, len(k.CIDRs))
	for i, p := range k.CIDRs {
		cidrs[i] = p.String()
	}
	return Key{
		ID:          string(k.ID),
		Kind:        keyKind(k.Class),
		Name:        k.Name,
		Principal:   string(k.Principal),
		Scopes:      k.Scopes.Strings(),
		Env:         string(k.Env),
		Status:      string(k.Status),
		NotBefore:   optionalTime(k.NotBefore),
		ExpiresAt:   k.ExpiresAt,
		CIDRs:       cidrs,
		Limits:      k.Limits,
		Last4:       k.Last4,
		RotatedFrom: string(k.RotatedFrom),
		ReplacedBy:  string(k.ReplacedBy),
		LastUsedAt:  optionalTime(k.LastUsedAt),
		CreatedAt:   k.CreatedAt,
		UpdatedAt:   k.UpdatedAt,
		RevokedAt:   optionalTime(k.RevokedAt),
		CreatedBy:   k.CreatedBy,
		UpdatedBy:   k.UpdatedBy,
		RevokedBy:   k.RevokedBy,
	}
}

// toCreatedKey is toKey plus the key itself, for the one answer that shows
// it. Reveal is called here and nowhere else in the package.
func toCreatedKey(k apikey.Key, s apikey.Secret) Key {
	out := toKey(k)
	out.Key = s.Reveal()
	return out
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
