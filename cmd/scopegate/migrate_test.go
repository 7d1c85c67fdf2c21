package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/store/sqlite"
	"github.com/scopegate/scopegate/internal/testenv"
)

// pgStoreConfig is a config file naming the PostgreSQL store at ${PGDSN}.
const pgStoreConfig = "store: {driver: postgres, dsn: \"${PGDSN}\"}\n"

// writeConfig writes text to a config file in a temporary directory and
// returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scopegate.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// migratedPostgresSchema returns the DSN of a fresh PostgreSQL schema that
// "scopegate migrate" has brought up to date, as an operator does before
// starting replicas: serve on PostgreSQL does not migrate.
func migratedPostgresSchema(t *testing.T) string {
	t.Helper()
	dsn := testenv.PostgresSchema(t)
	out, errOut, err := runCLI(t, map[string]string{"PGDSN": dsn}, "migrate", "--config", writeConfig(t, pgStoreConfig))
	if err != nil {
		t.Fatalf("scopegate migrate = %v\n%s%s", err, out, errOut)
	}
	return dsn
}

func TestMigrateSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	latest := sqlite.Latest()

	// --check creates nothing.
	out, _, err := runCLI(t, nil, "migrate", "--check", "--data-dir", dir)
	if !errors.Is(err, errMigrationsPending) {
		t.Fatalf("migrate --check on no data directory = %v, want errMigrationsPending\n%s", err, out)
	}
	if want := fmt.Sprintf("schema at version 0, this binary's latest is %d", latest); !strings.Contains(out, want) {
		t.Errorf("migrate --check printed %q, want it to contain %q", out, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("migrate --check created the data directory (stat: %v)", err)
	}

	out, _, err = runCLI(t, nil, "migrate", "--data-dir", dir)
	if err != nil {
		t.Fatalf("migrate = %v\n%s", err, out)
	}
	if want := fmt.Sprintf("migrated from version 0 to %d", latest); !strings.Contains(out, want) {
		t.Errorf("migrate printed %q, want it to contain %q", out, want)
	}
	for _, args := range [][]string{{"migrate"}, {"migrate", "--check"}} {
		out, _, err = runCLI(t, nil, append(args, "--data-dir", dir)...)
		if err != nil || !strings.Contains(out, "up to date") {
			t.Errorf("%v on a migrated file = %v, printed %q; want success and \"up to date\"", args, err, out)
		}
	}
}

func TestMigratePostgres(t *testing.T) {
	dsn := testenv.PostgresSchema(t)
	vars := map[string]string{"PGDSN": dsn}
	cfg := writeConfig(t, pgStoreConfig)
	latest := postgres.Latest()

	out, _, err := runCLI(t, vars, "migrate", "--check", "--config", cfg)
	if !errors.Is(err, errMigrationsPending) {
		t.Fatalf("migrate --check on a fresh schema = %v, want errMigrationsPending\n%s", err, out)
	}
	if want := fmt.Sprintf("postgres store: schema at version 0, this binary's latest is %d\n%d migrations pending\n", latest, latest); out != want {
		t.Errorf("migrate --check printed %q, want %q", out, want)
	}
	if strings.Contains(out, dsn) {
		t.Error("migrate printed the DSN")
	}

	out, _, err = runCLI(t, vars, "migrate", "--config", cfg)
	if err != nil {
		t.Fatalf("migrate = %v\n%s", err, out)
	}
	if want := fmt.Sprintf("postgres store: schema at version 0, this binary's latest is %d\nmigrated from version 0 to %d\n", latest, latest); out != want {
		t.Errorf("migrate printed %q, want %q", out, want)
	}
	for _, args := range [][]string{{"migrate"}, {"migrate", "--check"}} {
		out, _, err = runCLI(t, vars, append(args, "--config", cfg)...)
		if err != nil || !strings.HasSuffix(out, "up to date\n") {
			t.Errorf("%v on a migrated schema = %v, printed %q; want success and \"up to date\"", args, err, out)
		}
	}

	// A newer build has migrated further: this one must not touch it.
	setFutureVersion(t, dsn, latest+1)
	for _, args := range [][]string{{"migrate"}, {"migrate", "--check"}} {
		_, _, err = runCLI(t, vars, append(args, "--config", cfg)...)
		if err == nil || !strings.Contains(err.Error(), "newer than this binary knows") {
			t.Errorf("%v on a newer schema = %v, want a refusal", args, err)
		}
	}
}

// setFutureVersion records version as applied, as a newer build's
// migrate would.
func setFutureVersion(t *testing.T, dsn string, version int) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	_, err = conn.Exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from the future', now())`, version)
	if err != nil {
		t.Fatal(err)
	}
}

// TestServeChecksPostgresSchema starts serve on a schema that is behind
// and one that is ahead of the binary: it must refuse both, saying what to
// do, rather than migrate (replicas racing) or run on a schema it does not
// know.
func TestServeChecksPostgresSchema(t *testing.T) {
	latest := postgres.Latest()
	tests := []struct {
		name string
		dsn  func(t *testing.T) string
		want string
	}{
		{"Pending", func(t *testing.T) string { return testenv.PostgresSchema(t) },
			fmt.Sprintf("the database schema is at version 0, this binary needs %d: run `scopegate migrate`", latest)},
		{"Newer", func(t *testing.T) string {
			dsn := migratedPostgresSchema(t)
			setFutureVersion(t, dsn, latest+1)
			return dsn
		}, fmt.Sprintf("the database schema is at version %d, newer than this binary knows (%d)", latest+1, latest)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"PGDSN": tt.dsn(t)}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			err := run(ctx, []string{"scopegate", "serve", "--config", writeConfig(t, pgStoreConfig), "--data-dir", t.TempDir(),
				"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, func(k string) string { return vars[k] },
				strings.NewReader(""), &out, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serve = %v, want an error containing %q\n%s", err, tt.want, out.String())
			}
		})
	}
}

// TestInitMigratesPostgres: init is the explicit set-up of a new store, so
// it migrates, and serve then starts on what it made.
func TestInitMigratesPostgres(t *testing.T) {
	dsn := testenv.PostgresSchema(t)
	vars := map[string]string{"PGDSN": dsn}
	cfg := writeConfig(t, pgStoreConfig)
	if out, errOut, err := runCLI(t, vars, "init", "--config", cfg, "--data-dir", t.TempDir()); err != nil {
		t.Fatalf("init = %v\n%s%s", err, out, errOut)
	}
	out, _, err := runCLI(t, vars, "migrate", "--check", "--config", cfg)
	if err != nil || !strings.Contains(out, "up to date") {
		t.Errorf("migrate --check after init = %v, printed %q", err, out)
	}
}
