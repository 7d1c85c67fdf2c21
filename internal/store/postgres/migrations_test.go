package postgres

import (
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

// TestConcurrentOpen starts several replicas on one empty schema at once:
// the advisory lock must let exactly one of them apply each migration.
func TestConcurrentOpen(t *testing.T) {
	dsn := testenv.PostgresSchema(t)
	const replicas = 5
	var wg sync.WaitGroup
	dbs := make([]*DB, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), dsn) })
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
	var n, top int
	err := dbs[0].pool.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &top)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(migrations()); n != want || top != want {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d each", n, top, want)
	}
}
