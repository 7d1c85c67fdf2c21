package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/apikey/apikeytest"
	"github.com/scopegate/scopegate/internal/store/sqlite"
	"github.com/scopegate/scopegate/internal/usage"
	"github.com/scopegate/scopegate/internal/usage/usagetest"
)

// mustOpen opens a database in the test's temporary directory and closes it
// when the test ends.
func mustOpen(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	apikeytest.Run(t, func(t *testing.T) apikey.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "scopegate.db"))
	})
}

func TestOpenTwice(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "scopegate.db")
	first := mustOpen(t, path)
	p := apikey.Principal{ID: "alice@example.com", Kind: apikey.KindUser, Audience: apikey.AudienceInternal, Status: apikey.PrincipalActive}
	if err := first.CreatePrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	// A second Open of the same file, while the first is still open, and a
	// third after both are closed, find the schema current and the data
	// intact.
	second := mustOpen(t, path)
	if _, err := second.Principal(ctx, p.ID); err != nil {
		t.Errorf("Principal after second Open = %v", err)
	}
	first.Close()
	second.Close()
	third := mustOpen(t, path)
	if _, err := third.Principal(ctx, p.ID); err != nil {
		t.Errorf("Principal after reopening = %v", err)
	}
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scopegate.db")
	db := mustOpen(t, path)
	p := apikey.Principal{ID: "alice@example.com", Kind: apikey.KindUser, Audience: apikey.AudienceInternal, Status: apikey.PrincipalActive}
	if err := db.CreatePrincipal(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", filepath.Base(name), mode)
		}
	}
}

func TestOpenRefusesNonFiles(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if db, err := sqlite.Open(context.Background(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q) = nil error, want an error", path)
		}
	}
}

func TestUsageStore(t *testing.T) {
	usagetest.Run(t, func(t *testing.T) usage.Store {
		return sqlite.NewUsageStore(mustOpen(t, filepath.Join(t.TempDir(), "scopegate.db")))
	})
}
