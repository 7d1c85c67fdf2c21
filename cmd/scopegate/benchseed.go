package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/datadir"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// seedBatch is how many keys bench seed stores per transaction: large
// enough that the per-commit sync is negligible, small enough that the
// keys held in memory are a few megabytes.
const seedBatch = 5000

// seedFlags are the flags of bench seed.
type seedFlags struct {
	server              serverFlags
	keys                int
	principal, audience string
	scopes              []string
	out                 string
	ttl                 time.Duration
}

func newBenchSeedCmd(e *env) *cobra.Command {
	var f seedFlags
	cmd := &cobra.Command{
		Use:   "seed --data-dir DIR --keys N --principal P --scope S --out FILE",
		Short: "Create many data keys directly in a stopped data directory's SQLite store",
		Long: `seed creates --keys data keys for --principal with --scope in the embedded
SQLite store of --data-dir, the store "scopegate serve --data-dir DIR"
opens, and writes the keys themselves to --out, one a line (mode 0600), for
"bench --scenario mix --keys-file". The principal is created if missing,
with --scope as its ceiling. The data directory must have been initialized
("scopegate init" or a first "serve"), so that it has its admin key.

Keys are made by the same code as the admin API (generation, hashing with
the directory's pepper or SCOPEGATE_PEPPER, scope and lifetime checks, with
--config's features and key settings) but stored in batches of 5,000 per
transaction, and NOT recorded in the audit log: seed is for benchmark data
directories only. The server must be stopped: seed refuses a directory
whose store another process has open (checked on Linux through /proc).`,
		Example: `  scopegate bench seed --data-dir bench-data --keys 1000000 --principal bench --scope chat --out keys.txt`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.seed(cmd.Context(), e)
		},
	}
	f.server.register(cmd)
	cmd.Flags().IntVar(&f.keys, "keys", 1000, "number of keys to create")
	cmd.Flags().StringVar(&f.principal, "principal", "bench", "principal of the keys, created if missing")
	cmd.Flags().StringVar(&f.audience, "audience", string(apikey.AudienceExternal), "audience of a created principal: external or internal")
	cmd.Flags().StringSliceVar(&f.scopes, "scope", []string{"chat"}, "scopes of the keys (and ceiling of a created principal)")
	cmd.Flags().StringVar(&f.out, "out", "", "file to write the keys to, one a line (required)")
	cmd.Flags().DurationVar(&f.ttl, "ttl", 0, "lifetime of the keys (default: keys.default_ttl)")
	cmd.MarkFlagRequired("out")
	return cmd
}

func (f *seedFlags) seed(ctx context.Context, e *env) error {
	if f.keys < 1 {
		return errors.New("--keys must be at least 1")
	}
	cfg, err := f.server.load(e)
	if err != nil {
		return err
	}
	if cfg.Store.Driver != "sqlite" {
		return fmt.Errorf("seed writes the embedded SQLite store only; the config's store is %s", cfg.Store.Driver)
	}
	dir, err := datadir.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	const dbFile = "scopegate.db"
	if pids := dir.Holders(dbFile); len(pids) > 0 {
		return fmt.Errorf("%s is open in process %v: stop the server before seeding", dir.Join(dbFile), pids)
	}
	pepper, err := dir.Pepper(e.getenv("SCOPEGATE_PEPPER"))
	if err != nil {
		return err
	}
	hasher, err := apikey.NewHasher(pepper)
	if err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, dir.Join(dbFile))
	if err != nil {
		return err
	}
	defer db.Close()
	// A store with no principal gets its first admin key from init or the
	// first serve; a seeded principal would make it look initialized and
	// leave it without one.
	page, err := db.Principals(ctx, apikey.PrincipalFilter{Limit: 1})
	if err != nil {
		return err
	}
	if len(page.Items) == 0 {
		return fmt.Errorf("%s has no principals yet: run \"scopegate init --data-dir %s\" first, which creates the first admin key", cfg.DataDir, cfg.DataDir)
	}
	store := &seedStore{DB: db}
	issuer := apikey.NewIssuer(apikey.IssuerConfig{Store: store, Hasher: hasher, CheckScopes: cfg.CheckScopes,
		DefaultTTL: time.Duration(cfg.Keys.DefaultTTL), MaxTTL: time.Duration(cfg.Keys.MaxTTL)})
	if err := f.ensurePrincipal(ctx, issuer, db); err != nil {
		return err
	}
	started := time.Now()
	n, err := f.createKeys(ctx, issuer, store)
	if err != nil {
		return fmt.Errorf("after %d keys: %w", n, err)
	}
	took := time.Since(started)
	fmt.Fprintf(e.stdout, "created %d keys for %s in %s (%.0f keys/s); keys in %s\n",
		n, f.principal, took.Round(time.Millisecond), float64(n)/took.Seconds(), f.out)
	return nil
}

