package ratelimit

import "context"

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
	Take(ctx context.Context, r Request) error
	// Settle applies s once for a granted Take: token limits move by
	// s.Tokens, cost limits by s.Cost (per-day and per-month limits in the
	// window of s.Taken, see the package documentation), and concurrency
	// limits give back their slot. Request limits are unchanged. Counters
	// never go below zero. Settle never refuses; an error means the
	// backend could not be reached, and the caller may retry it.
	Settle(ctx context.Context, s Settlement) error
}
