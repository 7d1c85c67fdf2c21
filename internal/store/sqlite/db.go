package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	msqlite "modernc.org/sqlite" // registers the "sqlite" driver; its Error type is used below
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/scopegate/scopegate/internal/apikey"
)

var _ apikey.Store = (*DB)(nil)

// busyTimeout is how long a connection waits for a lock held by another
// process before it fails with SQLITE_BUSY. Within one process writers
// queue on the write pool instead.
const busyTimeout = 5 * time.Second

// DB is an open scopegate database file. It is safe for concurrent use.
type DB struct {
	// Now returns the current time. Idempotency and Rotate use it to treat
	// expired idempotency records as absent. Open sets it to time.Now;
	// tests may replace it before the DB is used.
	Now func() time.Time

	path  string
	write *sql.DB // one connection, BEGIN IMMEDIATE
	read  *sql.DB // several query_only connections
}

// Options are OpenWith's optional settings.
type Options struct {
	// Migrate makes OpenWith apply the migrations the file has not run yet
	// (see [DB.Migrate]). Open always sets it: one process owns an
	// embedded database, so there is no one to race with at start.
	Migrate bool
}

// Open opens the database file at path, creating it if needed, and brings
// its schema up to date. The caller must Close it.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWith(ctx, path, Options{Migrate: true})
}

// OpenWith opens the database file at path, creating it if needed, and
// migrates it if opts.Migrate is set. The caller must Close it.
func OpenWith(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// Two pools on an in-memory database would be two databases.
		return nil, fmt.Errorf("open sqlite database: %q is not a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	// The file holds key hashes and sealed one-time responses, so only
	// scopegate's user may read it. SQLite gives the -wal and -shm files the
	// mode of the database file. An existing file's mode is left alone.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database: %w", err)
	}
	f.Close()
	db := &DB{Now: time.Now, path: abs}
	if db.write, err = sql.Open("sqlite", dsn(abs, false)); err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxIdleTime(0)
	db.write.SetConnMaxLifetime(0)
	// The write connection is opened first, so that the read pool's
	// connections find the file already in WAL mode.
	err = db.write.PingContext(ctx)
	if err == nil && opts.Migrate {
		err = db.migrate(ctx)
	}
	if err != nil {
		db.write.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	if db.read, err = sql.Open("sqlite", dsn(abs, true)); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.read.SetMaxOpenConns(n)
	db.read.SetMaxIdleConns(n)
	if err := db.read.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	return db, nil
}

// dsn returns the modernc.org/sqlite data source name for the file at the
// absolute path abs. The path is written as a file: URI so that no
// character in it can be mistaken for a parameter.
func dsn(abs string, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // a Windows drive path, file:///C:/…
	}
	return u.String()
}

// Close closes the database. Calls in progress may fail.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite database %s: %w", db.path, err)
	}
	return nil
}

// inTx runs fn in a write transaction and commits it if fn returns nil.
// fn's error is returned as is, so that errors from callers' callbacks
// reach them unchanged.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", translate(err))
	}
	return nil
}

// translate maps SQLite errors that callers branch on to apikey's
// sentinels, keeping the driver's message for people.
func translate(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return apikey.ErrNotFound
	}
	if e, ok := errors.AsType[*msqlite.Error](err); ok {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%w: %s", apikey.ErrConflict, e.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// The only references are from keys to principals: the row
			// names a principal that does not exist.
			return fmt.Errorf("%w: %s", apikey.ErrNotFound, e.Error())
		}
	}
	return err
}