// ensurePrincipal creates the principal, with the scopes as its ceiling,
// unless it exists.
func (f *seedFlags) ensurePrincipal(ctx context.Context, issuer *apikey.Issuer, db *sqlite.DB) error {
	_, err := db.Principal(ctx, apikey.PrincipalID(f.principal))
	if !errors.Is(err, apikey.ErrNotFound) {
		return err
	}
	_, err = issuer.CreatePrincipal(ctx, apikey.SystemActor, apikey.PrincipalSpec{ID: apikey.PrincipalID(f.principal),
		Kind: apikey.KindService, Audience: apikey.Audience(f.audience), Scopes: f.scopes})
	if err != nil {
		return fmt.Errorf("create principal %s: %w", f.principal, err)
	}
	return nil
}

// createKeys creates the keys in batches and appends each stored batch's
// keys to the output file, so the file never holds a key the store lacks.
func (f *seedFlags) createKeys(ctx context.Context, issuer *apikey.Issuer, store *seedStore) (int, error) {
	out, err := os.OpenFile(f.out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	w := bufio.NewWriterSize(out, 1<<16)
	spec := apikey.KeySpec{Principal: apikey.PrincipalID(f.principal), Name: "bench-seed", Scopes: f.scopes, TTL: f.ttl}
	secrets := make([]apikey.Secret, 0, seedBatch)
	done := 0
	for done < f.keys {
		for range min(seedBatch, f.keys-done) {
			_, secret, err := issuer.CreateKey(ctx, apikey.SystemActor, spec)
			if err != nil {
				return done, err
			}
			secrets = append(secrets, secret)
		}
		if err := store.flush(ctx); err != nil {
			return done, err
		}
		for _, s := range secrets {
			w.WriteString(s.Reveal())
			w.WriteByte('\n')
		}
		done += len(secrets)
		secrets = secrets[:0]
	}
	if err := w.Flush(); err != nil {
		return done, err
	}
	return done, out.Close()
}

// seedStore is the SQLite store with CreateKey deferred: the issuer's keys
// are collected and stored by flush in one transaction. The principal is
// read once, not once per key. It is used by one goroutine.
type seedStore struct {
	*sqlite.DB
	pending   []apikey.Key
	principal *apikey.Principal
}

// CreateKey queues k for the next flush. An id clash, which random ids
// make astronomically unlikely, fails the flush instead of being retried.
func (s *seedStore) CreateKey(_ context.Context, k apikey.Key) error {
	s.pending = append(s.pending, k)
	return nil
}

// Principal returns the principal id, read from the store the first time.
func (s *seedStore) Principal(ctx context.Context, id apikey.PrincipalID) (apikey.Principal, error) {
	if s.principal != nil && s.principal.ID == id {
		return *s.principal, nil
	}
	p, err := s.DB.Principal(ctx, id)
	if err == nil {
		s.principal = &p
	}
	return p, err
}

func (s *seedStore) flush(ctx context.Context) error {
	err := s.DB.CreateKeys(ctx, s.pending)
	s.pending = s.pending[:0]
	return err
}
