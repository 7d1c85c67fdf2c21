package postgres

import (
	"errors"
	"sync"
	"testing"

	"github.com/scopegate/scopegate/internal/testenv"
)

func TestMigrationVersions(t *testing.T) {
	for i, m := range migrations() {
		if m.version != i+1 {
			t.Errorf("migration %d has version %d, want %d: versions are consecutive from 1", i, m.version, i+1)
		}
		if m.name == "" || m.sql == "" {
			t.Errorf("migration %d has no name or no SQL", m.version)
		}
	}
}

// openRaw opens the database at dsn without migrating it.
func openRaw(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// checkVersion fails the test unless db's schema is at version want.
func checkVersion(t *testing.T, db *DB, want int) {
	t.Helper()
	current, latest, err := db.SchemaVersion(t.Context())
	if err != nil {
		t.Fatalf("SchemaVersion = %v", err)
	}
	if current != want || latest != len(migrations()) {
		t.Errorf("SchemaVersion = %d, %d; want %d, %d", current, latest, want, len(migrations()))
	}
}

func TestOpenDoesNotMigrate(t *testing.T) {
	db := openRaw(t, testenv.PostgresSchema(t))
	checkVersion(t, db, 0)
	err := db.CheckSchema(t.Context())
	if e, ok := errors.AsType[*SchemaError](err); !ok || e.Current != 0 || e.Latest != Latest() {
		t.Fatalf("CheckSchema on a fresh schema = %v, want a *SchemaError from 0 to %d", err, Latest())
	}
	// Still nothing created: the check changed nothing.
	var exists bool
	if err := db.pool.QueryRow(t.Context(), `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("Open without Migrate created schema_migrations")
	}
}

func TestMigrate(t *testing.T) {
	db := openRaw(t, testenv.PostgresSchema(t))
	for i := range 2 { // the second run finds nothing to do
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate #%d = %v", i+1, err)
		}
		checkVersion(t, db, Latest())
		if err := db.CheckSchema(t.Context()); err != nil {
			t.Errorf("CheckSchema after Migrate #%d = %v", i+1, err)
		}
	}
}

// TestNewerSchema is a rolled-back binary on a database a newer build has
// migrated: it must neither start nor migrate.
func TestNewerSchema(t *testing.T) {
	db := openRaw(t, testenv.PostgresSchema(t))
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	future := Latest() + 1
	if _, err := db.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from the future', now())`, future); err != nil {
		t.Fatal(err)
	}
	checkVersion(t, db, future)
	for name, err := range map[string]error{"CheckSchema": db.CheckSchema(t.Context()), "Migrate": db.Migrate(t.Context())} {
		if e, ok := errors.AsType[*SchemaError](err); !ok || e.Current != future || e.Latest != Latest() {
			t.Errorf("%s on a newer schema = %v, want a *SchemaError from %d to %d", name, err, future, Latest())
		}
	}
}

// TestConcurrentMigrate runs Migrate from several replicas on one empty
// schema at once: the advisory lock must let exactly one of them apply
// each migration, and all of them succeed.
func TestConcurrentMigrate(t *testing.T) {
	dsn := testenv.PostgresSchema(t)
	const replicas = 5
	dbs := make([]*DB, replicas)
	for i := range dbs {
		dbs[i] = openRaw(t, dsn)
	}
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() { errs[i] = dbs[i].Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Migrate = %v", i, err)
		}
	}
	var n, top int
	err := dbs[0].pool.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &top)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(migrations()); n != want || top != want {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d each", n, top, want)
	}
	checkVersion(t, dbs[replicas-1], Latest())
}

// TestConcurrentOpen is the same race through Open with Migrate set, as
// "scopegate init" or embedded tooling does it.
func TestConcurrentOpen(t *testing.T) {
	dsn := testenv.PostgresSchema(t)
	const replicas = 5
	var wg sync.WaitGroup
	dbs := make([]*DB, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), dsn, Options{Migrate: true}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Open = %v", i, err)
			continue
		}
		defer dbs[i].Close()
	}
	if t.Failed() {
		return
	}
	checkVersion(t, dbs[0], Latest())
}
