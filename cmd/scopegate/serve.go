package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/metrics"
	"github.com/scopegate/scopegate/internal/notify"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/usage"
)

// lastUsedInterval is how often key last-use times are written: one batch
// per interval instead of one write per request.
const lastUsedInterval = 10 * time.Second

func newServeCmd(e *env) *cobra.Command {
	var f serverFlags
	var listen, adminListen string
	var allowTruncated bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway: the data plane and the admin API",
		Long: `serve runs the data plane (default :8080) and the admin API (default
127.0.0.1:8081). With no config file it runs in embedded mode on
./scopegate-data. On a data directory that has no principals yet it creates
the first admin principal and prints its admin key once on stderr.

An embedded SQLite store is migrated at start. A PostgreSQL store is not:
serve refuses to start unless its schema is at this binary's version; run
"scopegate migrate" once per release, before the replicas.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(e)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if adminListen != "" {
				cfg.AdminListen = adminListen
			}
			cfg.Audit.AllowTruncated = allowTruncated
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			return serve(cmd.Context(), e, cfg)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&listen, "listen", "", "data plane address (default :8080)")
	cmd.Flags().StringVar(&adminListen, "admin-listen", "", "admin API address (default 127.0.0.1:8081)")
	cmd.Flags().BoolVar(&allowTruncated, "allow-truncated-audit", false,
		"start even though the audit log has fewer records than its last signed checkpoint; recorded as an audit.override event")
	cmd.Flags().StringVar(&cpuProfile, "cpu-profile", "",
		"write a CPU profile of the whole run to this file when serve stops (for go tool pprof; docs/benchmarks.md)")
	return cmd
}

// startCPUProfile profiles the process's CPU into path until the returned
// function is called: how the hot path is profiled in the real binary,
// under a real load (docs/benchmarks.md).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func serve(ctx context.Context, e *env, cfg *config.Config) error {
	// Refuse a configuration the data plane cannot serve before anything
	// is created or a first admin key printed.
	if err := proxy.Validate(cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	logger := newLogger(e.stderr, cfg.Log.Level)
	instance, err := instanceID(cfg)
	if err != nil {
		return err
	}
	logger = logger.With(logKeyInstance, instance)
	m := metrics.New()
	if err := m.SetInstance(instance); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	feed := newDetectorFeed(detectorQueue)
	s, err := openStack(ctx, e, cfg, logger, stackOptions{observer: m, tap: feed.tap})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := errors.Join(m.WatchKeyCache(s.cache), watchAuditLog(m, s)); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	var firstKey apikey.Secret
	switch secret, err := s.bootstrap(ctx); {
	case errors.Is(err, errInitialized):
	case err != nil:
		return err
	default:
		firstKey = secret
		fmt.Fprintf(e.stderr, "\nscopegate: created the first admin principal %q. Its admin key, shown once:\n\n    %s\n\nStore it now; it cannot be shown again. Use it as SCOPEGATE_ADMIN_KEY.\n\n",
			bootstrapPrincipal, secret.Reveal())
	}

	dataLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("data plane listen: %w", err)
	}
	defer dataLn.Close()
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		return fmt.Errorf("admin listen: %w", err)
	}
	defer adminLn.Close()

	lastUsed := apikey.NewLastUsed(s.store, logger)
	al := newAlerting(s, s.alerts, alertingOptions{
		GroupWindow: time.Duration(cfg.Alerts.GroupWindow), Actions: cfg.Alerts.Actions, Counter: m,
		Webhook: notify.Config{URL: cfg.Alerts.Webhook.URL.Reveal(), Timeout: time.Duration(cfg.Alerts.Webhook.Timeout),
			MaxAttempts: cfg.Alerts.Webhook.MaxAttempts},
	})
	detectors := anomaly.NewDetectors(cfg.Anomaly.Thresholds())
	if err := watchAnomaly(m, feed, detectors, al); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	expiry := newExpiryScanner(s, expiryScannerConfig{raiser: al.dispatcher, alerts: s.alerts,
		notice: time.Duration(cfg.Alerts.KeyExpiryNotice), interval: time.Duration(cfg.Alerts.KeyExpiryScan)})
	lim := openLimits(cfg, s, al.dispatcher, logger)
	defer lim.close()
	defer lim.Wait() // budget alerts being recorded, before the audit log closes
	usageRec := usage.NewRecorder(s.usage, logger, usage.RecorderOptions{Now: s.now})
	defer func() {
		// Count the calls of the last second in the reports.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := usageRec.Close(cctx); err != nil {
			logger.Error("usage: last counts not stored", "err", err)
		}
		cancel()
	}()
	var pushConnect func(context.Context, *pgx.ConnConfig) (*pgx.Conn, error)
	if e.hooks != nil {
		pushConnect = e.hooks.pushConnect
	}
	push, err := newPushChannel(cfg, s.cache, logger, pushConnect)
	if err != nil {
		return err
	}
	// ready's error is shown on the unauthenticated /readyz, so it names the
	// failing part only; the driver's error, which may name hosts, is logged.
	ready := func(ctx context.Context) error {
		if _, err := s.store.Principals(ctx, apikey.PrincipalFilter{Limit: 1}); err != nil {
			logger.WarnContext(ctx, "readiness: store unreachable", "err", err)
			return errors.New("store unreachable")
		}
		if err := s.rec.Healthy(); err != nil {
			logger.WarnContext(ctx, "readiness: audit log cannot write", "err", err)
			return errors.New("audit log cannot write")
		}
		if lim.ready != nil {
			if err := lim.ready(ctx); err != nil {
				logger.WarnContext(ctx, "readiness: limiter unreachable", "err", err)
				return errLimiterDown
			}
		}
		if push != nil {
			if err := push.ready(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	// The built-in mock stops after the data plane, whose calls it serves.
	mockCtx, stopMock := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMock()
	// The detectors stop after the data plane, whose records they read,
	// and the webhook after the detectors, whose alerts it posts.
	feedCtx, stopFeed := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFeed()
	hookCtx, stopHook := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHook()
	mockURL := ""
	if needsLocalMock(cfg) {
		mockLn, mockSrv, err := startLocalMock(s)
		if err != nil {
			return fmt.Errorf("start built-in mock upstream: %w", err)
		}
		defer mockLn.Close()
		mockURL = "http://" + mockLn.Addr().String()
		g.Go(func() error { return serveUntilDone(mockCtx, mockSrv, mockLn) })
	}
	gw, err := proxy.New(proxy.Config{Logger: logger, Config: cfg, Verifier: s.verifier, Used: lastUsed,
		Auditor: s.rec, Privacy: s.privacy(), MockURL: mockURL, Now: s.now,
		Limiter: lim.StoreLimiter, Usage: usageRec, Metrics: m})
	if err != nil {
		return err
	}
	warnDangling(ctx, logger, s, cfg)
	if cfg.Store.Driver == "postgres" && cfg.Audit.Driver == "file" {
		logger.Warn("audit: store.driver is postgres but audit.driver is file: this replica keeps its own audit log in its data directory; set audit.driver postgres (with audit.signing_key) for one log for the cluster")
	}
	dataHandler, err := newLeakHandler(s, cfg, al.dispatcher, gw, logger)
	if err != nil {
		return err
	}
	dataSrv := newServer(gw.Admit(dataHandler), logger)
	if e.hooks != nil && e.hooks.headerTimeout > 0 {
		dataSrv.ReadHeaderTimeout = e.hooks.headerTimeout
	}
	// The admin API reads the embedded log; the cluster log is read
	// through "audit export" (its routes answer 501).
	var auditReader *auditAPI
	var auditRoutes admin.AuditReader
	if s.audit != nil {
		auditReader = newAuditAPI(s)
		auditRoutes = auditReader
	}
	adminSrv := newServer(withInstanceHeader(instance, admin.NewHandler(admin.Config{Logger: logger, Issuer: s.issuer, Verifier: s.verifier, Ready: ready, Explainer: explainer{gw}, Audit: auditRoutes, Usage: s.usage, Alerts: al.inbox, Now: s.now, Metrics: m.Handler()})), logger)

	g.Go(func() error {
		err := serveUntilDone(gctx, dataSrv, dataLn)
		// Spare connections to the mock would hold its shutdown for
		// seconds.
		gw.CloseIdleConnections()
		stopMock()
		stopFeed()
		return err
	})
	g.Go(func() error { return serveUntilDone(gctx, adminSrv, adminLn) })
	g.Go(func() error { lastUsed.Run(gctx, lastUsedInterval); return nil })
	if push != nil {
		g.Go(func() error { return push.Run(gctx) })
	}
	g.Go(func() error { usageRec.Run(gctx); return nil })
	g.Go(func() error {
		feed.run(feedCtx, detectors, al.dispatcher, logger)
		al.close()
		return nil
	})
	g.Go(func() error { expiry.Run(gctx); return nil })
	g.Go(func() error {
		// Cancelled only if the queued notices outlast the grace below.
		context.AfterFunc(feedCtx, func() { time.AfterFunc(drainTimeout, stopHook) })
		al.run(hookCtx)
		return nil
	})
	var pub *audit.Publisher
	if s.audit != nil {
		pub = newPublisher(cfg.Audit.Publish, s.audit, logger)
	}
	if pub != nil {
		g.Go(func() error { return pub.Run(gctx) })
	}
	if cfg.Audit.Driver == "postgres" {
		signer, err := clusterSigner(cfg)
		if err != nil {
			return err
		}
		// Every replica runs one; the one holding the advisory lock
		// sequences the cluster log and signs its checkpoints.
		// The leader feeds the detectors with the records it sequences.
		seq := postgres.NewAuditSequencer(s.pg, signer, postgres.AuditSequencerOptions{Logger: logger, Now: s.now,
			CheckpointInterval: time.Duration(cfg.Audit.CheckpointInterval), Tap: feed.tap})
		g.Go(func() error { return seq.Run(gctx) })
	}

	logger.Info("scopegate serving", "data_plane", dataLn.Addr().String(), "admin", adminLn.Addr().String(),
		"store", cfg.Store.Driver, "data_dir", cfg.DataDir)
	if e.hooks != nil && e.hooks.started != nil {
		e.hooks.started <- serveInfo{DataAddr: dataLn.Addr().String(), AdminAddr: adminLn.Addr().String(), AdminKey: firstKey.Reveal()}
	}
	err = g.Wait()
	// The admin server has stopped: no query uses the audit index any more.
	if auditReader != nil {
		err = errors.Join(err, auditReader.Close())
	}
	if pub != nil {
		// Sign over everything recorded and publish it once more, so the
		// last checkpoint leaves the machine before the process does.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if serr := s.audit.SignNow(sctx); serr != nil {
			logger.Warn("audit: final checkpoint not signed", "err", serr)
		}
		pub.PublishNow(sctx)
		cancel()
	}
	logger.Info("scopegate stopped")
	return err
}

// warnDangling logs every key and principal scope the configuration does
// not serve, so a config change that strands keys is seen at start-up.
func warnDangling(ctx context.Context, logger *slog.Logger, s *stack, cfg *config.Config) {
	lines, err := danglingScopes(ctx, s.store, cfg)
	if err != nil {
		logger.WarnContext(ctx, "could not check scopes against the configuration", "err", err)
		return
	}
	for _, l := range lines {
		logger.WarnContext(ctx, "scope not served by the configuration", "detail", l)
	}
}

func newServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveUntilDone serves on ln until ctx is done, then shuts down, letting
// requests in flight finish for up to 15 seconds.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
