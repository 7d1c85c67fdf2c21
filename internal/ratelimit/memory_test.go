package ratelimit_test

import (
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/ratelimit"
	"github.com/scopegate/scopegate/internal/ratelimit/ratelimittest"
)

func TestMemory(t *testing.T) {
	ratelimittest.Run(t, func(_ *testing.T, now func() time.Time) ratelimit.Store {
		return ratelimit.NewMemory(now)
	})
}
