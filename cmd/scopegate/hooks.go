package main

import (
	"context"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scopegate/scopegate/internal/audit"
)

// testHooks lets in-process tests steer and observe a server started by
// run: an injected clock, faults in the audit log's files, and the
// addresses and first admin key once the listeners are up. main never sets
// it.
type testHooks struct {
	// now replaces time.Now everywhere the server reads the clock.
	now func() time.Time
	// started, if not nil, receives one serveInfo when serve is ready.
	started chan<- serveInfo
	// auditFile, if not nil, wraps each file the audit log appends to
	// (audit.LogOptions.SyncFile), so tests can make writes and syncs fail.
	auditFile func(*os.File) audit.WriteSyncer
	// pushConnect, if not nil, opens the connection of the change
	// notifications' listener (postgres store), so tests can cut it.
	pushConnect func(context.Context, *pgx.ConnConfig) (*pgx.Conn, error)
	// headerTimeout, if not zero, replaces the data plane's
	// ReadHeaderTimeout, so a slowloris test need not wait for it.
	headerTimeout time.Duration
}

// serveInfo is what a started server tells a test.
type serveInfo struct {
	// DataAddr and AdminAddr are the bound listener addresses (host:port).
	DataAddr  string
	AdminAddr string
	// AdminKey is the first admin key when serve initialized the data
	// directory itself, else empty.
	AdminKey string
}
