package apikeytest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// rotateTests check Rotate and Idempotency.
func rotateTests() []test {
	return []test{
		{"StoresBoth", testRotateStoresBoth},
		{"WithoutIdempotency", func(t *testing.T, s apikey.Store) {
			old := rotateFixture(t, s)
			next := successor(old, "Next000000000000")
			if _, err := s.Rotate(t.Context(), next, retire(next.ID), nil); err != nil {
				t.Fatalf("Rotate = %v", err)
			}
			wantKey(t, s, retired(old, next.ID))
			wantKey(t, s, next)
		}},
		{"RetireErrorChangesNothing", func(t *testing.T, s apikey.Store) {
			old := rotateFixture(t, s)
			next := successor(old, "Next000000000000")
			idem := idempotency("admin", "retry-1", next.ID, time.Hour)
			_, err := s.Rotate(t.Context(), next, func(k *apikey.Key) error {
				k.ReplacedBy, k.Status = next.ID, apikey.StatusRevoked
				return errAbort
			}, &idem)
			if !errors.Is(err, errAbort) {
				t.Errorf("Rotate with failing retire = %v, want retire's error", err)
			}
			wantKey(t, s, old)
			wantNoKey(t, s, next.ID)
			wantNoIdempotency(t, s, idem)
		}},
		{"OldKeyErrNotFound", func(t *testing.T, s apikey.Store) {
			old := rotateFixture(t, s)
			next := successor(old, "Next000000000000")
			next.RotatedFrom = "Missing000000000"
			idem := idempotency("admin", "retry-1", next.ID, time.Hour)
			called := false
			_, err := s.Rotate(t.Context(), next, func(*apikey.Key) error { called = true; return nil }, &idem)
			if !errors.Is(err, apikey.ErrNotFound) {
				t.Errorf("Rotate of a missing key = %v, want ErrNotFound", err)
			}
			if called {
				t.Error("Rotate of a missing key called retire")
			}
			wantNoKey(t, s, next.ID)
			wantNoIdempotency(t, s, idem)
		}},
		{"NextIDErrConflict", func(t *testing.T, s apikey.Store) {
			old := rotateFixture(t, s)
			taken := newKey("Taken00000000000", old.Principal)
			mustCreateKeys(t, s, taken)
			next := successor(old, taken.ID)
			idem := idempotency("admin", "retry-1", next.ID, time.Hour)
			_, err := s.Rotate(t.Context(), next, retire(next.ID), &idem)
			if !errors.Is(err, apikey.ErrConflict) {
				t.Errorf("Rotate to an existing id = %v, want ErrConflict", err)
			}
			wantKey(t, s, old) // retire's change was rolled back
			wantKey(t, s, taken)
			wantNoIdempotency(t, s, idem)
		}},
		{"IdempotentReplay", testRotateReplay},
		{"IdempotencyKeysArePerActor", func(t *testing.T, s apikey.Store) {
			old := rotateFixture(t, s)
			first := successor(old, "First00000000000")
			a := idempotency("alice", "same-key", first.ID, time.Hour)
			if _, err := s.Rotate(t.Context(), first, retire(first.ID), &a); err != nil {
				t.Fatalf("Rotate = %v", err)
			}
			second := successor(first, "Second0000000000")
			b := idempotency("bob", "same-key", second.ID, time.Hour)
			if _, err := s.Rotate(t.Context(), second, retire(second.ID), &b); err != nil {
				t.Fatalf("Rotate by another actor with the same Idempotency-Key = %v, want nil", err)
			}
			wantKey(t, s, second)
			wantIdempotency(t, s, a)
			wantIdempotency(t, s, b)
		}},
		{"ExpiredIdempotency", testRotateExpired},
		{"ConcurrentRetries", testRotateConcurrent},
		{"IdempotencyErrNotFound", func(t *testing.T, s apikey.Store) {
			old := rotateFixture(t, s)
			next := successor(old, "Next000000000000")
			idem := idempotency("admin", "retry-1", next.ID, time.Hour)
			if _, err := s.Rotate(t.Context(), next, retire(next.ID), &idem); err != nil {
				t.Fatalf("Rotate = %v", err)
			}
			for _, q := range [][2]string{{"admin", "retry-2"}, {"other", "retry-1"}, {"", ""}} {
				if r, err := s.Idempotency(t.Context(), q[0], q[1]); !errors.Is(err, apikey.ErrNotFound) {
					t.Errorf("Idempotency(%q, %q) = %+v, %v; want ErrNotFound", q[0], q[1], r, err)
				}
			}
		}},
	}
}

