package apikeytest

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

// updateTests check UpdateKey and UpdatePrincipal.
func updateTests() []test {
	return []test{
		{"KeyStored", testUpdateKeyStored},
		{"KeyFnErrorAborts", testUpdateKeyAborts},
		{"KeyErrNotFound", func(t *testing.T, s apikey.Store) {
			mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
			called := false
			_, err := s.UpdateKey(t.Context(), "Missing000000000", func(*apikey.Key) error { called = true; return nil })
			if !errors.Is(err, apikey.ErrNotFound) {
				t.Errorf("UpdateKey(missing) = %v, want ErrNotFound", err)
			}
			if called {
				t.Error("UpdateKey(missing) called fn")
			}
			wantNoKey(t, s, "Missing000000000")
		}},
		{"KeyIDAndHashCannotChange", testUpdateKeyFixedFields},
		{"KeyConcurrent", testUpdateKeyConcurrent},
		{"PrincipalStored", testUpdatePrincipalStored},
		{"PrincipalFnErrorAborts", func(t *testing.T, s apikey.Store) {
			orig := newPrincipal("alice@example.com", "red")
			mustCreatePrincipals(t, s, orig)
			_, err := s.UpdatePrincipal(t.Context(), orig.ID, func(p *apikey.Principal) error {
				p.Status, p.Team, p.Ceiling = apikey.PrincipalDisabled, "blue", scope.Set{}
				return errAbort
			})
			if !errors.Is(err, errAbort) {
				t.Errorf("UpdatePrincipal with failing fn = %v, want fn's error", err)
			}
			if d := diff(orig, mustPrincipal(t, s, orig.ID)); d != "" {
				t.Errorf("an aborted update changed the principal (-want +got):\n%s", d)
			}
		}},
		{"PrincipalErrNotFound", func(t *testing.T, s apikey.Store) {
			called := false
			_, err := s.UpdatePrincipal(t.Context(), "nobody", func(*apikey.Principal) error { called = true; return nil })
			if !errors.Is(err, apikey.ErrNotFound) {
				t.Errorf("UpdatePrincipal(missing) = %v, want ErrNotFound", err)
			}
			if called {
				t.Error("UpdatePrincipal(missing) called fn")
			}
		}},
		{"PrincipalConcurrent", testUpdatePrincipalConcurrent},
	}
}

