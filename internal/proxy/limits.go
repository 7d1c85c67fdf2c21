package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// LimiterConfig configures a [StoreLimiter].
type LimiterConfig struct {
	// Store holds the counters: in memory, or shared in Redis.
	Store ratelimit.Store
	// DefaultOutput is the number of output tokens reserved for a request
	// that names no maximum: some cap is needed to bound what one call may
	// spend.
	DefaultOutput int64
	// Lease is the longest a request holds a concurrency slot if its
	// settlement is lost; zero means ratelimit.DefaultLease.
	Lease time.Duration
	// FailOpen are the kinds of limit under which a request is forwarded
	// unlimited when Store cannot be reached; a request with any other
	// limit is refused (503).
	FailOpen []ratelimit.Kind
	// Audiences are default limits of the keys of principals of each
	// audience, which are also ceilings: a key gets the default of every
	// kind it does not set, and the lower of the two of every kind it
	// does.
	Audiences map[apikey.Audience]apikey.Limits
	// Features are limits every key has on its calls to a feature,
	// counted per key and feature.
	Features map[string]apikey.Limits
	// Prices price models for cost limits, by model id ("*" for the
	// rest); see PricesOf.
	Prices map[string]Price
	// BudgetAlerts are the percentages of a budget that raise an
	// alert.budget event on Alerts, once each per window.
	BudgetAlerts []int
	Alerts       AlertRecorder
	// Principal maps a principal id to what alerts record (a pseudonym
	// when the audit log pseudonymizes principals); nil records the id.
	Principal func(id string) string
	// Now is the clock of decisions; nil means the store's own clock (the
	// Redis server's, shared by every replica).
	Now    func() time.Time
	Logger *slog.Logger
}

// StoreLimiter enforces the limits of a request's key, its principal and
// its feature with a ratelimit.Store: it reserves the request's worst case
// before the call and settles to the real usage after it. Refusals are
// *ratelimit.ExceededError values, which the gateway answers with 429.
type StoreLimiter struct {
	cfg    LimiterConfig
	logger *slog.Logger
	budget *budgetWatch
	// lastOpen is when a fail-open was last logged (Unix nanoseconds), so
	// an outage logs once a second, not once a request.
	lastOpen atomic.Int64
	wg       sync.WaitGroup // dropLeases
}

var _ Limiter = (*StoreLimiter)(nil)

// NewStoreLimiter returns a Limiter configured by cfg.
func NewStoreLimiter(cfg LimiterConfig) *StoreLimiter {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &StoreLimiter{cfg: cfg, logger: cfg.Logger, budget: newBudgetWatch(cfg.BudgetAlerts, cfg.Alerts, cfg.Logger)}
}

// Wait waits until the alerts being recorded are written and the slots
// being given back after a failure are.
func (l *StoreLimiter) Wait() {
	l.budget.wait()
	l.wg.Wait()
}

// FeatureScope returns the scope of the limits a feature sets on each key
// that calls it.
func FeatureScope(id apikey.ID, feature string) string {
	return ratelimit.KeyScope(id) + "/feature:" + feature
}

// Limits returns every limit that applies to a call of key, of principal,
// to feature.
func (l *StoreLimiter) Limits(key *apikey.Key, principal *apikey.Principal, feature string) []ratelimit.Limit {
	own := withDefaults(key.Limits, l.cfg.Audiences[principal.Audience])
	// Room for every kind of limit (seven) for the key, the key's feature
	// and the principal: one allocation, not one per doubling.
	limits := ratelimit.AppendLimits(make([]ratelimit.Limit, 0, 3*7), ratelimit.KeyScope(key.ID), own)
	if fl, ok := l.cfg.Features[feature]; ok {
		limits = ratelimit.AppendLimits(limits, FeatureScope(key.ID, feature), fl)
	}
	return ratelimit.AppendLimits(limits, ratelimit.PrincipalScope(principal.ID), principal.Limits)
}

