package ratelimit

import (
	"fmt"
	"strings"
	"time"
)

// ExceededError is the refusal of a request by a limit.
type ExceededError struct {
	// Limit is the limit that refused, the one with the longest wait if
	// several did.
	Limit Limit
	// RetryAfter is how long to wait before the request can pass that
	// limit; always positive.
	RetryAfter time.Duration
}

func (e *ExceededError) Error() string {
	who, id, _ := strings.Cut(e.Limit.Scope, ":")
	what := "rate limit"
	if e.Limit.Kind.Reason() == "budget_exceeded" {
		what = "budget"
	}
	return fmt.Sprintf("%s exceeded: %s %s limit %s of %d; retry after %s",
		what, who, id, e.Limit.Kind, e.Limit.Max, e.RetryAfter.Round(time.Millisecond))
}

// LimitExceeded returns the audit reason, "rate_limited" or
// "budget_exceeded", and RetryAfter.
func (e *ExceededError) LimitExceeded() (reason string, retryAfter time.Duration) {
	return e.Limit.Kind.Reason(), e.RetryAfter
}
