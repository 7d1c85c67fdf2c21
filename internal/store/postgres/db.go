package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scopegate/scopegate/internal/apikey"
)

var _ apikey.Store = (*DB)(nil)

// DB is a pool of connections to a scopegate database. It is safe for
// concurrent use.
type DB struct {
	// Now returns the current time. Idempotency and Rotate use it to treat
	// expired idempotency records as absent; it is the gateway's clock, the
	// one that set their ExpiresAt, not the database server's. Open sets it
	// to time.Now; tests may replace it before the DB is used.
	Now func() time.Time

	pool *pgxpool.Pool
}

// Options are Open's optional settings.
type Options struct {
	// Migrate makes Open apply the migrations the database has not run
	// yet (see [DB.Migrate]). Without it Open leaves the schema alone: a
	// gateway replica checks it with [DB.CheckSchema] and leaves migrating
	// to "scopegate migrate", so replicas starting together do not race to
	// change it.
	Migrate bool
}

// Open connects to the database at dsn (a URL or keyword/value string, as
// pgx accepts) and, if opts.Migrate is set, brings its schema up to date.
// The DSN may also set the pool's size and lifetimes (pool_max_conns and
// the other pgxpool parameters) and run-time parameters such as
// search_path. The caller must Close it.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return nil, errors.New("open postgres database: cannot parse the DSN")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres database: %w", err)
	}
	db := &DB{Now: time.Now, pool: pool}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres database: %w", err)
	}
	if opts.Migrate {
		if err := db.Migrate(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open postgres database: %w", err)
		}
	}
	return db, nil
}

// Close closes every connection, waiting for those in use to be returned.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// inTx runs fn in a transaction and commits it if fn returns nil. fn's
// error is returned as is, so that errors from callers' callbacks reach
// them unchanged.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		// A failed rollback leaves nothing to undo: pgx closes the
		// connection, and the server rolls back.
		tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", translate(err))
	}
	return nil
}

// SQLSTATE codes that map to apikey's sentinels.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// translate maps driver errors that callers branch on to apikey's
// sentinels, keeping the server's message for people.
func translate(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apikey.ErrNotFound
	}
	if e, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch e.Code {
		case uniqueViolation:
			return fmt.Errorf("%w: %s", apikey.ErrConflict, e.Message)
		case foreignKeyViolation:
			// The only references are from keys to principals: the row
			// names a principal that does not exist.
			return fmt.Errorf("%w: %s", apikey.ErrNotFound, e.Message)
		}
	}
	return err
}
