package apikey

import (
	"context"
	"errors"
)

// LeakActor is the actor of revocations made because a key was reported
// leaked: its events read "system/leak-report".
var LeakActor = Actor{Principal: SystemActor.Principal, KeyID: "leak-report", Roles: SystemActor.Roles}

// Holder returns the stored key whose whole text is presented, whatever
// its class, state, lifetime or networks: what a leak report needs, where
// the reporter is not the key's holder. A malformed key, an unknown id and
// a wrong secret are all ErrInvalidKey, and all cost one HMAC and
// comparison, so the answer's timing does not say which. A store failure
// is returned as is.
func (v *Verifier) Holder(ctx context.Context, presented string) (Key, error) {
	cred, err := Parse(presented)
	if err != nil {
		v.hasher.Verify(newSecret(presented), v.decoy)
		return Key{}, ErrInvalidKey
	}
	k, err := v.lookup.Key(ctx, cred.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		v.hasher.Verify(cred.Secret, v.decoy)
		return Key{}, ErrInvalidKey
	case err != nil:
		return Key{}, err
	}
	if !v.hasher.Verify(cred.Secret, k.Hash) || k.Class != cred.Class {
		return Key{}, ErrInvalidKey
	}
	return k, nil
}

// Report says who reported a key leaked and how, for the key.revoke event.
type Report struct {
	// From is the reporter's address as the audit log records it.
	From string
	// Via names the channel: "revoke-leaked", "github-secret-scanning".
	Via string
	// URL is where the key was found, when the reporter says.
	URL string
}

// RevokeLeaked revokes key id because it was reported leaked, as
// LeakActor. Its key.revoke event carries two more fields than an admin's:
// reported_from and reported_via, and reported_url when the report
// says where the key was found. It reports whether this call revoked the
// key; revoking a revoked key changes and records nothing.
func (i *Issuer) RevokeLeaked(ctx context.Context, id ID, r Report) (Key, bool, error) {
	if err := i.recordable(); err != nil {
		return Key{}, false, err
	}
	a := LeakActor
	var before map[string]string
	revoked := false
	k, err := i.store.UpdateKey(ctx, id, func(k *Key) error {
		before = keyFields(k)
		if k.Status == StatusRevoked {
			return nil
		}
		revoked = true
		now := i.now().UTC()
		k.Status, k.RevokedAt, k.RevokedBy = StatusRevoked, now, a.String()
		k.UpdatedAt, k.UpdatedBy = now, a.String()
		return nil
	})
	if err != nil || !revoked {
		return k, false, err
	}
	after := keyFields(&k)
	before["reported_from"], before["reported_via"] = "", ""
	after["reported_from"], after["reported_via"] = r.From, r.Via
	if r.URL != "" {
		before["reported_url"], after["reported_url"] = "", r.URL
	}
	return k, true, i.record(ctx, "key.revoke", a, string(k.ID), k.Principal, before, after)
}
