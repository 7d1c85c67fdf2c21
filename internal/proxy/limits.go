package proxy

import (
	"context"
	"log/slog"
	"time"

	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// StoreLimiter enforces the limits of a request's key and principal with a
// ratelimit.Store: it reserves the request's worst case before the call
// and settles to the real usage after it. Refusals are
// *ratelimit.ExceededError values, which the gateway answers with 429.
type StoreLimiter struct {
	store  ratelimit.Store
	logger *slog.Logger
	now    func() time.Time
	// defaultOutput is the output reserved for a request that sets no
	// max_tokens: some cap is needed to bound what one call may spend.
	defaultOutput int64
}

var _ Limiter = (*StoreLimiter)(nil)

// NewStoreLimiter returns a Limiter over store. defaultOutput is the number
// of output tokens reserved when a request names no maximum.
func NewStoreLimiter(store ratelimit.Store, defaultOutput int64, now func() time.Time, logger *slog.Logger) *StoreLimiter {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &StoreLimiter{store: store, logger: logger, now: now, defaultOutput: defaultOutput}
}

// Reserve takes the request's worst case from every limit of its key and
// principal at once, or nothing.
func (l *StoreLimiter) Reserve(ctx context.Context, r LimitRequest) (Reservation, error) {
	limits := ratelimit.AppendLimits(nil, ratelimit.KeyScope(r.Key.ID), r.Key.Limits)
	limits = ratelimit.AppendLimits(limits, ratelimit.PrincipalScope(r.Principal.ID), r.Principal.Limits)
	if len(limits) == 0 {
		return noReservation{}, nil
	}
	out := r.MaxOutputTokens
	if out <= 0 {
		out = l.defaultOutput
	}
	res := &storeReservation{l: l, limits: limits, tokens: r.InputTokens + out, taken: l.now()}
	if err := l.store.Take(ctx, ratelimit.Request{Limits: limits, Tokens: res.tokens, Now: res.taken}); err != nil {
		return nil, err
	}
	return res, nil
}

// storeReservation is a granted reservation, settled once.
type storeReservation struct {
	l      *StoreLimiter
	limits []ratelimit.Limit
	tokens int64
	taken  time.Time
}

// Settle replaces the reservation with the real usage. Without usage (an
// upstream that reports none, a failed call) the reservation is kept:
// what cannot be measured is charged at its worst case.
func (s *storeReservation) Settle(ctx context.Context, u provider.Usage) {
	var delta int64
	if u.Known {
		delta = u.InputTokens + u.OutputTokens - s.tokens
	}
	err := s.l.store.Settle(ctx, ratelimit.Settlement{Limits: s.limits, Taken: s.taken, Tokens: delta, Now: s.l.now()})
	if err != nil {
		s.l.logger.ErrorContext(ctx, "settle limits", logErr, err)
	}
}
