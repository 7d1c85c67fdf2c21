package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresSchema creates a fresh schema named t_<random> on the test
// PostgreSQL server, drops it with everything in it when the test ends, and
// returns a DSN whose connections use it as their search_path. Tests that
// each take a schema can run in parallel against one database without
// seeing each other's tables.
//
// It skips or fails the test as PostgresDSN does.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	dsn := PostgresDSN(t)
	var b [8]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()

	exec(t, t.Context(), dsn, "CREATE SCHEMA "+ident)
	t.Cleanup(func() {
		// t.Context is already done when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		exec(t, ctx, dsn, "DROP SCHEMA IF EXISTS "+ident+" CASCADE")
	})
	return withSearchPath(t, dsn, name)
}

// exec runs one statement on a connection of its own.
func exec(t testing.TB, ctx context.Context, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// withSearchPath adds search_path=schema to dsn, in URL or keyword/value
// form. pgx sends parameters it does not know, such as search_path, to the
// server as run-time parameters of every connection.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", PostgresDSNVar, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
