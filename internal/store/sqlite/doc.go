// Package sqlite stores scopegate's state in one SQLite file, the embedded
// deployment mode. It uses [modernc.org/sqlite], a translation of SQLite to
// Go, so the binary needs no cgo. [DB] implements [apikey.Store], and
// [UsageStore], made from a DB by [NewUsageStore], implements [usage.Store]
// on the same file; later stores are added to the same DB and the same
// migration list.
//
// # Connections
//
// [Open] keeps two pools on the file. The write pool holds a single
// connection and starts every transaction with BEGIN IMMEDIATE, so writers
// queue in Go instead of spinning in SQLite's busy handler, and a
// transaction that reads before it writes can never fail to upgrade its
// lock. The read pool has several connections marked query_only; in WAL mode
// they read the last committed state while a write is in progress. Every
// connection has foreign keys on and a busy timeout, which matters only when
// another process (such as a second scopegate) writes the same file.
//
// synchronous stays at SQLite's default, FULL: a revocation that was
// reported as done must survive a power cut, and WAL with NORMAL does not
// promise that.
//
// # Migrations
//
// The schema is an ordered list of SQL scripts in migrations.go, applied at
// Open and recorded in the schema_migrations table. No migration library is
// used because none is needed: the list is short, runs forward only, and
// each script runs in its own transaction together with the row that
// records it, so a crash leaves the schema at a version boundary. A
// migration's version and text never change once released; a change is a
// new migration appended to the list. Opening an up-to-date file applies
// nothing, so Open is safe to call on every start.
//
// # Encoding
//
// Times are INTEGER microseconds since the Unix epoch in UTC, the precision
// PostgreSQL keeps, so both stores return the same values; the zero
// time.Time is NULL. Scope sets are JSON arrays of scope strings, client
// networks a space-separated list of prefixes, the key hash a BLOB. Ids use
// SQLite's default BINARY collation, so lists are in byte order, as Go
// compares strings.
package sqlite
