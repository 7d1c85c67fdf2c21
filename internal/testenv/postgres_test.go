package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgresSchema(t *testing.T) {
	var schema string
	admin := PostgresDSN(t)
	t.Run("UsesSchema", func(t *testing.T) {
		dsn := PostgresSchema(t)
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(schema, "t_") {
			t.Fatalf("current_schema() = %q, want t_<random>", schema)
		}
		// Unqualified names resolve in the test's schema.
		if _, err := conn.Exec(t.Context(), "CREATE TABLE probe (x int)"); err != nil {
			t.Fatal(err)
		}
		var where string
		err = conn.QueryRow(t.Context(), "SELECT table_schema FROM information_schema.tables WHERE table_name = 'probe'").Scan(&where)
		if err != nil || where != schema {
			t.Fatalf("table probe is in schema %q (err %v), want %q", where, err, schema)
		}
	})
	t.Run("DroppedAfterTest", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("schema %s still exists after its test ended", schema)
		}
	})
}

func TestWithSearchPath(t *testing.T) {
	tests := []struct {
		name, dsn, want string
	}{
		{"URL", "postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=t_1&sslmode=disable"},
		{"URLWithoutQuery", "postgresql://u@h/db", "postgresql://u@h/db?search_path=t_1"},
		{"KeywordValue", "host=h dbname=db", "host=h dbname=db search_path=t_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withSearchPath(t, tt.dsn, "t_1"); got != tt.want {
				t.Errorf("withSearchPath(%q) = %q, want %q", tt.dsn, got, tt.want)
			}
		})
	}
}
