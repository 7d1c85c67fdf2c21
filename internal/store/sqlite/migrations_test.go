package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
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

func TestMigrationsRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scopegate.db")
	for range 2 {
		db, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		var n, top int
		err = db.read.QueryRowContext(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &top)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := len(migrations()); n != want || top != want {
			t.Errorf("schema_migrations has %d rows up to version %d, want %d each, after every Open", n, top, want)
		}
	}
}

func TestPragmas(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "scopegate.db"))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer db.Close()
	for _, tt := range []struct {
		pool   string
		pragma string
		want   string
	}{
		{"write", "journal_mode", "wal"},
		{"write", "foreign_keys", "1"},
		{"write", "busy_timeout", "5000"},
		{"read", "journal_mode", "wal"},
		{"read", "foreign_keys", "1"},
		{"read", "busy_timeout", "5000"},
		{"read", "query_only", "1"},
	} {
		pool := db.write
		if tt.pool == "read" {
			pool = db.read
		}
		var got string
		if err := pool.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("%s pool: PRAGMA %s = %s, want %s", tt.pool, tt.pragma, got, tt.want)
		}
	}
}

// TestWriteTransactionsAreImmediate checks that a write transaction takes
// the write lock when it begins, not at its first write: another
// connection that has not waited for it cannot write.
func TestWriteTransactionsAreImmediate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scopegate.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer db.Close()
	other, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	tx, err := db.write.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = other.ExecContext(t.Context(), `INSERT INTO principals (id, kind, audience, status) VALUES ('x', 'user', 'internal', 'active')`)
	if e, ok := errors.AsType[*msqlite.Error](err); !ok || e.Code()&0xff != sqlite3.SQLITE_BUSY {
		t.Errorf("write from another connection during a write transaction = %v, want SQLITE_BUSY", err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scopegate.db")
	db, err := OpenWith(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("OpenWith = %v", err)
	}
	defer db.Close()
	check := func(want int) {
		t.Helper()
		current, latest, err := db.SchemaVersion(t.Context())
		if err != nil || current != want || latest != Latest() {
			t.Fatalf("SchemaVersion = %d, %d, %v; want %d, %d, nil", current, latest, err, want, Latest())
		}
	}
	check(0)
	if e, ok := errors.AsType[*SchemaError](db.CheckSchema(t.Context())); !ok || e.Current != 0 {
		t.Errorf("CheckSchema on a new file = %v, want a *SchemaError at 0", e)
	}
	for range 2 {
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate = %v", err)
		}
		check(Latest())
		if err := db.CheckSchema(t.Context()); err != nil {
			t.Errorf("CheckSchema after Migrate = %v", err)
		}
	}
	future := Latest() + 1
	if _, err := db.write.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from the future', 0)`, future); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{"CheckSchema": db.CheckSchema(t.Context()), "Migrate": db.Migrate(t.Context())} {
		if e, ok := errors.AsType[*SchemaError](err); !ok || e.Current != future {
			t.Errorf("%s on a newer file = %v, want a *SchemaError at %d", name, err, future)
		}
	}
}