// withDefaults returns own with every limit that def sets capped by it:
// the default of a kind own leaves unset, the lower of the two otherwise.
// A key's own limits are set by whoever manages it, self-service
// included, so audience defaults are ceilings it cannot raise.
func withDefaults(own, def apikey.Limits) apikey.Limits {
	pick := func(a, b int64) int64 {
		switch {
		case b == 0:
			return a
		case a == 0:
			return b
		}
		return min(a, b)
	}
	return apikey.Limits{
		RequestsPerMinute: pick(own.RequestsPerMinute, def.RequestsPerMinute),
		TokensPerMinute:   pick(own.TokensPerMinute, def.TokensPerMinute),
		Concurrent:        pick(own.Concurrent, def.Concurrent),
		TokensPerDay:      pick(own.TokensPerDay, def.TokensPerDay),
		TokensPerMonth:    pick(own.TokensPerMonth, def.TokensPerMonth),
		CostPerDay:        apikey.Micros(pick(int64(own.CostPerDay), int64(def.CostPerDay))),
		CostPerMonth:      apikey.Micros(pick(int64(own.CostPerMonth), int64(def.CostPerMonth))),
	}
}

// UnpricedError refuses a request with a cost limit for a model the
// price table does not price: the limit cannot be checked, so the request
// is not forwarded.
type UnpricedError struct{ Model string }

func (e *UnpricedError) Error() string {
	return fmt.Sprintf("a cost limit applies to this request, but model %q has no price in the gateway's configuration; the operator must add it to prices", e.Model)
}

// Reserve takes the request's worst case from every limit that applies at
// once, or nothing.
func (l *StoreLimiter) Reserve(ctx context.Context, r LimitRequest) (Reservation, error) {
	limits := l.Limits(r.Key, r.Principal, r.Feature)
	if !r.Metered {
		limits = slices.DeleteFunc(limits, countsUsage)
	}
	if len(limits) == 0 {
		return noReservation{}, nil
	}
	principal := string(r.Principal.ID)
	if l.cfg.Principal != nil {
		principal = l.cfg.Principal(principal)
	}
	res := &storeReservation{l: l, limits: limits, id: r.RequestID, principal: principal}
	if r.Metered && !r.NoOutput {
		// Each choice may produce up to the request's maximum, or, when it
		// names none, the default, which is then forwarded as its maximum.
		perChoice := r.MaxOutputTokens
		if perChoice <= 0 {
			perChoice = l.cfg.DefaultOutput
			res.outputCap = perChoice
		}
		res.output = mulTokens(perChoice, max(r.Choices, 1))
	}
	res.tokens = addTokens(r.InputTokens, res.output)
	if hasCost(limits) {
		price, ok := l.price(r.Resource)
		if !ok {
			return nil, &UnpricedError{Model: r.Resource}
		}
		res.price, res.cost = price, int64(price.Cost(r.InputTokens, res.output))
	}
	req := ratelimit.Request{Limits: limits, Tokens: res.tokens, Cost: res.cost, ID: r.RequestID,
		Lease: l.cfg.Lease, Now: l.now()}
	grant, err := l.cfg.Store.Take(ctx, req)
	if err != nil {
		if _, refused := errors.AsType[*ratelimit.ExceededError](err); refused || errors.Is(err, ratelimit.ErrInvalid) {
			return nil, err
		}
		// The take may have happened and only its answer been lost: drop
		// the concurrency lease it may hold, or the slot stays taken for
		// the whole lease.
		l.dropLeases(limits, r.RequestID)
		if l.failsOpen(limits) {
			l.logFailOpen(ctx, err)
			return noReservation{}, nil
		}
		return nil, err
	}
	res.taken, res.quotas = grant.At, grant.Quotas
	l.budget.observe(grant.Quotas, res.tokens, res.cost, res.principal, grant.At)
	return res, nil
}

// price returns the price of model, if it has one.
func (l *StoreLimiter) price(model string) (Price, bool) { return LookupPrice(l.cfg.Prices, model) }

func (l *StoreLimiter) now() time.Time {
	if l.cfg.Now == nil {
		return time.Time{}
	}
	return l.cfg.Now()
}

// failsOpen reports whether every limit in limits is of a fail-open kind.
func (l *StoreLimiter) failsOpen(limits []ratelimit.Limit) bool {
	for _, lim := range limits {
		if !slices.Contains(l.cfg.FailOpen, lim.Kind) {
			return false
		}
	}
	return true
}

