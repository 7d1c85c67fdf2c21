package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
	"github.com/scopegate/scopegate/internal/store/redis"
)

// Redis client timeouts: a limit check is on the path of every call, so a
// Redis that does not answer fails the call (503) quickly instead of
// holding it.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = time.Second
)

// limits is the data plane's limiter with what serve needs around it.
type limits struct {
	*proxy.StoreLimiter
	// ready reports whether the limiter's store answers; nil when it is in
	// memory.
	ready func(context.Context) error
	// close releases the Redis client.
	close func() error
}

// openLimits builds the limiter the config describes: counters in memory
// or in Redis, with the defaults and prices of the config; budget alerts
// go to alerts.
func openLimits(cfg *config.Config, s *stack, alerts proxy.AlertRecorder, logger *slog.Logger) *limits {
	l := &limits{close: func() error { return nil }}
	var store ratelimit.Store
	now := s.now // memory: the gateway's clock
	switch cfg.Limits.Driver {
	case "redis":
		opts := &goredis.Options{
			Addr: cfg.Limits.Addr, Username: cfg.Limits.Username, Password: cfg.Limits.Password.Reveal(), DB: cfg.Limits.DB,
			// A retried Take whose answer was lost would take twice: the
			// gateway answers 503 instead and the client retries.
			MaxRetries: -1,
			// One dial attempt: go-redis makes 5 by default, so an
			// unreachable Redis would hold each call 5 × redisDialTimeout.
			DialerRetries: 1,
			DialTimeout:   redisDialTimeout, ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout,
			PoolTimeout: redisIOTimeout,
		}
		if cfg.Limits.TLS {
			host, _, _ := net.SplitHostPort(cfg.Limits.Addr)
			opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
		}
		// go-redis logs through a process-wide logger; send its lines to
		// ours, as JSON, instead of its own format on stderr.
		goredis.SetLogger(redisLogger{logger})
		client := goredis.NewClient(opts)
		store = redis.New(client, redis.Options{Prefix: cfg.Limits.Prefix})
		now = nil // the Redis server's clock, shared by every replica
		l.ready = func(ctx context.Context) error { return client.Ping(ctx).Err() }
		l.close = client.Close
	default:
		store = ratelimit.NewMemory(s.now)
	}
	failOpen := make([]ratelimit.Kind, 0, len(cfg.Limits.FailOpen))
	for _, k := range cfg.Limits.FailOpen {
		failOpen = append(failOpen, ratelimit.Kind(k))
	}
	if len(failOpen) > 0 {
		logger.Warn("LIMITS FAIL OPEN: while the limiter cannot be reached, requests whose limits are all of these kinds are forwarded UNLIMITED",
			"kinds", cfg.Limits.FailOpen, "driver", cfg.Limits.Driver)
	}
	audiences := make(map[apikey.Audience]apikey.Limits, len(cfg.Limits.Audiences))
	for a, v := range cfg.Limits.Audiences {
		audiences[apikey.Audience(a)] = v.Limits()
	}
	features := make(map[string]apikey.Limits)
	for name, f := range cfg.Features {
		if f.Limits != nil {
			features[name] = f.Limits.Limits()
		}
	}
	l.StoreLimiter = proxy.NewStoreLimiter(proxy.LimiterConfig{
		Store: store, DefaultOutput: cfg.Limits.DefaultOutputTokens, Lease: time.Duration(cfg.Limits.ConcurrencyLease),
		FailOpen: failOpen, Audiences: audiences, Features: features, Prices: proxy.PricesOf(cfg),
		BudgetAlerts: cfg.Limits.BudgetAlerts, Alerts: alerts, Principal: s.privacy().Principal,
		Now: now, Logger: logger,
	})
	return l
}

// errLimiterDown is what /readyz shows when the limiter's store does not
// answer; the driver's error, which may name hosts, is logged.
var errLimiterDown = errors.New("limiter unreachable")

// redisLogger passes go-redis's log lines (pool dial failures during an
// outage) to the gateway's logger as warnings.
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