func testRotateStoresBoth(t *testing.T, s apikey.Store) {
	old := rotateFixture(t, s)
	next := successor(old, "Next000000000000")
	// Limits other than the old key's, so a store that copied the old row
	// instead of writing next is caught.
	next.Limits = apikey.Limits{TokensPerDay: 41, CostPerDay: 99_000_000, CostPerMonth: 1}
	idem := idempotency("admin@example.com/AdminKeyId00001", "7f3c-retry", next.ID, 24*time.Hour)
	if _, err := s.Rotate(t.Context(), next, retire(next.ID), &idem); err != nil {
		t.Fatalf("Rotate = %v", err)
	}
	wantKey(t, s, retired(old, next.ID))
	wantKey(t, s, next)
	got := wantIdempotency(t, s, idem)
	checkUTC(t, "Idempotency", got.CreatedAt, got.ExpiresAt)
}

func testRotateReplay(t *testing.T, s apikey.Store) {
	old := rotateFixture(t, s)
	first := successor(old, "First00000000000")
	idem := idempotency("admin", "retry-1", first.ID, time.Hour)
	if _, err := s.Rotate(t.Context(), first, retire(first.ID), &idem); err != nil {
		t.Fatalf("Rotate = %v", err)
	}
	// The retry carries a freshly generated key and a new record, as a
	// client's retry reaching the issuer again would.
	for _, from := range []apikey.ID{old.ID, first.ID} {
		t.Run("From"+string(from), func(t *testing.T) {
			retry := successor(old, "Retry00000000000")
			retry.RotatedFrom = from
			again := idempotency("admin", "retry-1", retry.ID, time.Hour)
			called := false
			rec, err := s.Rotate(t.Context(), retry, func(*apikey.Key) error { called = true; return nil }, &again)
			if !errors.Is(err, apikey.ErrConflict) {
				t.Errorf("Rotate replay = %v, want ErrConflict", err)
			}
			if rec == nil {
				t.Fatal("Rotate replay returned no record; want the first one")
			}
			if d := diff(idem, *rec); d != "" {
				t.Errorf("Rotate replay returned another record (-want +got):\n%s", d)
			}
			if called {
				t.Error("Rotate replay called retire")
			}
			wantNoKey(t, s, retry.ID)
			wantKey(t, s, retired(old, first.ID))
			wantKey(t, s, first)
			wantIdempotency(t, s, idem)
		})
	}
}

func testRotateExpired(t *testing.T, s apikey.Store) {
	old := rotateFixture(t, s)
	first := successor(old, "First00000000000")
	stale := idempotency("admin", "retry-1", first.ID, -time.Minute)
	if _, err := s.Rotate(t.Context(), first, retire(first.ID), &stale); err != nil {
		t.Fatalf("Rotate = %v", err)
	}
	wantNoIdempotency(t, s, stale)

	// An expired record does not block the key's reuse.
	second := successor(first, "Second0000000000")
	fresh := idempotency("admin", "retry-1", second.ID, time.Hour)
	if _, err := s.Rotate(t.Context(), second, retire(second.ID), &fresh); err != nil {
		t.Fatalf("Rotate reusing an expired Idempotency-Key = %v, want nil", err)
	}
	wantKey(t, s, retired(first, second.ID))
	wantKey(t, s, second)
	wantIdempotency(t, s, fresh)
}