func (l *StoreLimiter) logFailOpen(ctx context.Context, err error) {
	now := time.Now().UnixNano()
	last := l.lastOpen.Load()
	if now-last < int64(time.Second) || !l.lastOpen.CompareAndSwap(last, now) {
		return
	}
	l.logger.WarnContext(ctx, "limiter unreachable: forwarding requests unlimited (limits.fail_open)", logErr, err)
}

// countsUsage reports whether l counts tokens or cost, which only calls
// that report usage can be charged.
func countsUsage(l ratelimit.Limit) bool {
	return l.Kind != ratelimit.RequestsPerMinute && l.Kind != ratelimit.Concurrent
}

// dropLeases gives back, in the background, the concurrency slots of
// request id among limits: a settlement of those limits alone, which is
// safe to repeat (a lease is dropped once), unlike one that moves tokens.
func (l *StoreLimiter) dropLeases(limits []ratelimit.Limit, id string) {
	var leases []ratelimit.Limit
	for _, lim := range limits {
		if lim.Kind == ratelimit.Concurrent {
			leases = append(leases, lim)
		}
	}
	if len(leases) == 0 {
		return
	}
	l.wg.Go(func() {
		for attempt := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := l.cfg.Store.Settle(ctx, ratelimit.Settlement{Limits: leases, ID: id})
			cancel()
			if err == nil {
				return
			}
			time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
		}
		l.logger.Warn("concurrency slot not given back; it frees when its lease ends", logRequestID, id)
	})
}

// mulTokens multiplies non-negative counts, saturating.
func mulTokens(a, b int64) int64 {
	if b != 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

func hasCost(limits []ratelimit.Limit) bool {
	for _, l := range limits {
		if l.Kind == ratelimit.CostPerDay || l.Kind == ratelimit.CostPerMonth {
			return true
		}
	}
	return false
}

// addTokens adds non-negative counts, saturating.
func addTokens(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// storeReservation is a granted reservation, settled once.
type storeReservation struct {
	l         *StoreLimiter
	limits    []ratelimit.Limit
	id        string
	principal string
	// output is the output tokens reserved (all choices); tokens, input
	// and output; outputCap, the per-choice cap to forward, if any.
	output, tokens, outputCap int64
	price                     Price
	cost                      int64
	taken                     time.Time
	quotas                    []ratelimit.Quota
}

// Quotas returns the state of the limits after the reservation.
func (s *storeReservation) Quotas() []ratelimit.Quota { return s.quotas }

// OutputCap returns the output per choice reserved for a request that
// named no maximum, 0 when it named one or no limit counts tokens or cost.
func (s *storeReservation) OutputCap() int64 {
	if s.OutputTokens() == 0 {
		return 0
	}
	return s.outputCap
}

// OutputTokens returns the output tokens reserved, or 0 when no limit
// counts tokens or cost: a stream is only cut to protect such a limit.
func (s *storeReservation) OutputTokens() int64 {
	if slices.ContainsFunc(s.limits, countsUsage) {
		return s.output
	}
	return 0
}

// Settle replaces the reservation with the real usage. Without usage (an
// upstream that reports none, a failed call) the reservation is kept:
// what cannot be measured is charged at its worst case.
func (s *storeReservation) Settle(ctx context.Context, u provider.Usage) {
	var tokens, cost int64
	if u.Known {
		tokens = addTokens(u.InputTokens, u.OutputTokens) - s.tokens
		if s.cost > 0 || hasCost(s.limits) {
			cost = int64(s.price.Cost(u.InputTokens, u.OutputTokens)) - s.cost
		}
	}
	st := ratelimit.Settlement{Limits: s.limits, Taken: s.taken, Tokens: tokens, Cost: cost, ID: s.id, Now: s.l.now()}
	quotas, err := s.l.cfg.Store.Settle(ctx, st)
	if err != nil {
		s.l.logger.ErrorContext(ctx, "settle limits", logErr, err)
		s.l.dropLeases(s.limits, s.id)
		return
	}
	at := st.Now
	if at.IsZero() {
		at = time.Now()
	}
	s.l.budget.observe(quotas, max(tokens, 0), max(cost, 0), s.principal, at)
}