func testUpdateKeyStored(t *testing.T, s apikey.Store) {
	mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
	orig, other := newKey("Target0000000000", "alice@example.com"), newKey("Other00000000000", "alice@example.com")
	mustCreateKeys(t, s, orig, other)

	// A time finer than a microsecond: the store may round it, but what
	// UpdateKey returns must be what it stored.
	fine := at(5*time.Minute + 789*time.Nanosecond)
	change := func(k *apikey.Key) {
		k.Name = "renamed"
		k.Scopes = scope.MustParseSet("chatbot")
		k.Status = apikey.StatusRevoked
		k.ExpiresAt = at(48 * time.Hour)
		k.CIDRs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		k.Limits = apikey.Limits{RequestsPerMinute: 7, TokensPerDay: 9, CostPerMonth: 1}
		k.RevokedAt, k.RevokedBy = at(6*time.Minute), "security@example.com"
		k.UpdatedAt, k.UpdatedBy = fine, "security@example.com"
	}
	got, err := s.UpdateKey(t.Context(), orig.ID, func(k *apikey.Key) error {
		if d := diff(orig, *k); d != "" {
			t.Errorf("fn got a key other than the stored one (-want +got):\n%s", d)
		}
		change(k)
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateKey = %v", err)
	}
	stored := mustKey(t, s, orig.ID)
	if d := diff(stored, got); d != "" {
		t.Errorf("UpdateKey returned a key other than the stored one (-stored +returned):\n%s", d)
	}
	if gap := got.UpdatedAt.Sub(fine).Abs(); gap >= time.Microsecond {
		t.Errorf("UpdatedAt stored as %v, %v away from %v", got.UpdatedAt, gap, fine)
	}
	want := orig
	change(&want)
	want.UpdatedAt = got.UpdatedAt // checked above
	if d := diff(want, stored); d != "" {
		t.Errorf("stored key after UpdateKey (-want +got):\n%s", d)
	}
	checkUTC(t, "UpdateKey result", keyTimes(got)...)
	wantKey(t, s, other)
}

func testUpdateKeyAborts(t *testing.T, s apikey.Store) {
	mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
	orig := newKey("Target0000000000", "alice@example.com")
	mustCreateKeys(t, s, orig)
	got, err := s.UpdateKey(t.Context(), orig.ID, func(k *apikey.Key) error {
		k.Name, k.Status, k.Scopes = "changed", apikey.StatusRevoked, scope.Set{}
		return fmt.Errorf("wrapped: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Errorf("UpdateKey with failing fn = %v, want fn's error", err)
	}
	if got.ID != "" {
		t.Errorf("UpdateKey with failing fn returned key %s, want the zero Key", got.ID)
	}
	wantKey(t, s, orig)
}

func testUpdateKeyFixedFields(t *testing.T, s apikey.Store) {
	mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
	orig := newKey("Target0000000000", "alice@example.com")
	mustCreateKeys(t, s, orig)
	tests := []struct {
		name   string
		change func(*apikey.Key)
	}{
		{"ID", func(k *apikey.Key) { k.ID = "Stolen0000000000"; k.Name = "moved" }},
		{"Hash", func(k *apikey.Key) { k.Hash[0] ^= 0xff; k.Name = "rehashed" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateKey(t.Context(), orig.ID, func(k *apikey.Key) error { tt.change(k); return nil })
			if err == nil {
				t.Errorf("UpdateKey that changes the %s = nil, want an error", tt.name)
			}
			wantKey(t, s, orig)
			wantNoKey(t, s, "Stolen0000000000")
		})
	}
}

// concurrency is how many goroutines update one record at once.
const concurrency = 20

func testUpdateKeyConcurrent(t *testing.T, s apikey.Store) {
	mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
	k := newKey("Target0000000000", "alice@example.com")
	k.Name = ""
	mustCreateKeys(t, s, k)
	var wg sync.WaitGroup
	errs := make([]error, concurrency)
	for i := range concurrency {
		wg.Go(func() {
			_, errs[i] = s.UpdateKey(t.Context(), k.ID, func(k *apikey.Key) error {
				k.Name += marker(i)
				return nil
			})
		})
	}
	wg.Wait()
	checkMarkers(t, errs, mustKey(t, s, k.ID).Name)
}

func testUpdatePrincipalStored(t *testing.T, s apikey.Store) {
	orig, other := newPrincipal("alice@example.com", "red"), newPrincipal("bob@example.com", "red")
	mustCreatePrincipals(t, s, orig, other)
	fine := at(5*time.Minute + 789*time.Nanosecond)
	change := func(p *apikey.Principal) {
		p.Kind, p.Audience, p.Team = apikey.KindUser, apikey.AudienceInternal, "blue"
		p.Ceiling = scope.MustParseSet("chatbot:gpt-4o*")
		p.Status = apikey.PrincipalDisabled
		p.Limits = apikey.Limits{Concurrent: 11, CostPerDay: 3_000_000}
		p.UpdatedAt, p.UpdatedBy = fine, "root@example.com"
	}
	got, err := s.UpdatePrincipal(t.Context(), orig.ID, func(p *apikey.Principal) error {
		if d := diff(orig, *p); d != "" {
			t.Errorf("fn got a principal other than the stored one (-want +got):\n%s", d)
		}
		change(p)
		return nil
	})
	if err != nil {
		t.Fatalf("UpdatePrincipal = %v", err)
	}
	stored := mustPrincipal(t, s, orig.ID)
	if d := diff(stored, got); d != "" {
		t.Errorf("UpdatePrincipal returned a principal other than the stored one (-stored +returned):\n%s", d)
	}
	if gap := got.UpdatedAt.Sub(fine).Abs(); gap >= time.Microsecond {
		t.Errorf("UpdatedAt stored as %v, %v away from %v", got.UpdatedAt, gap, fine)
	}
	want := orig
	change(&want)
	want.UpdatedAt = got.UpdatedAt
	if d := diff(want, stored); d != "" {
		t.Errorf("stored principal after UpdatePrincipal (-want +got):\n%s", d)
	}
	checkUTC(t, "UpdatePrincipal result", got.CreatedAt, got.UpdatedAt)
	if d := diff(other, mustPrincipal(t, s, other.ID)); d != "" {
		t.Errorf("UpdatePrincipal changed another principal (-want +got):\n%s", d)
	}
}

func testUpdatePrincipalConcurrent(t *testing.T, s apikey.Store) {
	p := newPrincipal("alice@example.com", "")
	mustCreatePrincipals(t, s, p)
	var wg sync.WaitGroup
	errs := make([]error, concurrency)
	for i := range concurrency {
		wg.Go(func() {
			_, errs[i] = s.UpdatePrincipal(t.Context(), p.ID, func(p *apikey.Principal) error {
				p.Team += marker(i)
				return nil
			})
		})
	}
	wg.Wait()
	checkMarkers(t, errs, mustPrincipal(t, s, p.ID).Team)
}

func marker(i int) string { return fmt.Sprintf("<%02d>", i) }

// checkMarkers checks that every concurrent update succeeded and left its
// marker in got exactly once: none was lost or applied twice.
func checkMarkers(t *testing.T, errs []error, got string) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d = %v", i, err)
		}
	}
	for i := range len(errs) {
		if n := strings.Count(got, marker(i)); n != 1 {
			t.Errorf("marker of update %d appears %d times in %q, want once", i, n, got)
		}
	}
	if want := len(errs) * len(marker(0)); len(got) != want {
		t.Errorf("after %d concurrent updates the field is %d bytes, want %d: %q", len(errs), len(got), want, got)
	}
}
