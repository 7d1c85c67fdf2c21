package apikey

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"
)

// RotateSpec is a request to rotate a key.
type RotateSpec struct {
	// Grace is how long the old key keeps working; nil means the configured
	// default, zero means it stops now.
	Grace *time.Duration
	// IdempotencyKey, when set, makes a retried rotation answer with the
	// key the first attempt created instead of creating another.
	IdempotencyKey string
}

// RotateKey replaces a key with a new one of the same settings. The old key
// keeps working for the grace period, then expires; it can be rotated only
// once. The new key's lifetime is the old key's original lifetime, from now.
func (i *Issuer) RotateKey(ctx context.Context, a Actor, id ID, spec RotateSpec) (Key, Secret, error) {
	if err := i.recordable(); err != nil {
		return Key{}, Secret{}, err
	}
	grace := i.cfg.DefaultGrace
	if spec.Grace != nil {
		grace = *spec.Grace
	}
	if grace < 0 || grace > MaxGrace {
		return Key{}, Secret{}, invalid("grace", "must be between 0 and %s", MaxGrace)
	}
	if len(spec.IdempotencyKey) > 255 {
		return Key{}, Secret{}, invalid("Idempotency-Key", "longer than 255 characters")
	}
	old, err := i.Key(ctx, a, id)
	if err != nil {
		return Key{}, Secret{}, err
	}
	if old.Class == ClassAdmin && !a.mayGrant(old.Scopes) {
		// The new key would carry the old key's roles: rotating is granting.
		return Key{}, Secret{}, errAboveCaller
	}
	// The fingerprint covers everything the request asks for, so reusing an
	// Idempotency-Key with a different grace is a conflict, not a replay.
	fingerprint := fmt.Sprintf("key.rotate %s grace=%s", id, grace)
	if spec.IdempotencyKey != "" {
		if k, s, err := i.replay(ctx, a, spec.IdempotencyKey, fingerprint); !errors.Is(err, ErrNotFound) {
			return k, s, err
		}
	}
	now := i.now().UTC()
	next := old
	next.RotatedFrom, next.ReplacedBy = old.ID, ""
	next.Status = StatusActive
	next.NotBefore = time.Time{}
	next.LastUsedAt, next.RevokedAt, next.RevokedBy = time.Time{}, time.Time{}, ""
	next.CreatedAt, next.UpdatedAt, next.CreatedBy, next.UpdatedBy = now, now, a.String(), a.String()
	life := old.ExpiresAt.Sub(old.CreatedAt)
	if old.NotBefore.After(old.CreatedAt) {
		life = old.ExpiresAt.Sub(old.NotBefore)
	}
	next.ExpiresAt = now.Add(min(max(life, time.Minute), i.cfg.MaxTTL))

	cred, err := Generate(i.rand, next.Class, next.Env)
	if err != nil {
		return Key{}, Secret{}, err
	}
	next.ID, next.Hash, next.Last4 = cred.ID, i.hasher.Hash(cred.Secret), cred.Secret.Last4()

	var idem *Idempotency
	if spec.IdempotencyKey != "" {
		sealed, err := i.seal(a, spec.IdempotencyKey, next.ID, cred.Secret)
		if err != nil {
			return Key{}, Secret{}, err
		}
		idem = &Idempotency{Actor: a.String(), Key: spec.IdempotencyKey, Fingerprint: fingerprint,
			Result: next.ID, Sealed: sealed, CreatedAt: now, ExpiresAt: now.Add(idempotencyLife)}
	}
	var before, after map[string]string
	_, err = i.store.Rotate(ctx, next, func(k *Key) error {
		switch {
		case k.Status != StatusActive:
			return fmt.Errorf("key %s is %s and cannot be rotated: %w", k.ID, k.Status, ErrConflict)
		case k.ReplacedBy != "":
			return fmt.Errorf("key %s was already rotated to %s: %w", k.ID, k.ReplacedBy, ErrConflict)
		}
		before = keyFields(k)
		k.ReplacedBy = next.ID
		if end := now.Add(grace); end.Before(k.ExpiresAt) {
			k.ExpiresAt = end
		}
		k.UpdatedAt, k.UpdatedBy = now, a.String()
		after = keyFields(k)
		return nil
	}, idem)
	if err != nil {
		if spec.IdempotencyKey != "" {
			// A concurrent retry may have won the race; answer as it did.
			if k, s, rerr := i.replay(ctx, a, spec.IdempotencyKey, fingerprint); rerr == nil {
				return k, s, nil
			}
		}
		return Key{}, Secret{}, err
	}
	if err := i.record(ctx, "key.rotate", a, string(old.ID), old.Principal, before, after); err != nil {
		return next, cred.Secret, err
	}
	return next, cred.Secret, i.record(ctx, "key.create", a, string(next.ID), next.Principal, nil, keyFields(&next))
}

// replay answers a retried rotation from its idempotency record.
func (i *Issuer) replay(ctx context.Context, a Actor, idemKey, fingerprint string) (Key, Secret, error) {
	rec, err := i.store.Idempotency(ctx, a.String(), idemKey)
	if err != nil {
		return Key{}, Secret{}, err
	}
	if rec.Fingerprint != fingerprint {
		return Key{}, Secret{}, fmt.Errorf("Idempotency-Key was already used for a different request: %w", ErrConflict)
	}
	k, err := i.store.Key(ctx, rec.Result)
	if err != nil {
		return Key{}, Secret{}, err
	}
	s, err := i.unseal(a, idemKey, rec.Result, rec.Sealed)
	if err != nil {
		return Key{}, Secret{}, err
	}
	return k, s, nil
}

// sealer returns the AEAD that protects stored one-time responses. Its key
// is derived from the pepper, so the database alone cannot open them.
func (i *Issuer) sealer() (cipher.AEAD, error) {
	k := i.hasher.Derive("idempotency seal")
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func sealAAD(a Actor, idemKey string, id ID) []byte {
	h := sha256.Sum256([]byte(a.String() + "\x00" + idemKey + "\x00" + string(id)))
	return h[:]
}

func (i *Issuer) seal(a Actor, idemKey string, id ID, s Secret) ([]byte, error) {
	aead, err := i.sealer()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(i.rand, nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(s.text()), sealAAD(a, idemKey, id)), nil
}

func (i *Issuer) unseal(a Actor, idemKey string, id ID, sealed []byte) (Secret, error) {
	aead, err := i.sealer()
	if err != nil {
		return Secret{}, err
	}
	n := aead.NonceSize()
	if len(sealed) < n {
		return Secret{}, errors.New("idempotency record is corrupt")
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], sealAAD(a, idemKey, id))
	if err != nil {
		return Secret{}, errors.New("idempotency record cannot be opened (was the pepper changed?)")
	}
	return newSecret(string(plain)), nil
}
