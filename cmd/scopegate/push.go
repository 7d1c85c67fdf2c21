package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/store/postgres"
)

// errPushDown is the readiness error while the change notifications have
// been down for longer than proxy.push_grace.
var errPushDown = errors.New("change notifications down")

// pushChannel keeps a replica's key cache in step with the changes other
// replicas commit (docs/cluster.md, "Revocation"): each change notified
// on the postgres store drops the cached records it names; while the
// notifications have been down for longer than grace the cache is
// bypassed, and after each reconnection it is dropped whole, since
// changes may have been missed.
type pushChannel struct {
	listener *postgres.Listener
	cache    *proxy.KeyCache
	grace    time.Duration
	logger   *slog.Logger
}

// newPushChannel returns the push channel of a replica on the postgres
// store, or nil for other stores, whose changes all go through this
// process. connect, if not nil, replaces the listener's dialer (tests).
func newPushChannel(cfg *config.Config, cache *proxy.KeyCache, logger *slog.Logger,
	connect func(context.Context, *pgx.ConnConfig) (*pgx.Conn, error)) (*pushChannel, error) {
	if cfg.Store.Driver != "postgres" {
		return nil, nil
	}
	p := &pushChannel{cache: cache, grace: time.Duration(cfg.Proxy.PushGrace), logger: logger}
	l, err := postgres.NewListener(cfg.Store.DSN, p.handle, postgres.ListenerOptions{
		Logger: logger,
		// A live connection proves itself at least once a keepalive; it
		// must do so well within the grace.
		Keepalive: min(postgres.DefaultKeepalive, p.grace/2),
		OnConnect: cache.Forget,
		Connect:   connect,
	})
	if err != nil {
		return nil, err
	}
	p.listener = l
	return p, nil
}

func (p *pushChannel) handle(c postgres.Change) {
	if c.Key != "" {
		p.cache.ForgetKey(c.Key)
	}
	if c.Principal != "" {
		p.cache.ForgetPrincipal(c.Principal)
	}
}

// down reports whether the notifications have not been shown to work for
// longer than the grace (or ever).
func (p *pushChannel) down(now time.Time) bool {
	return pushDown(p.listener.Health(), now, p.grace)
}

func pushDown(h postgres.ListenerHealth, now time.Time, grace time.Duration) bool {
	return h.LastAlive.IsZero() || now.Sub(h.LastAlive) > grace
}

// ready is the push channel's part of /readyz.
func (p *pushChannel) ready(ctx context.Context) error {
	if p.down(time.Now()) {
		h := p.listener.Health()
		p.logger.WarnContext(ctx, "readiness: change notifications down", "since", h.LastAlive, "err", h.LastError)
		return errPushDown
	}
	return nil
}

// Run listens until ctx is done, and bypasses the cache while the
// notifications are down. It uses the wall clock: it measures the
// connection, not the gateway's notion of time.
func (p *pushChannel) Run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- p.listener.Run(ctx) }()
	tick := time.NewTicker(min(100*time.Millisecond, max(p.grace/10, time.Millisecond)))
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case now := <-tick.C:
			switch down := p.down(now); {
			case down && !p.cache.Bypassed():
				p.cache.Bypass()
				p.logger.WarnContext(ctx, "change notifications down: key cache bypassed", "grace", p.grace)
			case !down && p.cache.Bypassed():
				p.cache.Resume()
				p.logger.InfoContext(ctx, "change notifications back: key cache in use")
			}
		}
	}
}
