package postgres_test

import (
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/apikey/apikeytest"
	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/testenv"
	"github.com/scopegate/scopegate/internal/usage"
	"github.com/scopegate/scopegate/internal/usage/usagetest"
)

// mustOpen opens the database at dsn and closes it when the test ends.
func mustOpen(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn, postgres.Options{Migrate: true})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return db
}

// small caps a test's pool: the suite runs many tests in parallel, each
// with a pool of its own, and the server's max_connections (100 by
// default) is shared with every other package's tests.
func small(dsn string) string {
	if strings.Contains(dsn, "://") {
		return dsn + "&pool_max_conns=4" // PostgresSchema's URL has a query
	}
	return dsn + " pool_max_conns=4"
}

func TestStore(t *testing.T) {
	testenv.PostgresDSN(t) // skip once here rather than in every subtest
	apikeytest.Run(t, func(t *testing.T) apikey.Store {
		return mustOpen(t, small(testenv.PostgresSchema(t)))
	})
}

func TestOpenTwice(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.PostgresSchema(t)
	first := mustOpen(t, dsn)
	p := apikey.Principal{ID: "alice@example.com", Kind: apikey.KindUser, Audience: apikey.AudienceInternal, Status: apikey.PrincipalActive}
	if err := first.CreatePrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	second := mustOpen(t, dsn)
	if _, err := second.Principal(ctx, p.ID); err != nil {
		t.Errorf("Principal after second Open = %v", err)
	}
}

func TestUsageStore(t *testing.T) {
	testenv.PostgresDSN(t) // skip once here rather than in every subtest
	usagetest.Run(t, func(t *testing.T) usage.Store {
		return postgres.NewUsageStore(mustOpen(t, small(testenv.PostgresSchema(t))))
	})
}
