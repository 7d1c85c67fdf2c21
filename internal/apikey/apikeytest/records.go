package apikeytest

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

// principalTests check creating and reading principals.
func principalTests() []test {
	return []test{
		{"RoundTrip", testPrincipalRoundTrip},
		{"ErrConflict", func(t *testing.T, s apikey.Store) {
			first := newPrincipal("alice@example.com", "red")
			mustCreatePrincipals(t, s, first)
			second := newPrincipal("alice@example.com", "blue")
			second.Kind = apikey.KindUser
			if err := s.CreatePrincipal(t.Context(), second); !errors.Is(err, apikey.ErrConflict) {
				t.Errorf("CreatePrincipal(existing id) = %v, want ErrConflict", err)
			}
			if d := diff(first, mustPrincipal(t, s, first.ID)); d != "" {
				t.Errorf("a refused create changed the stored principal (-want +got):\n%s", d)
			}
		}},
		{"ErrNotFound", func(t *testing.T, s apikey.Store) {
			mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
			for _, id := range []apikey.PrincipalID{"bob@example.com", "ALICE@example.com", "alice@example.co"} {
				if p, err := s.Principal(t.Context(), id); !errors.Is(err, apikey.ErrNotFound) {
					t.Errorf("Principal(%q) = %v, %v; want ErrNotFound", id, p.ID, err)
				}
			}
		}},
	}
}

func testPrincipalRoundTrip(t *testing.T, s apikey.Store) {
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name string
		p    apikey.Principal
	}{
		{"AllFields", newPrincipal("svc-billing", "payments")},
		{"ZeroValues", apikey.Principal{ID: "minimal", Kind: apikey.KindUser, Audience: apikey.AudienceInternal,
			Status: apikey.PrincipalDisabled}},
		{"AdminRolesInCeiling", func() apikey.Principal {
			p := newPrincipal("root@example.com", "")
			p.Ceiling = scope.NewSet(apikey.RoleAdmin, apikey.RoleKeysTeam, scope.MustParse("chatbot:*"))
			return p
		}()},
		{"TimesOutsideUTC", func() apikey.Principal {
			p := newPrincipal("carol@example.com", "red")
			p.CreatedAt, p.UpdatedAt = at(0).In(ist), at(time.Second).In(ist)
			return p
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustCreatePrincipals(t, s, tt.p)
			got := mustPrincipal(t, s, tt.p.ID)
			if d := diff(tt.p, got); d != "" {
				t.Errorf("Principal(%s) after CreatePrincipal (-want +got):\n%s", tt.p.ID, d)
			}
			checkUTC(t, "Principal("+string(tt.p.ID)+")", got.CreatedAt, got.UpdatedAt)
		})
	}
}

// keyTests check creating and reading keys.
func keyTests() []test {
	return []test{
		{"RoundTrip", testKeyRoundTrip},
		{"ErrConflict", func(t *testing.T, s apikey.Store) {
			mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"), newPrincipal("bob@example.com", "blue"))
			first := newKey("AAAAAAAAAAAAAAAA", "alice@example.com")
			mustCreateKeys(t, s, first)
			second := newKey(first.ID, "bob@example.com")
			second.Name = "impostor"
			if err := s.CreateKey(t.Context(), second); !errors.Is(err, apikey.ErrConflict) {
				t.Errorf("CreateKey(existing id) = %v, want ErrConflict", err)
			}
			wantKey(t, s, first)
		}},
		{"ErrNotFound", func(t *testing.T, s apikey.Store) {
			mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
			mustCreateKeys(t, s, newKey("AAAAAAAAAAAAAAAA", "alice@example.com"))
			for _, id := range []apikey.ID{"BBBBBBBBBBBBBBBB", "aaaaaaaaaaaaaaaa", "AAAAAAAAAAAAAAA"} {
				wantNoKey(t, s, id)
			}
		}},
		{"UnknownPrincipal", func(t *testing.T, s apikey.Store) {
			// A key always belongs to a stored principal; the stores keep
			// that as a foreign key and report its absence as not found.
			mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
			k := newKey("AAAAAAAAAAAAAAAA", "mallory@example.com")
			if err := s.CreateKey(t.Context(), k); !errors.Is(err, apikey.ErrNotFound) {
				t.Errorf("CreateKey(key of unknown principal) = %v, want ErrNotFound", err)
			}
			wantNoKey(t, s, k.ID)
		}},
	}
}

func testKeyRoundTrip(t *testing.T, s apikey.Store) {
	mustCreatePrincipals(t, s, newPrincipal("alice@example.com", "red"))
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name string
		k    apikey.Key
	}{
		{"AllFields", func() apikey.Key {
			k := newKey("Full0000000000Aa", "alice@example.com")
			k.Status = apikey.StatusRevoked
			k.RotatedFrom, k.ReplacedBy = "Older00000000000", "Newer00000000000"
			k.RevokedAt, k.RevokedBy = at(4*time.Minute), "security@example.com/AdminKeyId00003"
			return k
		}()},
		{"ZeroValues", apikey.Key{ID: "Zero000000000000", Class: apikey.ClassData, Principal: "alice@example.com",
			Env: apikey.EnvLive, Status: apikey.StatusSuspended}},
		{"AdminKey", func() apikey.Key {
			k := newKey("Admin00000000000", "alice@example.com")
			k.Class, k.Env = apikey.ClassAdmin, apikey.EnvLive
			k.Scopes = scope.NewSet(apikey.RoleKeysSelf)
			return k
		}()},
		{"UnmaskedAndMappedCIDRs", func() apikey.Key {
			// Prefixes are kept as given: host bits and 4in6 forms too.
			k := newKey("Cidr000000000000", "alice@example.com")
			k.CIDRs = []netip.Prefix{
				netip.MustParsePrefix("10.1.2.3/8"),
				netip.MustParsePrefix("::ffff:192.0.2.1/128"),
				netip.MustParsePrefix("0.0.0.0/0"),
				netip.MustParsePrefix("fe80::1/64"),
			}
			return k
		}()},
		{"TimesOutsideUTC", func() apikey.Key {
			k := newKey("Zone000000000000", "alice@example.com")
			k.NotBefore, k.ExpiresAt, k.LastUsedAt = k.NotBefore.In(ist), k.ExpiresAt.In(ist), k.LastUsedAt.In(ist)
			k.CreatedAt, k.UpdatedAt, k.RevokedAt = k.CreatedAt.In(ist), k.UpdatedAt.In(ist), at(time.Hour).In(ist)
			return k
		}()},
		{"FarTimes", func() apikey.Key {
			k := newKey("Far0000000000000", "alice@example.com")
			k.NotBefore = time.Date(1970, time.January, 1, 0, 0, 0, 1000, time.UTC)
			k.ExpiresAt = time.Date(9999, time.December, 31, 23, 59, 59, 999_999_000, time.UTC)
			return k
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustCreateKeys(t, s, tt.k)
			got := mustKey(t, s, tt.k.ID)
			if d := diff(tt.k, got); d != "" {
				t.Errorf("Key(%s) after CreateKey (-want +got):\n%s", tt.k.ID, d)
			}
			checkUTC(t, "Key("+string(tt.k.ID)+")", keyTimes(got)...)
		})
	}
}
