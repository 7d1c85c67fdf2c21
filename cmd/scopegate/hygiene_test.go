package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// auditAlerts records the alert events a Dispatcher writes.
type auditAlerts struct {
	mu     sync.Mutex
	events []audit.Alert
}

func (a *auditAlerts) Alert(_ context.Context, e audit.Alert) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

// TestExpiryScannerWiring runs the key expiry scanner as serve is to wire
// it: keys from the Issuer as the system actor, alerts through a
// Dispatcher into the SQLite alert store, which a restarted scanner reads
// so as not to raise the same alert again.
func TestExpiryScannerWiring(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "scopegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := scriptNow()
	clock := func() time.Time { return now }
	hasher, err := apikey.NewHasher(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		t.Fatal(err)
	}
	issuer := apikey.NewIssuer(apikey.IssuerConfig{Store: db, Hasher: hasher, Now: clock})
	if _, err := issuer.CreatePrincipal(ctx, apikey.SystemActor, apikey.PrincipalSpec{ID: "alice", Scopes: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	soon, _, err := issuer.CreateKey(ctx, apikey.SystemActor, apikey.KeySpec{Principal: "alice", Scopes: []string{"chat"}, TTL: 3 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := issuer.CreateKey(ctx, apikey.SystemActor, apikey.KeySpec{Principal: "alice", Scopes: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	alerts := sqlite.NewAlertStore(db)
	events := &auditAlerts{}
	logger := slog.New(slog.DiscardHandler)
	s := &stack{issuer: issuer, now: clock, logger: logger}
	start := func() *anomaly.ExpiryScanner {
		d := anomaly.NewDispatcher(anomaly.DispatcherConfig{Audit: events, Store: alerts, Logger: logger, Now: clock})
		return newExpiryScanner(s, expiryScannerConfig{raiser: d, alerts: alerts})
	}

	if n, err := start().ScanOnce(ctx, now); n != 1 || err != nil {
		t.Fatalf("ScanOnce = %d, %v; want 1, nil", n, err)
	}
	stored, err := alerts.List(ctx, anomaly.AlertFilter{Rule: anomaly.RuleKeyExpiring})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].Subject != "key:"+string(soon.ID) || stored[0].Key != soon.ID || stored[0].Principal != "alice" ||
		stored[0].Figures != "expires_at=2026-12-01T12:00:00Z days_left=3" {
		t.Errorf("stored alerts = %+v, want one about %s expiring at 2026-12-01T12:00:00Z", stored, soon.ID)
	}
	// A restarted process asks the alert store, and raises nothing again,
	// even after the dispatcher's group window has passed.
	if n, err := start().ScanOnce(ctx, now.Add(time.Hour)); n != 0 || err != nil {
		t.Errorf("restarted ScanOnce = %d, %v; want 0, nil", n, err)
	}
	if len(events.events) != 1 {
		t.Errorf("%d alert events recorded, want 1", len(events.events))
	}
}
