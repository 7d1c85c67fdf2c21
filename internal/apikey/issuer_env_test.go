package apikey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// t0 is the start of the test clock, a whole second so that the store's
// microsecond precision keeps it exact.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testClock is a settable clock for the Issuer, the store and the Verifier.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recorder is a Recorder that keeps every Change and can be told to fail.
type recorder struct {
	mu      sync.Mutex
	changes []apikey.Change
	err     error
}

func (r *recorder) Record(_ context.Context, c apikey.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.changes = append(r.changes, c)
	return nil
}

// take returns the changes recorded since the last take.
func (r *recorder) take() []apikey.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.changes
	r.changes = nil
	return c
}

// issuerEnv is an Issuer over a real SQLite file, with a test clock and a
// recording audit hook. Every secret it hands out is remembered, and at the
// end of the test no recorded change may contain one.
type issuerEnv struct {
	t        *testing.T
	db       *sqlite.DB
	hasher   *apikey.Hasher
	clock    *testClock
	rec      *recorder
	issuer   *apikey.Issuer
	verifier *apikey.Verifier

	mu      sync.Mutex
	secrets []string
	seen    []apikey.Change // every change, for the final secret check
}

// root is the admin actor most tests act as.
var root = apikey.Actor{Principal: "root", KeyID: "ROOTKEY000000000", Roles: scope.MustParseSet("admin")}

func newIssuerEnv(t *testing.T) *issuerEnv {
	t.Helper()
	return newIssuerEnvConfig(t, apikey.IssuerConfig{})
}

// newIssuerEnvConfig is newIssuerEnv with lifetimes and CheckScopes from
// cfg; its other fields are filled in here.
func newIssuerEnvConfig(t *testing.T, cfg apikey.IssuerConfig) *issuerEnv {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "scopegate.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	hasher, err := apikey.NewHasher(bytes.Repeat([]byte{7}, apikey.MinPepperLen))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: t0}
	db.Now = clock.Now
	rec := &recorder{}
	cfg.Store, cfg.Hasher, cfg.Recorder, cfg.Now = db, hasher, rec, clock.Now
	cfg.Logger = slog.New(slog.DiscardHandler)
	e := &issuerEnv{t: t, db: db, hasher: hasher, clock: clock, rec: rec,
		issuer: apikey.NewIssuer(cfg), verifier: apikey.NewVerifier(db, hasher, clock.Now)}
	t.Cleanup(e.checkNoSecretRecorded)
	return e
}

// changes returns the changes recorded since the last call.
func (e *issuerEnv) changes() []apikey.Change {
	c := e.rec.take()
	e.mu.Lock()
	e.seen = append(e.seen, c...)
	e.mu.Unlock()
	return c
}

// remember adds a secret to those no change may contain.
func (e *issuerEnv) remember(s apikey.Secret) {
	e.mu.Lock()
	e.secrets = append(e.secrets, s.Reveal())
	e.mu.Unlock()
}

func (e *issuerEnv) checkNoSecretRecorded() {
	e.changes()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.seen {
		b, err := json.Marshal(c)
		if err != nil {
			e.t.Fatal(err)
		}
		text := string(b) + fmt.Sprintf("%+v", c)
		for _, s := range e.secrets {
			secretPart := s[26 : 26+apikey.SecretLen]
			if strings.Contains(text, s) || strings.Contains(text, secretPart) || strings.Contains(text, secretPart[:16]) {
				e.t.Errorf("recorded change %s on %s contains a key's secret: %s", c.Action, c.Target, text)
			}
		}
	}
}

// principal creates a principal as root, failing the test on error.
func (e *issuerEnv) principal(id, team string, ceiling ...string) apikey.Principal {
	e.t.Helper()
	p, err := e.issuer.CreatePrincipal(e.t.Context(), root, apikey.PrincipalSpec{ID: apikey.PrincipalID(id), Team: team, Scopes: ceiling})
	if err != nil {
		e.t.Fatalf("CreatePrincipal(%s): %v", id, err)
	}
	e.changes()
	return p
}

// key creates a key as a, failing the test on error.
func (e *issuerEnv) key(a apikey.Actor, spec apikey.KeySpec) (apikey.Key, apikey.Secret) {
	e.t.Helper()
	k, s, err := e.issuer.CreateKey(e.t.Context(), a, spec)
	if err != nil {
		e.t.Fatalf("CreateKey(%+v): %v", spec, err)
	}
	e.remember(s)
	return k, s
}

// verify checks the key text as the data plane (or admin API) would.
func (e *issuerEnv) verify(s apikey.Secret, class apikey.Class) error {
	_, err := e.verifier.Verify(e.t.Context(), s.Reveal(), class, netip.MustParseAddr("10.0.0.1"))
	return err
}

// stored reads a key from the store, failing the test if it is missing.
func (e *issuerEnv) stored(id apikey.ID) apikey.Key {
	e.t.Helper()
	k, err := e.db.Key(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("store Key(%s): %v", id, err)
	}
	return k
}

// keyCount returns how many keys the store holds.
func (e *issuerEnv) keyCount() int {
	e.t.Helper()
	page, err := e.db.Keys(e.t.Context(), apikey.KeyFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(page.Items)
}

// cmpKeys compares keys and principals field by field.
var cmpKeys = cmp.Options{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b scope.Set) bool { return a.Equal(b) }),
}

// wantValidation fails unless err is a *ValidationError for field.
func wantValidation(t *testing.T, err error, field string) {
	t.Helper()
	ve, ok := errors.AsType[*apikey.ValidationError](err)
	if !ok {
		t.Fatalf("error = %v, want a *ValidationError for %q", err, field)
	}
	if ve.Field != field {
		t.Errorf("ValidationError field = %q (%s), want %q", ve.Field, ve.Message, field)
	}
	if ve.Message == "" {
		t.Errorf("ValidationError for %q has no message", field)
	}
}

// fieldMap returns a change's fields by name.
func fieldMap(c apikey.Change) map[string]apikey.FieldChange {
	m := make(map[string]apikey.FieldChange, len(c.Fields))
	for _, f := range c.Fields {
		m[f.Name] = f
	}
	return m
}

// wantChange fails unless c has the action, target and field changes
// given (each as [before, after]); other fields may not change.
func wantChange(t *testing.T, c apikey.Change, action string, actor apikey.Actor, target string, fields map[string][2]string) {
	t.Helper()
	if c.Action != action || c.Actor != actor.String() || c.Target != target {
		t.Errorf("change = {%s by %s on %s}, want {%s by %s on %s}", c.Action, c.Actor, c.Target, action, actor, target)
	}
	got := map[string][2]string{}
	for _, f := range c.Fields {
		got[f.Name] = [2]string{f.Before, f.After}
	}
	if diff := cmp.Diff(fields, got); diff != "" {
		t.Errorf("change %s fields mismatch (-want +got):\n%s", action, diff)
	}
	for i := 1; i < len(c.Fields); i++ {
		if c.Fields[i-1].Name >= c.Fields[i].Name {
			t.Errorf("change %s fields are not sorted by name: %q before %q", action, c.Fields[i-1].Name, c.Fields[i].Name)
		}
	}
}
