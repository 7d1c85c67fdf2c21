package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/anomaly/alerttest"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

func TestAlertStore(t *testing.T) {
	alerttest.Run(t, func(t *testing.T) anomaly.Store {
		return sqlite.NewAlertStore(mustOpen(t, filepath.Join(t.TempDir(), "scopegate.db")))
	})
}
