package apikeytest

import (
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// touchTests check TouchKeys.
func touchTests() []test {
	return []test{
		{"Batch", func(t *testing.T, s apikey.Store) {
			never, old, untouched := touchFixture(t, s)
			err := s.TouchKeys(t.Context(), map[apikey.ID]time.Time{
				never.ID: at(time.Hour),
				old.ID:   at(2 * time.Hour),
			})
			if err != nil {
				t.Fatalf("TouchKeys = %v", err)
			}
			never.LastUsedAt, old.LastUsedAt = at(time.Hour), at(2*time.Hour)
			// Only last_used_at changes: not updated_at, which records
			// administrative changes.
			wantKey(t, s, never)
			wantKey(t, s, old)
			wantKey(t, s, untouched)
		}},
		{"NeverBackwards", func(t *testing.T, s apikey.Store) {
			never, old, _ := touchFixture(t, s)
			// old was last used at(10m): an earlier or equal time leaves it,
			// while the same batch still moves never forward.
			for _, tm := range []time.Time{at(5 * time.Minute), at(10 * time.Minute), {}} {
				if err := s.TouchKeys(t.Context(), map[apikey.ID]time.Time{old.ID: tm, never.ID: at(time.Minute)}); err != nil {
					t.Fatalf("TouchKeys = %v", err)
				}
				wantKey(t, s, old)
			}
			never.LastUsedAt = at(time.Minute)
			wantKey(t, s, never)
			if err := s.TouchKeys(t.Context(), map[apikey.ID]time.Time{old.ID: at(11 * time.Minute)}); err != nil {
				t.Fatalf("TouchKeys = %v", err)
			}
			old.LastUsedAt = at(11 * time.Minute)
			wantKey(t, s, old)
		}},
		{"UnknownIDsIgnored", func(t *testing.T, s apikey.Store) {
			never, _, _ := touchFixture(t, s)
			err := s.TouchKeys(t.Context(), map[apikey.ID]time.Time{
				"Unknown000000000": at(time.Hour),
				never.ID:           at(time.Hour),
			})
			if err != nil {
				t.Fatalf("TouchKeys with an unknown id = %v, want nil", err)
			}
			never.LastUsedAt = at(time.Hour)
			wantKey(t, s, never)
			wantNoKey(t, s, "Unknown000000000")
		}},
		{"Empty", func(t *testing.T, s apikey.Store) {
			never, old, untouched := touchFixture(t, s)
			for _, used := range []map[apikey.ID]time.Time{nil, {}} {
				if err := s.TouchKeys(t.Context(), used); err != nil {
					t.Errorf("TouchKeys(%v) = %v, want nil", used, err)
				}
			}
			wantKey(t, s, never)
			wantKey(t, s, old)
			wantKey(t, s, untouched)
		}},
		{"ManyKeys", func(t *testing.T, s apikey.Store) {
			mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
			used := make(map[apikey.ID]time.Time)
			var keys []apikey.Key
			for i := range 50 {
				k := newKey(apikey.ID(marker(i)), "alice@example.com")
				k.LastUsedAt = time.Time{}
				keys = append(keys, k)
				used[k.ID] = at(time.Duration(i) * time.Second)
			}
			mustCreateKeys(t, s, keys...)
			if err := s.TouchKeys(t.Context(), used); err != nil {
				t.Fatalf("TouchKeys(50 keys) = %v", err)
			}
			for _, k := range keys {
				k.LastUsedAt = used[k.ID]
				wantKey(t, s, k)
			}
		}},
	}
}

// touchFixture stores three keys: one never used, one last used at(10m),
// and one that tests do not touch.
func touchFixture(t *testing.T, s apikey.Store) (never, old, untouched apikey.Key) {
	t.Helper()
	mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
	never, old, untouched = newKey("Never00000000000", "alice@example.com"),
		newKey("Old0000000000000", "alice@example.com"), newKey("Untouched0000000", "alice@example.com")
	never.LastUsedAt = time.Time{}
	old.LastUsedAt = at(10 * time.Minute)
	mustCreateKeys(t, s, never, old, untouched)
	return never, old, untouched
}
