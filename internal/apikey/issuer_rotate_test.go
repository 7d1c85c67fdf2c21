package apikey_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

// rotateEnv is an issuerEnv with one principal and one key to rotate.
func rotateEnv(t *testing.T, spec apikey.KeySpec) (*issuerEnv, apikey.Key, apikey.Secret) {
	t.Helper()
	e := newIssuerEnv(t)
	e.principal("bob", "ml", "chatbot", "code-generation")
	spec.Principal = "bob"
	if spec.Scopes == nil {
		spec.Scopes = []string{"chatbot:gpt-4o"}
	}
	k, s := e.key(root, spec)
	e.changes()
	return e, k, s
}

func (e *issuerEnv) rotate(a apikey.Actor, id apikey.ID, spec apikey.RotateSpec) (apikey.Key, apikey.Secret, error) {
	k, s, err := e.issuer.RotateKey(e.t.Context(), a, id, spec)
	if err == nil {
		e.remember(s)
	}
	return k, s, err
}

func TestRotateKey(t *testing.T) {
	e, old, oldSecret := rotateEnv(t, apikey.KeySpec{Name: "laptop", CIDRs: []string{"10.0.0.0/8"}, Limits: apikey.Limits{RequestsPerMinute: 5, CostPerDay: 2_000_000, CostPerMonth: 40_000_000}})
	e.clock.Advance(10 * 24 * time.Hour)
	now := e.clock.Now()

	next, secret, err := e.rotate(root, old.ID, apikey.RotateSpec{})
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	if next.ID == old.ID || secret.Equal(oldSecret) {
		t.Fatal("RotateKey returned the old key")
	}
	cred, err := apikey.Parse(secret.Reveal())
	if err != nil || cred.ID != next.ID {
		t.Fatalf("Parse(rotated key) = %s, %v; want id %s", cred.ID, err, next.ID)
	}
	// The new key has the old one's settings, a fresh lifetime of the same
	// length, and points back at it.
	want := old
	want.ID, want.Hash, want.Last4 = next.ID, e.hasher.Hash(secret), secret.Reveal()[apikey.KeyLen-4:]
	want.RotatedFrom = old.ID
	want.CreatedAt, want.UpdatedAt = now, now
	want.ExpiresAt = now.Add(apikey.DefaultTTL)
	if diff := cmp.Diff(want, next, cmpKeys); diff != "" {
		t.Errorf("rotated key mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, e.stored(next.ID), cmpKeys); diff != "" {
		t.Errorf("stored rotated key mismatch (-want +got):\n%s", diff)
	}
	// The old key is replaced and expires after the default grace of 24h.
	retired := e.stored(old.ID)
	if retired.ReplacedBy != next.ID || !retired.ExpiresAt.Equal(now.Add(24*time.Hour)) || retired.Status != apikey.StatusActive {
		t.Errorf("old key after rotation: replaced by %q, expires %v, status %s; want %s, %v, active",
			retired.ReplacedBy, retired.ExpiresAt, retired.Status, next.ID, now.Add(24*time.Hour))
	}

	for _, s := range []apikey.Secret{oldSecret, secret} {
		if err := e.verify(s, apikey.ClassData); err != nil {
			t.Errorf("Verify during grace = %v, want success for both keys", err)
		}
	}
	e.clock.Advance(24 * time.Hour)
	if err := e.verify(oldSecret, apikey.ClassData); !errors.Is(err, apikey.ErrKeyExpired) {
		t.Errorf("Verify(old key) after the grace = %v, want ErrKeyExpired", err)
	}
	if err := e.verify(secret, apikey.ClassData); err != nil {
		t.Errorf("Verify(new key) after the grace = %v, want success", err)
	}

	changes := e.changes()
	if len(changes) != 2 {
		t.Fatalf("RotateKey recorded %d changes, want 2 (rotate, create)", len(changes))
	}
	wantChange(t, changes[0], "key.rotate", root, string(old.ID), map[string][2]string{
		"expires_at":  {"2026-04-02T03:04:05Z", "2026-01-13T03:04:05Z"},
		"replaced_by": {"", string(next.ID)},
	})
	if f := fieldMap(changes[1]); changes[1].Action != "key.create" || changes[1].Target != string(next.ID) || f["rotated_from"].After != string(old.ID) {
		t.Errorf("second change = %s on %s rotated_from %q, want key.create on %s from %s", changes[1].Action, changes[1].Target, f["rotated_from"].After, next.ID, old.ID)
	}

	t.Run("RotateTwiceErrConflict", func(t *testing.T) {
		_, _, err := e.rotate(root, old.ID, apikey.RotateSpec{})
		if !errors.Is(err, apikey.ErrConflict) {
			t.Errorf("second RotateKey of the same key = %v, want ErrConflict", err)
		}
		if n := e.keyCount(); n != 2 {
			t.Errorf("store holds %d keys after a refused rotation, want 2", n)
		}
		if c := e.changes(); len(c) != 0 {
			t.Errorf("refused rotation recorded %v", c)
		}
	})
	t.Run("RotateTheReplacement", func(t *testing.T) {
		third, _, err := e.rotate(root, next.ID, apikey.RotateSpec{})
		if err != nil || third.RotatedFrom != next.ID {
			t.Errorf("RotateKey(replacement) = rotated from %q, %v; want %s", third.RotatedFrom, err, next.ID)
		}
		e.changes()
	})
}

func TestRotateGrace(t *testing.T) {
	tests := []struct {
		name string
		// ttl is the old key's lifetime; grace the request's (nil: default).
		ttl         time.Duration
		grace       *time.Duration
		wantOldLeft time.Duration // from the rotation
	}{
		{"Default24h", 0, nil, 24 * time.Hour},
		{"Custom", 0, new(time.Hour), time.Hour},
		{"Zero", 0, new(time.Duration(0)), 0},
		{"Max", 0, new(apikey.MaxGrace), apikey.MaxGrace},
		{"GraceNeverExtends", 2 * time.Hour, new(48 * time.Hour), 2*time.Hour - 30*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, old, oldSecret := rotateEnv(t, apikey.KeySpec{TTL: tt.ttl})
			e.clock.Advance(30 * time.Minute)
			now := e.clock.Now()
			next, secret, err := e.rotate(root, old.ID, apikey.RotateSpec{Grace: tt.grace})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.stored(old.ID).ExpiresAt; !got.Equal(now.Add(tt.wantOldLeft)) {
				t.Errorf("old key expires at %v, want %v", got, now.Add(tt.wantOldLeft))
			}
			if err := e.verify(secret, apikey.ClassData); err != nil {
				t.Errorf("Verify(new key) = %v, want success", err)
			}
			oldErr := e.verify(oldSecret, apikey.ClassData)
			if tt.wantOldLeft == 0 && !errors.Is(oldErr, apikey.ErrKeyExpired) {
				t.Errorf("Verify(old key) right after a rotation with no grace = %v, want ErrKeyExpired", oldErr)
			}
			if tt.wantOldLeft > 0 && oldErr != nil {
				t.Errorf("Verify(old key) during its grace = %v, want success", oldErr)
			}
			life := old.ExpiresAt.Sub(old.CreatedAt)
			if got := next.ExpiresAt.Sub(next.CreatedAt); got != life {
				t.Errorf("new key lifetime = %v, want the old key's %v", got, life)
			}
		})
	}
}

