package apikey_test

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// BenchmarkVerifySQLite measures the check of a valid key with the real
// embedded store behind it: two indexed SQLite reads (key, principal) plus
// the work of BenchmarkVerify. It is the cost without a key cache.
func BenchmarkVerifySQLite(b *testing.B) {
	ctx := b.Context()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	hasher, err := apikey.NewHasher(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	issuer := apikey.NewIssuer(apikey.IssuerConfig{Store: db, Hasher: hasher, Now: func() time.Time { return now }})
	if _, err := issuer.CreatePrincipal(ctx, apikey.SystemActor, apikey.PrincipalSpec{ID: "bench", Scopes: []string{"chatbot"}}); err != nil {
		b.Fatal(err)
	}
	_, secret, err := issuer.CreateKey(ctx, apikey.SystemActor, apikey.KeySpec{Principal: "bench", Scopes: []string{"chatbot"}})
	if err != nil {
		b.Fatal(err)
	}
	v := apikey.NewVerifier(db, hasher, func() time.Time { return now })
	key, addr := secret.Reveal(), netip.MustParseAddr("10.1.2.3")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, key, apikey.ClassData, addr); err != nil {
			b.Fatal(err)
		}
	}
}
