package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/datadir"
	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

func newMigrateCmd(e *env) *cobra.Command {
	var f serverFlags
	var check bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the store's database migrations",
		Long: `migrate brings the store's schema (SQLite or PostgreSQL, as the config
says) up to the version this binary needs, and prints the version before and
after. Run it once per release, before the new replicas start: with store
driver postgres, serve does not migrate, and refuses to start on a schema
that is behind or ahead of it. Several migrate runs at once are safe: an
advisory lock serializes them.

With --check it changes nothing, and exits non-zero if migrations are
pending (or the schema is newer than this binary).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(e)
			if err != nil {
				return err
			}
			db, where, err := openForMigrate(cmd.Context(), cfg.Store.Driver, cfg.Store.DSN, cfg.DataDir, check)
			if err != nil {
				return err
			}
			if db != nil {
				defer db.Close()
			}
			return migrate(cmd.Context(), e, db, where, check)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&check, "check", false, "exit non-zero if migrations are pending, without applying them")
	return cmd
}

// migrator is a store adapter's schema handling.
type migrator interface {
	SchemaVersion(ctx context.Context) (current, latest int, err error)
	Migrate(ctx context.Context) error
	Close() error
}

// errMigrationsPending is migrate --check's result on a schema that is
// behind.
var errMigrationsPending = errors.New("migrations pending: run `scopegate migrate`")

// migrate prints db's schema version, and applies the pending migrations
// unless check is set. A nil db is a SQLite file that does not exist yet
// (only with check): version 0.
func migrate(ctx context.Context, e *env, db migrator, where string, check bool) error {
	current, latest := 0, sqlite.Latest()
	if db != nil {
		var err error
		if current, latest, err = db.SchemaVersion(ctx); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	fmt.Fprintf(e.stdout, "%s: schema at version %d, this binary's latest is %d\n", where, current, latest)
	switch {
	case current > latest:
		return fmt.Errorf("%s: the database schema is at version %d, newer than this binary knows (%d): run the newer scopegate", where, current, latest)
	case current == latest:
		fmt.Fprintln(e.stdout, "up to date")
		return nil
	case check:
		fmt.Fprintf(e.stdout, "%d migrations pending\n", latest-current)
		return errMigrationsPending
	}
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	after, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	fmt.Fprintf(e.stdout, "migrated from version %d to %d\n", current, after)
	return nil
}

// openForMigrate opens the store without migrating it. With check set it
// creates nothing: a SQLite file that does not exist is returned as a nil
// migrator.
func openForMigrate(ctx context.Context, driver, dsn, dataDir string, check bool) (migrator, string, error) {
	switch driver {
	case "sqlite":
		// The name openStack gives the database in the data directory.
		path := filepath.Join(dataDir, "scopegate.db")
		where := "sqlite store " + path
		if check {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, where, nil
			}
		} else if _, err := datadir.Open(dataDir); err != nil {
			return nil, where, err
		}
		db, err := sqlite.OpenWith(ctx, path, sqlite.Options{})
		if err != nil {
			return nil, where, err
		}
		return db, where, nil
	case "postgres":
		// The DSN may hold a password; it is not repeated.
		where := "postgres store"
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return nil, where, err
		}
		return db, where, nil
	}
	return nil, "", fmt.Errorf("unknown store driver %q", driver)
}

// openPostgres opens the PostgreSQL store for serve or init. Unless
// opts.Migrate is set, a schema that is not at this binary's version is
// refused with what to do about it.
func openPostgres(ctx context.Context, dsn string, opts postgres.Options) (*postgres.DB, error) {
	db, err := postgres.Open(ctx, dsn, opts)
	if err != nil || opts.Migrate {
		return db, err
	}
	err = db.CheckSchema(ctx)
	if e, ok := errors.AsType[*postgres.SchemaError](err); ok {
		if e.Current > e.Latest {
			err = fmt.Errorf("%w: run the newer scopegate binary, or restore the database", err)
		} else {
			err = fmt.Errorf("%w: run `scopegate migrate`", err)
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
