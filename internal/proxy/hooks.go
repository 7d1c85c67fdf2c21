package proxy

import (
	"context"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// Auditor records decisions. Authz must make the event durable before it
// returns nil: the request is forwarded only after that, and refused with
// 503 if it fails (no record, no call). *audit.Log is an Auditor.
type Auditor interface {
	Authz(ctx context.Context, e audit.Authz) error
	Usage(ctx context.Context, e audit.Usage) error
}

// LimitRequest is what a Limiter decides on: who calls, what, and the
// worst case the call may cost.
type LimitRequest struct {
	Key       *apikey.Key
	Principal *apikey.Principal
	Feature   string
	Resource  string
	// InputTokens is an estimate of the prompt's size; MaxOutputTokens is
	// the request's own cap (0 when it gave none).
	InputTokens     int64
	MaxOutputTokens int64
	// RequestID is the gateway's id of the request, which holds its
	// concurrency slots until the reservation is settled.
	RequestID string
	// Metered is set for model calls, whose responses report token usage:
	// token and cost limits apply only to them.
	Metered bool
	// Choices is how many completions the request asks for ("n"); each
	// may produce up to the output cap.
	Choices int64
	// NoOutput is set for calls that produce no output tokens
	// (embeddings): none is reserved.
	NoOutput bool
}

// Limiter reserves a request's cost before it is forwarded and settles it
// from the real usage after. A refusal is an error implementing
// LimitExceeded (answered 429); any other error fails closed (503).
type Limiter interface {
	Reserve(ctx context.Context, r LimitRequest) (Reservation, error)
}

// Reservation is a granted request's hold on its limits.
type Reservation interface {
	// Settle replaces the reservation with the real usage. It is called
	// exactly once, also for failed and aborted calls.
	Settle(ctx context.Context, u provider.Usage)
	// Quotas returns the state of the request's limits after the
	// reservation, for the response's limit headers; nil when none.
	Quotas() []ratelimit.Quota
	// OutputTokens returns the output tokens reserved, 0 when no limit
	// counts tokens.
	OutputTokens() int64
	// OutputCap returns the output per choice the reservation assumed for
	// a request that named no maximum, to be forwarded as its maximum; 0
	// when nothing needs capping.
	OutputCap() int64
}

// LimitExceeded is implemented by the errors a Limiter returns for a
// refusal: which limit, and when to retry.
type LimitExceeded interface {
	error
	// LimitExceeded returns the audit reason ("rate_limited",
	// "budget_exceeded") and how long the client should wait.
	LimitExceeded() (reason string, retryAfter time.Duration)
}

// noLimits is the Limiter used when none is configured: every request is
// granted and nothing is counted.
type noLimits struct{}

func (noLimits) Reserve(context.Context, LimitRequest) (Reservation, error) {
	return noReservation{}, nil
}

type noReservation struct{}

func (noReservation) Settle(context.Context, provider.Usage) {}
func (noReservation) Quotas() []ratelimit.Quota              { return nil }
func (noReservation) OutputTokens() int64                    { return 0 }
func (noReservation) OutputCap() int64                       { return 0 }