func TestRotateNewKeyLifetime(t *testing.T) {
	tests := []struct {
		name     string
		spec     apikey.KeySpec
		wantLife time.Duration
	}{
		{"TTL20m", apikey.KeySpec{TTL: 20 * time.Minute}, 20 * time.Minute},
		{"Default", apikey.KeySpec{}, apikey.DefaultTTL},
		{"FromNotBefore", apikey.KeySpec{NotBefore: t0.Add(time.Hour), TTL: 3 * time.Hour}, 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, old, _ := rotateEnv(t, tt.spec)
			e.clock.Advance(5 * time.Minute)
			next, _, err := e.rotate(root, old.ID, apikey.RotateSpec{})
			if err != nil {
				t.Fatal(err)
			}
			if want := e.clock.Now().Add(tt.wantLife); !next.ExpiresAt.Equal(want) || !next.NotBefore.IsZero() {
				t.Errorf("rotated key lifetime = [%v, %v), want [now, %v)", next.NotBefore, next.ExpiresAt, want)
			}
		})
	}
}

func TestRotateRefused(t *testing.T) {
	t.Run("Suspended", func(t *testing.T) {
		e, old, _ := rotateEnv(t, apikey.KeySpec{})
		if _, err := e.issuer.SuspendKey(t.Context(), root, old.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.rotate(root, old.ID, apikey.RotateSpec{}); !errors.Is(err, apikey.ErrConflict) {
			t.Errorf("RotateKey(suspended) = %v, want ErrConflict", err)
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		e, old, _ := rotateEnv(t, apikey.KeySpec{})
		if _, err := e.issuer.RevokeKey(t.Context(), root, old.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.rotate(root, old.ID, apikey.RotateSpec{}); !errors.Is(err, apikey.ErrConflict) {
			t.Errorf("RotateKey(revoked) = %v, want ErrConflict", err)
		}
	})
	t.Run("UnknownKey", func(t *testing.T) {
		e, _, _ := rotateEnv(t, apikey.KeySpec{})
		if _, _, err := e.rotate(root, "0000000000000000", apikey.RotateSpec{}); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("RotateKey(unknown) = %v, want ErrNotFound", err)
		}
	})
	for name, grace := range map[string]time.Duration{"NegativeGrace": -time.Second, "GraceTooLong": apikey.MaxGrace + time.Second} {
		t.Run(name, func(t *testing.T) {
			e, old, _ := rotateEnv(t, apikey.KeySpec{})
			_, _, err := e.rotate(root, old.ID, apikey.RotateSpec{Grace: &grace})
			wantValidation(t, err, "grace")
			if e.stored(old.ID).ReplacedBy != "" || e.keyCount() != 1 {
				t.Error("a refused rotation changed the store")
			}
		})
	}
}

func TestRotateIdempotent(t *testing.T) {
	e, old, _ := rotateEnv(t, apikey.KeySpec{})
	first, firstSecret, err := e.rotate(root, old.ID, apikey.RotateSpec{IdempotencyKey: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	if c := e.changes(); len(c) != 2 {
		t.Fatalf("first rotation recorded %d changes, want 2", len(c))
	}

	e.clock.Advance(time.Hour)
	again, againSecret, err := e.rotate(root, old.ID, apikey.RotateSpec{IdempotencyKey: "req-1"})
	if err != nil {
		t.Fatalf("retried RotateKey = %v, want the first answer", err)
	}
	if again.ID != first.ID || !againSecret.Equal(firstSecret) {
		t.Errorf("retried RotateKey = key %s, want %s with the same secret", again.ID, first.ID)
	}
	if diff := cmp.Diff(first, again, cmpKeys); diff != "" {
		t.Errorf("retried RotateKey record mismatch (-first +retry):\n%s", diff)
	}
	if n := e.keyCount(); n != 2 {
		t.Errorf("store holds %d keys after a retried rotation, want 2", n)
	}
	if c := e.changes(); len(c) != 0 {
		t.Errorf("retried rotation recorded %v", c)
	}
	if err := e.verify(againSecret, apikey.ClassData); err != nil {
		t.Errorf("Verify(replayed key) = %v, want success", err)
	}

	t.Run("SameIdempotencyKeyOtherKeyErrConflict", func(t *testing.T) {
		other, _ := e.key(root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}})
		e.changes()
		_, _, err := e.rotate(root, other.ID, apikey.RotateSpec{IdempotencyKey: "req-1"})
		if !errors.Is(err, apikey.ErrConflict) {
			t.Errorf("RotateKey(other key, same Idempotency-Key) = %v, want ErrConflict", err)
		}
		if e.stored(other.ID).ReplacedBy != "" {
			t.Error("the refused rotation rotated the other key")
		}
	})
	t.Run("SameIdempotencyKeyOtherGraceErrConflict", func(t *testing.T) {
		grace := time.Hour
		_, s, err := e.rotate(root, old.ID, apikey.RotateSpec{IdempotencyKey: "req-1", Grace: &grace})
		if !errors.Is(err, apikey.ErrConflict) || !s.IsZero() {
			t.Errorf("RotateKey(same key and Idempotency-Key, other grace) = %v, want ErrConflict and no key", err)
		}
	})
	t.Run("OtherActorDoesNotGetTheAnswer", func(t *testing.T) {
		root2 := apikey.Actor{Principal: "root2", KeyID: "ROOT2KEY00000000", Roles: scope.MustParseSet("admin")}
		_, s, err := e.rotate(root2, old.ID, apikey.RotateSpec{IdempotencyKey: "req-1"})
		if !errors.Is(err, apikey.ErrConflict) || !s.IsZero() {
			t.Errorf("another actor's RotateKey with the same Idempotency-Key = %v (secret returned: %v), want ErrConflict and no key", err, !s.IsZero())
		}
	})
	t.Run("RecordExpires", func(t *testing.T) {
		e.clock.Advance(24 * time.Hour)
		_, _, err := e.rotate(root, old.ID, apikey.RotateSpec{IdempotencyKey: "req-1"})
		if !errors.Is(err, apikey.ErrConflict) {
			t.Errorf("RotateKey after the idempotency record expired = %v, want ErrConflict (already rotated)", err)
		}
	})
}

func TestRotateIdempotencyKeyTooLong(t *testing.T) {
	e, old, _ := rotateEnv(t, apikey.KeySpec{})
	long := string(make([]byte, 256))
	_, _, err := e.rotate(root, old.ID, apikey.RotateSpec{IdempotencyKey: long})
	wantValidation(t, err, "Idempotency-Key")
}

// TestRotateIdempotentConcurrent sends the same rotation twice at once, as
// a client that timed out and retried might: one creates the key, and both
// answer with it.
func TestRotateIdempotentConcurrent(t *testing.T) {
	e, old, _ := rotateEnv(t, apikey.KeySpec{})
	type result struct {
		k   apikey.Key
		s   apikey.Secret
		err error
	}
	results := make([]result, 4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			k, s, err := e.rotate(root, old.ID, apikey.RotateSpec{IdempotencyKey: "retry-me"})
			results[i] = result{k, s, err}
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("concurrent RotateKey %d = %v, want success", i, r.err)
		}
		if r.k.ID != results[0].k.ID || !r.s.Equal(results[0].s) {
			t.Errorf("concurrent RotateKey %d answered key %s, want %s with the same secret", i, r.k.ID, results[0].k.ID)
		}
	}
	if n := e.keyCount(); n != 2 {
		t.Errorf("store holds %d keys after concurrent retries, want 2", n)
	}
	if c := e.changes(); len(c) != 2 {
		t.Errorf("concurrent retries recorded %d changes, want 2 (one rotation)", len(c))
	}
}

// TestRotateReplayAfterPepperChange checks that a stored one-time answer
// sealed under one pepper is not opened under another, and that the retry
// then fails rather than minting a second key.
func TestRotateReplayAfterPepperChange(t *testing.T) {
	e, old, _ := rotateEnv(t, apikey.KeySpec{})
	if _, _, err := e.rotate(root, old.ID, apikey.RotateSpec{IdempotencyKey: "req-1"}); err != nil {
		t.Fatal(err)
	}
	e.changes()
	otherHasher, err := apikey.NewHasher(bytes.Repeat([]byte{8}, apikey.MinPepperLen))
	if err != nil {
		t.Fatal(err)
	}
	other := apikey.NewIssuer(apikey.IssuerConfig{Store: e.db, Hasher: otherHasher, Recorder: e.rec, Now: e.clock.Now})
	_, s, err := other.RotateKey(t.Context(), root, old.ID, apikey.RotateSpec{IdempotencyKey: "req-1"})
	if err == nil || !strings.Contains(err.Error(), "pepper") || !s.IsZero() {
		t.Errorf("replay under another pepper = %v (secret returned: %v), want an error naming the pepper", err, !s.IsZero())
	}
	if n := e.keyCount(); n != 2 {
		t.Errorf("store holds %d keys, want 2", n)
	}
}