func testRotateConcurrent(t *testing.T, s apikey.Store) {
	old := rotateFixture(t, s)
	const n = 8
	var (
		wg   sync.WaitGroup
		recs [n]*apikey.Idempotency
		errs [n]error
		next [n]apikey.Key
	)
	for i := range n {
		next[i] = successor(old, apikey.ID(fmt.Sprintf("Next%012d", i)))
		idem := idempotency("admin", "retry-1", next[i].ID, time.Hour)
		wg.Go(func() { recs[i], errs[i] = s.Rotate(t.Context(), next[i], retire(next[i].ID), &idem) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("retries %d and %d both rotated the key", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no retry rotated the key: %v", errs)
	}
	for i, err := range errs {
		if i == winner {
			continue
		}
		if !errors.Is(err, apikey.ErrConflict) {
			t.Errorf("losing retry %d = %v, want ErrConflict", i, err)
		}
		if recs[i] == nil || recs[i].Result != next[winner].ID {
			t.Errorf("losing retry %d returned record %+v, want the winner's (result %s)", i, recs[i], next[winner].ID)
		}
		wantNoKey(t, s, next[i].ID)
	}
	wantKey(t, s, retired(old, next[winner].ID))
	wantKey(t, s, next[winner])
}

// rotateFixture stores an active key to rotate.
func rotateFixture(t *testing.T, s apikey.Store) apikey.Key {
	t.Helper()
	mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
	old := newKey("Old0000000000000", "alice@example.com")
	mustCreateKeys(t, s, old)
	return old
}

// successor returns the key that replaces old, as the issuer builds it.
func successor(old apikey.Key, id apikey.ID) apikey.Key {
	next := newKey(id, old.Principal)
	next.RotatedFrom = old.ID
	next.LastUsedAt = time.Time{}
	next.CreatedAt, next.UpdatedAt = at(time.Hour), at(time.Hour)
	return next
}

// retire marks a key as replaced by next and shortens its life, refusing a
// key that was already replaced, as the issuer does.
func retire(next apikey.ID) func(*apikey.Key) error {
	return func(k *apikey.Key) error {
		if k.ReplacedBy != "" {
			return fmt.Errorf("key %s already replaced by %s: %w", k.ID, k.ReplacedBy, apikey.ErrConflict)
		}
		k.ReplacedBy = next
		k.ExpiresAt = at(25 * time.Hour)
		k.UpdatedAt = at(time.Hour)
		return nil
	}
}

// retired returns k as retire(next) leaves it.
func retired(k apikey.Key, next apikey.ID) apikey.Key {
	if err := retire(next)(&k); err != nil {
		panic(err)
	}
	return k
}

// idempotency returns a record for a rotation to result that expires ttl
// from now, by the wall clock that the stores use.
func idempotency(actor, key string, result apikey.ID, ttl time.Duration) apikey.Idempotency {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return apikey.Idempotency{
		Actor:       actor,
		Key:         key,
		Fingerprint: "key.rotate Old0000000000000",
		Result:      result,
		Sealed:      []byte("\x00sealed\xffsecret"),
		CreatedAt:   now,
		ExpiresAt:   now.Add(ttl),
	}
}

// wantIdempotency checks that want is stored and returns what was read.
func wantIdempotency(t *testing.T, s apikey.Store, want apikey.Idempotency) apikey.Idempotency {
	t.Helper()
	got, err := s.Idempotency(t.Context(), want.Actor, want.Key)
	if err != nil {
		t.Fatalf("Idempotency(%q, %q) = %v", want.Actor, want.Key, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Idempotency(%q, %q) (-want +got):\n%s", want.Actor, want.Key, d)
	}
	return got
}

// wantNoIdempotency checks that no live record for r's actor and key is
// stored.
func wantNoIdempotency(t *testing.T, s apikey.Store, r apikey.Idempotency) {
	t.Helper()
	if got, err := s.Idempotency(t.Context(), r.Actor, r.Key); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Idempotency(%q, %q) = %+v, %v; want ErrNotFound", r.Actor, r.Key, got.Result, err)
	}
}
