package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/datadir"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/store/sqlite"
	"github.com/scopegate/scopegate/internal/usage"
)

// serverFlags are the flags serve and init share; set ones override the
// config file.
type serverFlags struct {
	config  string
	dataDir string
}

func (f *serverFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "", "config file (YAML); none means the embedded defaults")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "data directory (default ./scopegate-data)")
}

// load reads the config file (SCOPEGATE_CONFIG when --config is not set)
// and applies the flags.
func (f *serverFlags) load(e *env) (*config.Config, error) {
	path := f.config
	if path == "" {
		path = e.getenv("SCOPEGATE_CONFIG")
	}
	cfg, err := config.Load(path, e.getenv)
	if err != nil {
		return nil, err
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	return cfg, nil
}

// stack is everything serve and init build from the config: the store, the
// audit log, and the key services on top of them.
type stack struct {
	cfg    *config.Config
	logger *slog.Logger
	now    func() time.Time
	dir    *datadir.Dir
	store  store
	// usage holds the usage reports and alerts the alert groups, in the
	// same database as store.
	usage  usage.Store
	alerts anomaly.Store
	// audit is the embedded audit log, nil in cluster mode (audit.driver
	// postgres); rec is what everything records through, in both modes.
	audit *audit.Log
	rec   auditRecorder
	// pg is the PostgreSQL store, nil on SQLite.
	pg *postgres.DB
	// auditDone receives the audit log's Run result when it stops.
	auditDone chan error
	cache     *proxy.KeyCache
	hasher    *apikey.Hasher
	issuer    *apikey.Issuer
	verifier  *apikey.Verifier
}

// store is what the stack needs of a store adapter.
type store interface {
	apikey.Store
	io.Closer
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// stackOptions are the optional watchers of a stack's audit log, and how
// the store's schema is treated.
type stackOptions struct {
	// migrate applies a PostgreSQL store's pending migrations (init does).
	// Otherwise its schema must already be at this build's version:
	// replicas do not race to migrate at start, "scopegate migrate" does it
	// once. An embedded SQLite store is always migrated: one process owns
	// the file.
	migrate bool
	// observer, if not nil, is told how the audit log performs (metrics).
	observer audit.Observer
	// tap, if not nil, is given every durable record (the detectors).
	tap func(audit.Record)
}

// openStack opens the data directory, the pepper, the store and the audit
// log. The caller must Close the stack.
func openStack(ctx context.Context, e *env, cfg *config.Config, logger *slog.Logger, opts stackOptions) (_ *stack, err error) {
	s := &stack{cfg: cfg, logger: logger, now: time.Now}
	if e.hooks != nil && e.hooks.now != nil {
		s.now = e.hooks.now
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.dir, err = datadir.Open(cfg.DataDir); err != nil {
		return nil, err
	}
	pepper, err := s.dir.Pepper(e.getenv("SCOPEGATE_PEPPER"))
	if err != nil {
		return nil, err
	}
	if s.hasher, err = apikey.NewHasher(pepper); err != nil {
		return nil, err
	}
	switch cfg.Store.Driver {
	case "sqlite":
		var db *sqlite.DB
		if db, err = sqlite.Open(ctx, s.dir.Join("scopegate.db")); err == nil {
			s.store, s.usage, s.alerts = db, sqlite.NewUsageStore(db), sqlite.NewAlertStore(db)
		}
	case "postgres":
		var db *postgres.DB
		if db, err = openPostgres(ctx, cfg.Store.DSN, postgres.Options{Migrate: opts.migrate}); err == nil {
			s.store, s.usage, s.alerts, s.pg = db, postgres.NewUsageStore(db), postgres.NewAlertStore(db), db
		}
	default:
		err = fmt.Errorf("unknown store driver %q", cfg.Store.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", cfg.Store.Driver, err)
	}
	auditOpts := audit.LogOptions{Now: s.now, Logger: logger, CheckpointInterval: time.Duration(cfg.Audit.CheckpointInterval),
		AllowTruncatedBelowCheckpoint: cfg.Audit.AllowTruncated, Observer: opts.observer, Tap: opts.tap}
	if e.hooks != nil && e.hooks.auditFile != nil {
		auditOpts.SyncFile = e.hooks.auditFile
	}
	if cfg.Audit.Driver == "postgres" {
		// Cluster mode: one log for every replica, in the store's database;
		// serve runs the sequencer.
		s.rec = &clusterAudit{app: postgres.NewAuditAppender(s.pg)}
	} else {
		if s.audit, err = audit.OpenLog(s.dir.Join("audit"), auditOpts); err != nil {
			return nil, err
		}
		s.rec = s.audit
		// The log's writer runs for as long as the stack is open:
		// everything that records (bootstrap, the admin API, the data
		// plane) waits on it. Close stops it.
		s.auditDone = make(chan error, 1)
		go func() { s.auditDone <- s.audit.Run(context.WithoutCancel(ctx)) }()
	}
	grace := time.Duration(cfg.Keys.RotationGrace)
	if grace == 0 {
		grace = -1 // config "0s" means no grace; the issuer reads 0 as "default"
	}
	s.cache = proxy.NewKeyCache(s.store, time.Duration(cfg.Proxy.KeyCacheTTL), s.now)
	s.issuer = apikey.NewIssuer(apikey.IssuerConfig{
		Store: s.store, Hasher: s.hasher, Recorder: changeRecorder{cache: s.cache, next: s.rec}, Logger: logger,
		CheckScopes: cfg.CheckScopes, CanRecord: s.rec.Healthy,
		DefaultTTL: time.Duration(cfg.Keys.DefaultTTL), MaxTTL: time.Duration(cfg.Keys.MaxTTL),
		DefaultGrace: grace, Now: s.now,
	})
	s.verifier = apikey.NewVerifier(s.cache, s.hasher, s.now)
	return s, nil
}

// privacy returns how data-plane events record clients and principals. The
// pseudonym key is derived from the pepper, so pseudonyms cannot be undone
// without it.
func (s *stack) privacy() audit.Privacy {
	p := audit.Privacy{TruncateIPs: s.cfg.Audit.TruncateClientIPs}
	if s.cfg.Audit.PseudonymizePrincipals {
		k := s.hasher.Derive("audit pseudonym")
		p.PseudonymKey = k[:]
	}
	return p
}

// Close releases what openStack opened.
func (s *stack) Close() error {
	var errs []error
	if s.audit != nil {
		errs = append(errs, s.audit.Close())
		if s.auditDone != nil {
			if err := <-s.auditDone; err != nil {
				errs = append(errs, fmt.Errorf("audit log: %w", err))
			}
		}
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// Bootstrap names: the first admin principal and its key.
const (
	bootstrapPrincipal = "admin"
	bootstrapKeyName   = "bootstrap"
)

// errInitialized means init found a data store that already has principals.
var errInitialized = errors.New("already initialized: the store has principals")

// bootstrap creates the first admin principal and an admin key for it if
// the store has no principals, and returns the key; errInitialized if it
// has. The key lives for the maximum TTL so a new installation is not
// locked out after the default 90 days.
func (s *stack) bootstrap(ctx context.Context) (apikey.Secret, error) {
	page, err := s.store.Principals(ctx, apikey.PrincipalFilter{Limit: 1})
	if err != nil {
		return apikey.Secret{}, fmt.Errorf("check store: %w", err)
	}
	if len(page.Items) > 0 {
		return apikey.Secret{}, errInitialized
	}
	_, err = s.issuer.CreatePrincipal(ctx, apikey.SystemActor, apikey.PrincipalSpec{
		ID: bootstrapPrincipal, Kind: apikey.KindUser, Audience: apikey.AudienceInternal,
		Scopes: []string{apikey.RoleAdmin.String()},
	})
	if errors.Is(err, apikey.ErrConflict) {
		return apikey.Secret{}, errInitialized // another replica won the race
	}
	if err != nil {
		return apikey.Secret{}, fmt.Errorf("create admin principal: %w", err)
	}
	_, secret, err := s.issuer.CreateKey(ctx, apikey.SystemActor, apikey.KeySpec{
		Principal: bootstrapPrincipal, Name: bootstrapKeyName, Class: apikey.ClassAdmin,
		Scopes: []string{apikey.RoleAdmin.String()}, TTL: s.issuer.MaxTTL(),
	})
	if err != nil {
		return apikey.Secret{}, fmt.Errorf("create admin key: %w", err)
	}
	return secret, nil
}
