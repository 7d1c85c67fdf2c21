package apikey

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Toucher is the part of a KeyStore that LastUsed writes to.
type Toucher interface {
	TouchKeys(ctx context.Context, used map[ID]time.Time) error
}

// LastUsed collects the times keys were used and writes them in batches, so
// a busy key costs one write per interval, not one per request.
type LastUsed struct {
	store  Toucher
	logger *slog.Logger

	mu      sync.Mutex
	pending map[ID]time.Time
}

// NewLastUsed returns a LastUsed writing to store.
func NewLastUsed(store Toucher, logger *slog.Logger) *LastUsed {
	return &LastUsed{store: store, logger: logger, pending: make(map[ID]time.Time)}
}

// Mark records that key id was used at t. It never blocks on I/O.
func (l *LastUsed) Mark(id ID, t time.Time) {
	l.mu.Lock()
	if cur, ok := l.pending[id]; !ok || t.After(cur) {
		l.pending[id] = t
	}
	l.mu.Unlock()
}

// Flush writes what was marked since the last flush. On error the batch is
// kept and merged into the next one.
func (l *LastUsed) Flush(ctx context.Context) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = make(map[ID]time.Time, len(batch))
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := l.store.TouchKeys(ctx, batch); err != nil {
		for id, t := range batch {
			l.Mark(id, t)
		}
		return err
	}
	return nil
}

// Run flushes every interval until ctx is done, then flushes once more.
func (l *LastUsed) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := l.Flush(context.WithoutCancel(ctx)); err != nil {
				l.logger.Warn("flush last_used_at on shutdown", "err", err)
			}
			return
		case <-t.C:
			if err := l.Flush(ctx); err != nil {
				l.logger.Warn("flush last_used_at", "err", err)
			}
		}
	}
}
