package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one step of the schema. Released migrations are never
// edited or reordered: databases in the field have already run them.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the schema steps in order. To change the schema,
// append a migration with the next version; TestMigrationVersions checks
// that versions run 1, 2, 3, … without gaps.
func migrations() []migration {
	return []migration{
		{1, "principals, keys and idempotency records", `
CREATE TABLE principals (
	id                  TEXT    NOT NULL PRIMARY KEY,
	kind                TEXT    NOT NULL,
	audience            TEXT    NOT NULL,
	team                TEXT    NOT NULL DEFAULT '',
	ceiling             TEXT    NOT NULL DEFAULT '[]', -- JSON array of scopes
	status              TEXT    NOT NULL,
	requests_per_minute INTEGER NOT NULL DEFAULT 0,
	tokens_per_minute   INTEGER NOT NULL DEFAULT 0,
	concurrent          INTEGER NOT NULL DEFAULT 0,
	tokens_per_day      INTEGER NOT NULL DEFAULT 0,
	tokens_per_month    INTEGER NOT NULL DEFAULT 0,
	created_at          INTEGER, -- Unix microseconds; NULL is the zero time
	updated_at          INTEGER,
	created_by          TEXT    NOT NULL DEFAULT '',
	updated_by          TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX principals_team ON principals (team, id);
CREATE INDEX principals_status ON principals (status, id);

CREATE TABLE api_keys (
	id                  TEXT    NOT NULL PRIMARY KEY,
	class               TEXT    NOT NULL,
	name                TEXT    NOT NULL DEFAULT '',
	principal           TEXT    NOT NULL REFERENCES principals (id),
	scopes              TEXT    NOT NULL DEFAULT '[]', -- JSON array of scopes
	env                 TEXT    NOT NULL,
	not_before          INTEGER,
	expires_at          INTEGER,
	cidrs               TEXT    NOT NULL DEFAULT '', -- space-separated prefixes
	requests_per_minute INTEGER NOT NULL DEFAULT 0,
	tokens_per_minute   INTEGER NOT NULL DEFAULT 0,
	concurrent          INTEGER NOT NULL DEFAULT 0,
	tokens_per_day      INTEGER NOT NULL DEFAULT 0,
	tokens_per_month    INTEGER NOT NULL DEFAULT 0,
	status              TEXT    NOT NULL,
	hash                BLOB    NOT NULL,
	last4               TEXT    NOT NULL DEFAULT '',
	rotated_from        TEXT    NOT NULL DEFAULT '',
	replaced_by         TEXT    NOT NULL DEFAULT '',
	last_used_at        INTEGER,
	created_at          INTEGER,
	updated_at          INTEGER,
	revoked_at          INTEGER,
	created_by          TEXT    NOT NULL DEFAULT '',
	updated_by          TEXT    NOT NULL DEFAULT '',
	revoked_by          TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX api_keys_principal ON api_keys (principal, id);
CREATE INDEX api_keys_status ON api_keys (status, id);

CREATE TABLE idempotency_records (
	actor       TEXT    NOT NULL,
	idem_key    TEXT    NOT NULL,
	fingerprint TEXT    NOT NULL,
	result      TEXT    NOT NULL,
	sealed      BLOB,
	created_at  INTEGER,
	expires_at  INTEGER, -- NULL: never expires
	PRIMARY KEY (actor, idem_key)
) STRICT;

CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at);
`},
		{2, "cost limits on principals and keys", `
-- Micro-US-dollars (apikey.Micros); 0 is no limit.
ALTER TABLE principals ADD COLUMN cost_per_day   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE principals ADD COLUMN cost_per_month INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys   ADD COLUMN cost_per_day   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys   ADD COLUMN cost_per_month INTEGER NOT NULL DEFAULT 0;
`},
		{3, "hourly usage buckets", `
-- One row per hour, key, feature and model, summed by every replica's
-- flushes (usage.Store). principal and team are the key's when the bucket
-- was last written; they are copied here so that reports group and filter
-- by them without a join, and keep working after a key is deleted.
CREATE TABLE usage_hourly (
	hour          INTEGER NOT NULL, -- start of the UTC hour, Unix microseconds
	key_id        TEXT    NOT NULL,
	feature       TEXT    NOT NULL,
	model         TEXT    NOT NULL,
	principal     TEXT    NOT NULL,
	team          TEXT    NOT NULL DEFAULT '',
	requests      INTEGER NOT NULL DEFAULT 0,
	input_tokens  INTEGER NOT NULL DEFAULT 0,
	output_tokens INTEGER NOT NULL DEFAULT 0,
	cost          INTEGER NOT NULL DEFAULT 0, -- micro-US-dollars
	PRIMARY KEY (hour, key_id, feature, model)
) STRICT, WITHOUT ROWID;

-- The primary key serves time ranges; these serve the tenant and filter
-- columns within a range.
CREATE INDEX usage_hourly_key ON usage_hourly (key_id, hour);
CREATE INDEX usage_hourly_principal ON usage_hourly (principal, hour);
CREATE INDEX usage_hourly_team ON usage_hourly (team, hour);
`},
		{4, "alert groups", `
-- One row per alert group (anomaly.Store): the first alert of a rule about
-- a subject, counted while the group stays open. principal and team are
-- the subject's when the group opened; they decide which admins see it.
CREATE TABLE alerts (
	id        INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
	rule      TEXT    NOT NULL,
	subject   TEXT    NOT NULL,
	principal TEXT    NOT NULL DEFAULT '',
	team      TEXT    NOT NULL DEFAULT '',
	key_id    TEXT    NOT NULL DEFAULT '',
	figures   TEXT    NOT NULL DEFAULT '',
	first_at  INTEGER NOT NULL, -- Unix microseconds
	last_at   INTEGER NOT NULL,
	count     INTEGER NOT NULL DEFAULT 1,
	acked_at  INTEGER,          -- NULL until acknowledged
	acked_by  TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Lists are newest first (id descending) within a tenant or a filter.
CREATE INDEX alerts_principal ON alerts (principal, id);
CREATE INDEX alerts_team ON alerts (team, id);
CREATE INDEX alerts_subject ON alerts (subject, id);
CREATE INDEX alerts_rule ON alerts (rule, id);
`},
	}
}

