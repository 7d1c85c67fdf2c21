package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
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
	id                  text COLLATE "C" NOT NULL PRIMARY KEY,
	kind                text        NOT NULL,
	audience            text        NOT NULL,
	team                text        NOT NULL DEFAULT '',
	ceiling             jsonb       NOT NULL DEFAULT '[]',
	status              text        NOT NULL,
	requests_per_minute bigint      NOT NULL DEFAULT 0,
	tokens_per_minute   bigint      NOT NULL DEFAULT 0,
	concurrent          bigint      NOT NULL DEFAULT 0,
	tokens_per_day      bigint      NOT NULL DEFAULT 0,
	tokens_per_month    bigint      NOT NULL DEFAULT 0,
	created_at          timestamptz,
	updated_at          timestamptz,
	created_by          text        NOT NULL DEFAULT '',
	updated_by          text        NOT NULL DEFAULT ''
);

CREATE INDEX principals_team ON principals (team, id);
CREATE INDEX principals_status ON principals (status, id);

CREATE TABLE api_keys (
	id                  text COLLATE "C" NOT NULL PRIMARY KEY,
	class               text        NOT NULL,
	name                text        NOT NULL DEFAULT '',
	principal           text COLLATE "C" NOT NULL REFERENCES principals (id),
	scopes              jsonb       NOT NULL DEFAULT '[]',
	env                 text        NOT NULL,
	not_before          timestamptz,
	expires_at          timestamptz,
	cidrs               text[]      NOT NULL DEFAULT '{}',
	requests_per_minute bigint      NOT NULL DEFAULT 0,
	tokens_per_minute   bigint      NOT NULL DEFAULT 0,
	concurrent          bigint      NOT NULL DEFAULT 0,
	tokens_per_day      bigint      NOT NULL DEFAULT 0,
	tokens_per_month    bigint      NOT NULL DEFAULT 0,
	status              text        NOT NULL,
	hash                bytea       NOT NULL,
	last4               text        NOT NULL DEFAULT '',
	rotated_from        text        NOT NULL DEFAULT '',
	replaced_by         text        NOT NULL DEFAULT '',
	last_used_at        timestamptz,
	created_at          timestamptz,
	updated_at          timestamptz,
	revoked_at          timestamptz,
	created_by          text        NOT NULL DEFAULT '',
	updated_by          text        NOT NULL DEFAULT '',
	revoked_by          text        NOT NULL DEFAULT ''
);

CREATE INDEX api_keys_principal ON api_keys (principal, id);
CREATE INDEX api_keys_status ON api_keys (status, id);

CREATE TABLE idempotency_records (
	actor       text        NOT NULL,
	idem_key    text        NOT NULL,
	fingerprint text        NOT NULL,
	result      text        NOT NULL,
	sealed      bytea,
	created_at  timestamptz,
	expires_at  timestamptz, -- NULL: never expires
	PRIMARY KEY (actor, idem_key)
);

CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at);
`},
		{2, "cost limits on principals and keys", `
-- Micro-US-dollars (apikey.Micros); 0 is no limit. Adding a column with a
-- constant default does not rewrite the table, so replicas of the
-- previous release keep working while it runs.
ALTER TABLE principals ADD COLUMN cost_per_day   bigint NOT NULL DEFAULT 0;
ALTER TABLE principals ADD COLUMN cost_per_month bigint NOT NULL DEFAULT 0;
ALTER TABLE api_keys   ADD COLUMN cost_per_day   bigint NOT NULL DEFAULT 0;
ALTER TABLE api_keys   ADD COLUMN cost_per_month bigint NOT NULL DEFAULT 0;
`},
		{3, "hourly usage buckets", `
-- One row per hour, key, feature and model, summed by every replica's
-- flushes (usage.Store). principal and team are the key's when the bucket
-- was last written; they are copied here so that reports group and filter
-- by them without a join, and keep working after a key is deleted.
CREATE TABLE usage_hourly (
	hour          timestamptz      NOT NULL, -- start of the UTC hour
	key_id        text COLLATE "C" NOT NULL,
	feature       text COLLATE "C" NOT NULL,
	model         text COLLATE "C" NOT NULL,
	principal     text COLLATE "C" NOT NULL,
	team          text COLLATE "C" NOT NULL DEFAULT '',
	requests      bigint           NOT NULL DEFAULT 0,
	input_tokens  bigint           NOT NULL DEFAULT 0,
	output_tokens bigint           NOT NULL DEFAULT 0,
	cost          bigint           NOT NULL DEFAULT 0, -- micro-US-dollars
	PRIMARY KEY (hour, key_id, feature, model)
);

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
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	rule      text COLLATE "C" NOT NULL,
	subject   text COLLATE "C" NOT NULL,
	principal text COLLATE "C" NOT NULL DEFAULT '',
	team      text COLLATE "C" NOT NULL DEFAULT '',
	key_id    text COLLATE "C" NOT NULL DEFAULT '',
	figures   text             NOT NULL DEFAULT '',
	first_at  timestamptz      NOT NULL,
	last_at   timestamptz      NOT NULL,
	count     bigint           NOT NULL DEFAULT 1,
	acked_at  timestamptz,     -- NULL until acknowledged
	acked_by  text             NOT NULL DEFAULT ''
);

