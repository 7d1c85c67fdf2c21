// Package postgres stores scopegate's state in PostgreSQL, the cluster
// deployment mode, through [github.com/jackc/pgx/v5]. [DB] implements
// [apikey.Store], and [UsageStore], made from a DB by [NewUsageStore],
// implements [usage.Store] on the same pool; later stores are added to the
// same DB and the same migration list. The cluster audit log is here too:
// [AuditAppender] commits events, [AuditSequencer] numbers, hashes and
// signs them, and [DB.ExportAudit] writes them in the embedded log's
// layout (see auditlog.go). It needs PostgreSQL 12 or later.
//
// # Concurrency
//
// Every replica of the gateway shares the database. Read-modify-write
// operations (UpdateKey, UpdatePrincipal, Rotate) lock the row they read
// with SELECT … FOR UPDATE inside their transaction, so concurrent changes
// to one key queue rather than overwrite each other. Rotate also takes a
// transaction-scoped advisory lock on its idempotency key, so that two
// retries of one request arriving at two replicas see each other: the
// second finds the first's record instead of failing on the old key.
// TouchKeys updates rows in id order, and UsageStore.Add upserts buckets in
// bucket order, so two replicas flushing overlapping batches cannot
// deadlock; concurrent upserts of one bucket queue on its row and sum.
//
// # Migrations
//
// The schema is an ordered list of SQL scripts in migrations.go, applied at
// Open and recorded in the schema_migrations table. No migration library is
// used because none is needed: the list is short, runs forward only, and
// each script runs in its own transaction together with the row that
// records it. Replicas starting at once serialize on a session advisory
// lock, so each migration runs exactly once. A migration's version and text
// never change once released; a change is a new migration appended to the
// list, written so that replicas still running the previous release keep
// working (add columns and tables; do not rename or drop them in the same
// release).
//
// Tables are created in the first schema of the connection's search_path,
// which a DSN can set (search_path=…); the tests use that to give each test
// a schema of its own.
//
// # Encoding
//
// Times are timestamptz (microseconds), the zero time.Time is NULL, and
// every time is returned in UTC. Scope sets are jsonb arrays of scope
// strings, client networks text[] (not cidr[], which would refuse a prefix
// with host bits set and so not round-trip every netip.Prefix), the key hash
// bytea. Ids are compared with the "C" collation, so lists are in byte
// order, as Go compares strings, whatever the database's locale.
package postgres
