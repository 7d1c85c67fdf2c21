package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// exampleConfig is the output of "config example": a complete, commented
// configuration. config_test.go parses it and checks that it sets every
// field of config.Config, so it cannot fall behind the code.
//
//go:embed scopegate.example.yaml
var exampleConfig []byte

// storeConnectTimeout bounds how long "config check" waits for a
// PostgreSQL store before it reports it unreachable.
const storeConnectTimeout = 10 * time.Second

// newConfigCmd returns "scopegate config", which checks and explains
// configuration files.
func newConfigCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check a config file, or print a complete example",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newConfigCheckCmd(e), newConfigExampleCmd(e))
	return cmd
}

func newConfigCheckCmd(e *env) *cobra.Command {
	var dataDir string
	var ignoreStore bool
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file, and find key scopes it no longer serves",
		Long: `check loads FILE as serve would (strictly, with ${NAME} references taken
from the environment) and prints "ok" with what it declares, or the first
errors with their lines.

If the store the file names already exists (SQLite: scopegate.db in the
data directory; PostgreSQL: the DSN connects), check then reads every
principal and every key that is not revoked, and prints each data scope the
file does not serve: a feature it no longer declares, or a resource its
feature no longer serves. Such a scope grants nothing. check exits 1 if it
finds any, so it can guard a config change in CI. --ignore-store skips this
part. Opening the store brings its schema up to date, as serve would.`,
		Example: `  scopegate config check /etc/scopegate/scopegate.yaml
  scopegate config check new.yaml --data-dir /var/lib/scopegate
  scopegate config check new.yaml --ignore-store`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return errors.New("check: FILE is empty")
			}
			cfg, err := config.Load(args[0], e.getenv)
			if err != nil {
				return err
			}
			if err := proxy.Validate(cfg); err != nil {
				return fmt.Errorf("config %s: %w", args[0], err)
			}
			if dataDir != "" {
				cfg.DataDir = dataDir
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "ok: %s, %s\n", plural(len(cfg.Upstreams), "upstream"), plural(len(cfg.Features), "feature"))
			unpriced := cfg.UnpricedModels()
			for _, f := range slices.Sorted(maps.Keys(unpriced)) {
				fmt.Fprintf(out, "warning: feature %s: no price for %s: calls under a cost limit are refused (503 limit_unpriced); add them, or \"*\", to prices\n",
					f, strings.Join(unpriced[f], ", "))
			}
			if ignoreStore {
				return nil
			}
			return checkStoreScopes(cmd.Context(), cfg, args[0], out)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data directory whose store to check (default: the file's data_dir)")
	cmd.Flags().BoolVar(&ignoreStore, "ignore-store", false, "only validate the file; do not look for scopes it leaves dangling")
	return cmd
}

func newConfigExampleCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "example",
		Short: "Print a complete, commented example config file",
		Long: `example prints a config file that sets every field, each with a comment.
It is valid as printed, given the environment variables it refers to.`,
		Example: `  scopegate config example > scopegate.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(exampleConfig)
			return err
		},
	}
}

// checkStoreScopes reports the scopes in cfg's store that cfg does not
// serve, one line each on out, and fails if there are any. A store that
// does not exist yet or cannot be reached is reported and skipped: the
// file itself is fine.
func checkStoreScopes(ctx context.Context, cfg *config.Config, file string, out io.Writer) error {
	st, where, err := openExistingStore(ctx, cfg)
	if _, ok := errors.AsType[*noStoreError](err); ok {
		fmt.Fprintf(out, "scopes not checked: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer st.Close()
	lines, err := danglingScopes(ctx, st, cfg)
	if err != nil {
		return fmt.Errorf("check scopes in %s: %w", where, err)
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	if len(lines) > 0 {
		return fmt.Errorf("%s in %s not served by %s: narrow them, or revoke the keys that hold them", plural(len(lines), "scope"), where, file)
	}
	fmt.Fprintf(out, "ok: every scope in %s is served\n", where)
	return nil
}

// noStoreError means there is no store to check: none was created yet, or
// it cannot be reached from here. reason says which.
type noStoreError struct{ reason string }

func (e *noStoreError) Error() string { return e.reason }

// openExistingStore opens the store cfg names, without creating one: a
// check must not leave a new database behind. It returns the store and a
// description of where it is, for messages; a *noStoreError when there is
// none to open.
func openExistingStore(ctx context.Context, cfg *config.Config) (store, string, error) {
	switch cfg.Store.Driver {
	case "sqlite":
		// The name openStack gives the database in the data directory.
		path := filepath.Join(cfg.DataDir, "scopegate.db")
		where := "sqlite store " + path
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, where, &noStoreError{path + " does not exist yet"}
		}
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, where, err
		}
		return db, where, nil
	case "postgres":
		// The DSN may hold a password; it is not repeated.
		where := "postgres store"
		ctx, cancel := context.WithTimeout(ctx, storeConnectTimeout)
		defer cancel()
		db, err := openPostgres(ctx, cfg.Store.DSN, postgres.Options{})
		if _, ok := errors.AsType[*postgres.SchemaError](err); ok {
			return nil, where, &noStoreError{fmt.Sprintf("%s: %v", where, err)}
		}
		if err != nil {
			// Checking the file is useful on a machine that cannot reach
			// the database, such as a CI runner.
			return nil, where, &noStoreError{fmt.Sprintf("%s unreachable: %v", where, err)}
		}
		return db, where, nil
	}
	return nil, "", fmt.Errorf("unknown store driver %q", cfg.Store.Driver)
}

// plural returns "1 scope" or "3 scopes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