-- Lists are newest first (id descending) within a tenant or a filter.
CREATE INDEX alerts_principal ON alerts (principal, id);
CREATE INDEX alerts_team ON alerts (team, id);
CREATE INDEX alerts_subject ON alerts (subject, id);
CREATE INDEX alerts_rule ON alerts (rule, id);
`},
		{5, "cluster audit log", `
-- The cluster audit log (auditlog.go). Every replica inserts the body of
-- each event (audit.EncodeBody: the line after its idx and ts) and commits
-- before it forwards a request; the one sequencer moves pending bodies, in
-- id order, into numbered records.
CREATE TABLE audit_pending (
	id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	body bytea NOT NULL
);

-- The log: line is the record's whole version 1 line (audit.Line), the
-- exact bytes hashed into the tree; ts is the time in it, kept for the
-- next batch (ts never decreases along the log). Rows are never updated
-- or deleted.
CREATE TABLE audit_records (
	idx  bigint      NOT NULL PRIMARY KEY,
	ts   timestamptz NOT NULL,
	line bytea       NOT NULL
);

-- The tree's stored hashes (tlog.StoredHashes), by stored-hash index n:
-- the hashes file of an embedded log, one row per 32-byte hash.
CREATE TABLE audit_tree (
	n    bigint NOT NULL PRIMARY KEY,
	hash bytea  NOT NULL
);

-- Every signed checkpoint (a C2SP signed note), by tree size.
CREATE TABLE audit_checkpoints (
	size      bigint      NOT NULL PRIMARY KEY,
	note      bytea       NOT NULL,
	signed_at timestamptz NOT NULL
);
`},
	}
}

// migrationLock is the advisory lock key that serializes migrations across
// replicas: the bytes of "scopegat" as a big-endian integer. Advisory locks
// are per database, so it also serializes migrations of other schemas in
// the same database, which only costs a short wait.
const migrationLock int64 = 0x73636f7065676174

// Latest is the schema version this build's migrations reach.
func Latest() int { return len(migrations()) }

// SchemaVersion returns the version the database's schema is at (0 for a
// database scopegate has never migrated) and the latest version this build
// knows. It changes nothing.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	current, err = schemaVersion(ctx, db.pool)
	if err != nil {
		return 0, 0, err
	}
	return current, Latest(), nil
}

// querier is what schemaVersion needs: a pool, a connection or a
// transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func schemaVersion(ctx context.Context, q querier) (int, error) {
	// to_regclass resolves the name through search_path, as the queries
	// that use the tables do, and is NULL rather than an error when there
	// is no such table. A query naming a missing table fails when it is
	// planned, even in a branch not taken, hence two queries.
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// SchemaError means the database's schema is not the one this build
// expects: migrations are pending (Current < Latest), or the database was
// migrated by a newer build (Current > Latest), as after a rollback.
type SchemaError struct {
	Current, Latest int
}

func (e *SchemaError) Error() string {
	if e.Current > e.Latest {
		return fmt.Sprintf("the database schema is at version %d, newer than this binary knows (%d): it was migrated by a newer scopegate", e.Current, e.Latest)
	}
	return fmt.Sprintf("the database schema is at version %d, this binary needs %d", e.Current, e.Latest)
}

// CheckSchema returns a *SchemaError unless the database's schema is at
// exactly the version this build expects.
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

// Migrate applies the migrations the database has not run yet, each in its
// own transaction, while holding migrationLock on one connection: callers
// in several processes at once are serialized, and each migration runs
// once. It returns a *SchemaError, changing nothing, if the database is
// newer than this build. A database already up to date is left alone.
func (db *DB) Migrate(ctx context.Context) error {
	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrate applies the migrations the database has not run yet, each in its
// own transaction, while holding migrationLock on one connection.
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("take lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock); uerr != nil {
			// The lock belongs to the session: ending it releases the lock,
			// where returning the connection to the pool would keep it.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     NOT NULL PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	// Under the lock, so that a newer build cannot migrate in between.
	current, err := schemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	if current > Latest() {
		return &SchemaError{Current: current, Latest: Latest()}
	}
	for _, m := range migrations() {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var applied bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&applied)
			if err != nil || applied {
				return err
			}
			// Without arguments pgx uses the simple protocol, which runs a
			// script of several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, db.Now())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}
