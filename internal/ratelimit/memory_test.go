package ratelimit_test

import (
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/ratelimit"
	"github.com/scopegate/scopegate/internal/ratelimit/ratelimittest"
)

func TestMemory(t *testing.T) {
	ratelimittest.Run(t, func(*testing.T) ratelimit.Store {
		return ratelimit.NewMemory(time.Now)
	})
}
