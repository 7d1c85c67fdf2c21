package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Listener defaults.
const (
	// DefaultKeepalive is how long a Listener waits for a notification
	// before it proves its connection with a query.
	DefaultKeepalive = time.Second
	// minBackoff and maxBackoff bound the wait between reconnection
	// attempts; it doubles after each failure.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// ListenerOptions are a Listener's optional settings.
type ListenerOptions struct {
	// Logger receives connection losses and bad payloads; nil discards.
	Logger *slog.Logger
	// Keepalive is how long the listener waits for a notification before
	// it runs "SELECT 1", and how long that query may take; a connection
	// that dies silently is noticed within twice this (default
	// DefaultKeepalive).
	Keepalive time.Duration
	// OnConnect, if not nil, is called each time LISTEN is in place on a
	// new connection, before any of its notifications is handled.
	// Notifications sent while the listener was not connected are lost,
	// so this is where a cache that depends on them is dropped.
	OnConnect func()
	// Connect opens the listener's connection (default pgx.ConnectConfig);
	// tests replace it to keep the listener from connecting.
	Connect func(context.Context, *pgx.ConnConfig) (*pgx.Conn, error)
}

// ListenerHealth is the state of a Listener's connection.
type ListenerHealth struct {
	// Connected reports whether LISTEN is in place on a live connection.
	Connected bool
	// Since is when the listener connected, if Connected, or else when it
	// last lost its connection (or started).
	Since time.Time
	// LastAlive is the last time the connection was shown to work: LISTEN
	// in place, a notification or a keepalive answered. A connection can
	// die without a word; a LastAlive older than twice the keepalive
	// means it is probably dead even if Connected is still true.
	LastAlive time.Time
	// LastError is why the last connection ended or the last attempt
	// failed, nil if none has.
	LastError error
	// PID is the server process of the current connection, 0 if none.
	PID uint32
}

// Listener receives the changes announced on [ChangesChannel] over a
// connection of its own (LISTEN cannot share a pooled connection), and
// reconnects with backoff when it loses it. Run runs it; Health may be
// called concurrently.
type Listener struct {
	cfg    *pgx.ConnConfig
	handle func(Change)
	opts   ListenerOptions

	mu     sync.Mutex
	health ListenerHealth
}

// NewListener returns a listener for the database at dsn that passes each
// change to handle, from Run's goroutine, in the order they were
// committed.
func NewListener(dsn string, handle func(Change), opts ListenerOptions) (*Listener, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return nil, errors.New("postgres listener: cannot parse the DSN")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Keepalive <= 0 {
		opts.Keepalive = DefaultKeepalive
	}
	if opts.Connect == nil {
		opts.Connect = pgx.ConnectConfig
	}
	return &Listener{cfg: cfg, handle: handle, opts: opts, health: ListenerHealth{Since: time.Now()}}, nil
}

// Health returns the state of the listener's connection.
func (l *Listener) Health() ListenerHealth {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

// Run listens until ctx is done, reconnecting after every loss, and
// returns nil then.
func (l *Listener) Run(ctx context.Context) error {
	backoff := minBackoff
	for {
		start := time.Now()
		err := l.session(ctx)
		if ctx.Err() != nil {
			l.down(nil)
			return nil
		}
		l.down(err)
		l.opts.Logger.WarnContext(ctx, "change notifications: connection lost", "err", err)
		if time.Since(start) > maxBackoff {
			backoff = minBackoff // it worked for a while: retry soon
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session connects, listens, and handles notifications until the
// connection fails or ctx is done.
func (l *Listener) session(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*l.opts.Keepalive)
	conn, err := l.opts.Connect(cctx, l.cfg.Copy())
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		conn.Close(cctx)
		cancel()
	}()
	lctx, cancel := context.WithTimeout(ctx, 5*l.opts.Keepalive)
	_, err = conn.Exec(lctx, "LISTEN "+pgx.Identifier{ChangesChannel}.Sanitize())
	cancel()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	l.up(conn.PgConn().PID())
	if l.opts.OnConnect != nil {
		l.opts.OnConnect()
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, l.opts.Keepalive)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.alive()
			c, err := parseChange(n.Payload)
			if err != nil {
				l.opts.Logger.WarnContext(ctx, "change notifications: bad payload", "err", err)
				continue
			}
			l.handle(c)
		case ctx.Err() != nil:
			return ctx.Err()
		case pgconn.Timeout(err):
			pctx, cancel := context.WithTimeout(ctx, l.opts.Keepalive)
			_, err := conn.Exec(pctx, "SELECT 1")
			cancel()
			if err != nil {
				return fmt.Errorf("keepalive: %w", err)
			}
			l.alive()
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

func (l *Listener) up(pid uint32) {
	now := time.Now()
	l.mu.Lock()
	l.health.Connected, l.health.Since, l.health.LastAlive, l.health.PID = true, now, now, pid
	l.mu.Unlock()
}

func (l *Listener) alive() {
	now := time.Now()
	l.mu.Lock()
	l.health.LastAlive = now
	l.mu.Unlock()
}

// down records the end of a connection, or a failed attempt, because of
// err (nil when the listener stops).
func (l *Listener) down(err error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.health.Connected {
		l.health.Connected, l.health.Since, l.health.PID = false, now, 0
	}
	if err != nil {
		l.health.LastError = err
	}
}