// Latest is the schema version this build's migrations reach.
func Latest() int { return len(migrations()) }

// SchemaVersion returns the version the file's schema is at (0 for a file
// scopegate has never migrated) and the latest version this build knows.
// It changes nothing.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	current, err = schemaVersion(ctx, db.read)
	if err != nil {
		return 0, 0, err
	}
	return current, Latest(), nil
}

// querier is what schemaVersion needs: a pool or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`).Scan(&exists)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// SchemaError means the file's schema is not the one this build expects:
// migrations are pending (Current < Latest), or a newer build migrated it
// (Current > Latest), as after a rollback.
type SchemaError struct {
	Current, Latest int
}

func (e *SchemaError) Error() string {
	if e.Current > e.Latest {
		return fmt.Sprintf("the database schema is at version %d, newer than this binary knows (%d): it was migrated by a newer scopegate", e.Current, e.Latest)
	}
	return fmt.Sprintf("the database schema is at version %d, this binary needs %d", e.Current, e.Latest)
}

// CheckSchema returns a *SchemaError unless the file's schema is at exactly
// the version this build expects.
func (db *DB) CheckSchema(ctx context.Context) error {
	current, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current != latest {
		return &SchemaError{Current: current, Latest: latest}
	}
	return nil
}

// Migrate applies the migrations the file has not run yet (see migrate).
// It returns a *SchemaError, changing nothing, if the file is newer than
// this build.
func (db *DB) Migrate(ctx context.Context) error {
	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrate applies the migrations the database has not run yet, each in its
// own transaction. The check for whether a version has run is made inside
// that transaction, which holds the write lock, so two processes opening
// the same new file cannot both apply it.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	current, err := schemaVersion(ctx, db.write)
	if err != nil {
		return err
	}
	if current > Latest() {
		return &SchemaError{Current: current, Latest: Latest()}
	}
	for _, m := range migrations() {
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			var applied bool
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.version).Scan(&applied)
			if err != nil || applied {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, db.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}
