package postgres_test

import (
	"testing"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/anomaly/alerttest"
	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/testenv"
)

func TestAlertStore(t *testing.T) {
	testenv.PostgresDSN(t) // skip once here rather than in every subtest
	alerttest.Run(t, func(t *testing.T) anomaly.Store {
		return postgres.NewAlertStore(mustOpen(t, small(testenv.PostgresSchema(t))))
	})
}
