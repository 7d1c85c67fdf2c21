package ratelimit

import (
	"context"
	"time"
)

// Store holds the counters of every limit and applies the semantics in the
// package documentation. Implementations are safe for concurrent use, and
// a Store shared by several gateway instances (Redis) gives every instance
// the same answers as one would.
type Store interface {
	// Take checks every limit of r and, only if all of them pass, takes
	// r's cost from all of them, atomically: no other Take or Settle is
	// seen between the check and the take. A refusal takes nothing and is
	// an *ExceededError naming the limit with the longest RetryAfter. A
	// request that does not validate fails with an error wrapping
	// ErrInvalid; any other error (a backend that cannot be reached) means
	// nothing is known to be taken and the caller must fail closed. Take
	// does not retry.
	Take(ctx context.Context, r Request) (Grant, error)
	// Settle applies s once for a granted Take: token limits move by
	// s.Tokens, cost limits by s.Cost (per-day and per-month limits in the
	// window of s.Taken, see the package documentation), and concurrency
	// limits drop the lease of s.ID (settling an ID that holds none, or
	// settling twice, changes nothing). Request limits are unchanged.
	// Counters never go below zero. It returns the quotas after the
	// settlement, one per s.Limits in the same order; a budget's Max minus
	// Remaining is what it has used, which is what threshold alerts read.
	// Settle never refuses; an error means the backend could not be
	// reached, and the caller may retry it.
	Settle(ctx context.Context, s Settlement) ([]Quota, error)
}

// Grant is a granted Take.
type Grant struct {
	// At is the time the store decided at: r.Now, or when r.Now is zero
	// the store's own clock (the Redis server's clock for the Redis store,
	// so that every gateway replica shares one clock). Settlement.Taken
	// should be set to it.
	At time.Time
	// Quotas has one entry per r.Limits, in the same order: what is left
	// after the take.
	Quotas []Quota
}

// Quota is the state of one limit after a Take or Settle.
type Quota struct {
	Limit Limit
	// Remaining is how many more units the limit would admit right now
	// (never negative): for a per-minute limit floor((1min − (TAT − now))
	// · Max / 1min) clamped to [0, Max], the largest cost a Take would
	// pass; for a budget Max − used; for concurrency Max − in flight.
	Remaining int64
	// Reset is how long until the limit is whole again: for a per-minute
	// limit TAT − now, for a budget until its window ends, for concurrency
	// 0 (when a slot frees is not known).
	Reset time.Duration
	// Used is, for a budget, what its window has used, which an
	// overspend settled after the call can take past Max; 0 for other
	// kinds. Budget alerts compare it with their thresholds.
	Used int64
}
