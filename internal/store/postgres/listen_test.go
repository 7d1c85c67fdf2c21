package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/testenv"
)

// listening is a running Listener and what it has delivered.
type listening struct {
	l        *postgres.Listener
	changes  chan postgres.Change
	connects chan struct{}
}

// startListener runs a listener on dsn until the test ends, and waits for
// it to connect.
func startListener(t *testing.T, dsn string) *listening {
	t.Helper()
	ln := &listening{changes: make(chan postgres.Change, 1000), connects: make(chan struct{}, 100)}
	l, err := postgres.NewListener(dsn, func(c postgres.Change) { ln.changes <- c },
		postgres.ListenerOptions{Keepalive: 200 * time.Millisecond, OnConnect: func() { ln.connects <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	ln.l = l
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	ln.waitConnected(t, 0)
	return ln
}

// waitConnected waits up to 10 s for the listener to be connected on a
// server process other than notPID, and returns the new one.
func (ln *listening) waitConnected(t *testing.T, notPID uint32) uint32 {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		if h := ln.l.Health(); h.Connected && h.PID != notPID {
			select {
			case <-ln.connects:
			case <-deadline:
				t.Fatal("connected, but OnConnect was not called")
			}
			return h.PID
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("listener not connected after 10s: %+v", ln.l.Health())
		}
	}
}

// next returns the next change about one of ours (the channel is
// database-wide: tests running in parallel in other schemas notify too),
// or fails after 10 s.
func (ln *listening) next(t *testing.T, ours func(postgres.Change) bool) postgres.Change {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-ln.changes:
			if ours(c) {
				return c
			}
		case <-deadline:
			t.Fatal("no change notification within 10s")
		}
	}
}

func newID(t *testing.T) apikey.ID {
	t.Helper()
	id, err := apikey.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestListener(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.PostgresSchema(t)
	db := mustOpen(t, small(dsn))
	ln := startListener(t, dsn)

	pid := apikey.PrincipalID("listener-" + string(newID(t)) + "@example.com")
	k1, k2, k3 := newID(t), newID(t), newID(t)
	ours := func(c postgres.Change) bool {
		return c.Principal == pid || c.Key == k1 || c.Key == k2 || c.Key == k3
	}
	key := func(id apikey.ID) apikey.Key {
		return apikey.Key{ID: id, Class: apikey.ClassData, Principal: pid, Scopes: scope.MustParseSet("chatbot"),
			Env: apikey.EnvTest, Status: apikey.StatusActive, Last4: "abcd"}
	}
	setStatus := func(s apikey.Status) func(*apikey.Key) error {
		return func(k *apikey.Key) error { k.Status = s; return nil }
	}
	steps := []struct {
		name   string
		change func() error
		want   postgres.Change
	}{
		{"CreatePrincipal", func() error {
			return db.CreatePrincipal(ctx, apikey.Principal{ID: pid, Kind: apikey.KindService,
				Audience: apikey.AudienceExternal, Ceiling: scope.MustParseSet("chatbot"), Status: apikey.PrincipalActive})
		}, postgres.Change{Principal: pid}},
		{"CreateKey", func() error { return db.CreateKey(ctx, key(k1)) }, postgres.Change{Key: k1}},
		{"UpdateKey", func() error {
			_, err := db.UpdateKey(ctx, k1, func(k *apikey.Key) error { k.Name = "renamed"; return nil })
			return err
		}, postgres.Change{Key: k1}},
		{"Suspend", func() error { _, err := db.UpdateKey(ctx, k1, setStatus(apikey.StatusSuspended)); return err },
			postgres.Change{Key: k1}},
		{"Revoke", func() error { _, err := db.UpdateKey(ctx, k1, setStatus(apikey.StatusRevoked)); return err },
			postgres.Change{Key: k1}},
		{"CreateKeyToRotate", func() error { return db.CreateKey(ctx, key(k2)) }, postgres.Change{Key: k2}},
		{"RotateRetires", func() error {
			next := key(k3)
			next.RotatedFrom = k2
			_, err := db.Rotate(ctx, next, func(k *apikey.Key) error { k.ReplacedBy = k3; return nil }, nil)
			return err
		}, postgres.Change{Key: k2}},
		{"RotateCreates", func() error { return nil }, postgres.Change{Key: k3}},
		{"DisablePrincipal", func() error {
			_, err := db.UpdatePrincipal(ctx, pid, func(p *apikey.Principal) error { p.Status = apikey.PrincipalDisabled; return nil })
			return err
		}, postgres.Change{Principal: pid}},
		{"UpdatePrincipal", func() error {
			_, err := db.UpdatePrincipal(ctx, pid, func(p *apikey.Principal) error { p.Team = "blue"; return nil })
			return err
		}, postgres.Change{Principal: pid}},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := ln.next(t, ours); got != s.want {
			t.Errorf("%s: notified %+v, want %+v", s.name, got, s.want)
		}
	}

	t.Run("RolledBack", func(t *testing.T) {
		// Rotating k1 to the existing k3 retires k1 (which notifies) and
		// then fails to insert k3: the transaction rolls back, and its
		// notification must not be delivered. The principal change that
		// follows must be the next one heard.
		next := key(k3)
		next.RotatedFrom = k1
		_, err := db.Rotate(ctx, next, func(k *apikey.Key) error { k.ReplacedBy = k3; return nil }, nil)
		if !errors.Is(err, apikey.ErrConflict) {
			t.Fatalf("Rotate onto an existing id = %v, want ErrConflict", err)
		}
		_, err = db.UpdateKey(ctx, k1, func(*apikey.Key) error { return errors.New("refused") })
		if err == nil {
			t.Fatal("UpdateKey with a failing fn succeeded")
		}
		if _, err := db.UpdatePrincipal(ctx, pid, func(p *apikey.Principal) error { p.Team = "red"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got, want := ln.next(t, ours), (postgres.Change{Principal: pid}); got != want {
			t.Errorf("after two rolled-back changes, notified %+v, want %+v", got, want)
		}
	})

	t.Run("TouchKeysIsSilent", func(t *testing.T) {
		// Last-use times are written on every flush: they are not changes
		// a cache must hear of.
		if err := db.TouchKeys(ctx, map[apikey.ID]time.Time{k3: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpdatePrincipal(ctx, pid, func(p *apikey.Principal) error { p.Team = "green"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got, want := ln.next(t, ours), (postgres.Change{Principal: pid}); got != want {
			t.Errorf("after TouchKeys, notified %+v, want %+v", got, want)
		}
	})

	t.Run("Reconnects", func(t *testing.T) {
		old := ln.l.Health().PID
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(old)).Scan(&ok); err != nil || !ok {
			t.Fatalf("pg_terminate_backend(%d) = %v, %v", old, ok, err)
		}
		pid2 := ln.waitConnected(t, old)
		if h := ln.l.Health(); h.LastError == nil {
			t.Errorf("Health after a lost connection = %+v, want a LastError", h)
		}
		t.Logf("reconnected: server process %d, then %d", old, pid2)
		if _, err := db.UpdateKey(ctx, k3, setStatus(apikey.StatusRevoked)); err != nil {
			t.Fatal(err)
		}
		if got, want := ln.next(t, ours), (postgres.Change{Key: k3}); got != want {
			t.Errorf("after reconnecting, notified %+v, want %+v", got, want)
		}
	})
}

func TestListenerKeepalive(t *testing.T) {
	ln := startListener(t, testenv.PostgresSchema(t))
	first := ln.l.Health().LastAlive
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for !ln.l.Health().LastAlive.After(first) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no keepalive within 5s: %+v", ln.l.Health())
		}
	}
}
