package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// t0 is the time every test starts at. It is whole seconds, so times read
// back from the store compare equal.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const rootID = "root@example.com"

// localhost is the client address of every request in these tests.
var localhost = netip.MustParseAddr("127.0.0.1")

// testEnv is a real admin stack: SQLite in a temporary directory, a Hasher
// with a fixed pepper, an Issuer and a Verifier on an injected clock, and
// the handler behind an httptest.Server.
type testEnv struct {
	srv      *httptest.Server
	db       *sqlite.DB
	issuer   *apikey.Issuer
	verifier *apikey.Verifier
	// usage is the usage store of db; the handler answers from it when
	// envConfig.usage is set.
	usage *sqlite.UsageStore
	clock *testClock
	// rootKey is an sga_ admin key with the admin role, of principal
	// rootID (team "ops"), made through the Issuer as init does.
	rootKey string
	// rootActor is who rootKey acts as, as it appears in created_by.
	rootActor string
}

// envConfig changes how newTestEnvWith builds the stack.
type envConfig struct {
	logs      io.Writer // where the handler logs; nil discards
	ready     func(context.Context) error
	explainer admin.Explainer
	audit     admin.AuditReader
	// recorder receives the Issuer's change records; nil records nothing.
	recorder apikey.Recorder
	// usage serves the usage route from the stack's SQLite usage store;
	// usageReader, when set, serves it instead. With neither it is 501.
	usage       bool
	usageReader admin.UsageReader
	// alerts, when set, makes the inbox of the alert routes from the
	// stack's database and clock; with none they answer 501.
	alerts func(db *sqlite.DB, now func() time.Time) admin.AlertInbox
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvWith(t, envConfig{})
}

func newTestEnvWith(t *testing.T, cfg envConfig) *testEnv {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "scopegate.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &testClock{now: t0}
	db.Now = clock.Now
	hasher, err := apikey.NewHasher(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	issuer := apikey.NewIssuer(apikey.IssuerConfig{Store: db, Hasher: hasher, Recorder: cfg.recorder, Now: clock.Now})
	verifier := apikey.NewVerifier(db, hasher, clock.Now)
	handler := slog.DiscardHandler
	if cfg.logs != nil {
		handler = slog.NewJSONHandler(cfg.logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	usageStore := sqlite.NewUsageStore(db)
	usageReader := cfg.usageReader
	if cfg.usage && usageReader == nil {
		usageReader = usageStore
	}
	var alerts admin.AlertInbox
	if cfg.alerts != nil {
		alerts = cfg.alerts(db, clock.Now)
	}
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Logger: slog.New(handler), Issuer: issuer, Verifier: verifier,
		Ready: cfg.ready, Explainer: cfg.explainer, Audit: cfg.audit, Usage: usageReader, Now: clock.Now,
		Alerts: alerts}))
	t.Cleanup(srv.Close)

	env := &testEnv{srv: srv, db: db, issuer: issuer, verifier: verifier, usage: usageStore, clock: clock}
	env.principal(t, apikey.PrincipalSpec{ID: rootID, Team: "ops",
		Scopes: []string{"admin", "chatbot", "code-generation:claude-*", "data-retrieval:hr-docs"}})
	k, key := env.adminKey(t, rootID, "admin")
	env.rootKey, env.rootActor = key, rootID+"/"+string(k.ID)
	return env
}

// principal creates a principal through the Issuer as the system.
func (e *testEnv) principal(t *testing.T, spec apikey.PrincipalSpec) apikey.Principal {
	t.Helper()
	p, err := e.issuer.CreatePrincipal(t.Context(), apikey.SystemActor, spec)
	if err != nil {
		t.Fatalf("CreatePrincipal(%s): %v", spec.ID, err)
	}
	return p
}

// adminKey creates an sga_ key with roles for principal through the Issuer
// as the system.
func (e *testEnv) adminKey(t *testing.T, principal string, roles ...string) (apikey.Key, string) {
	t.Helper()
	return e.key(t, apikey.KeySpec{Principal: apikey.PrincipalID(principal), Class: apikey.ClassAdmin, Scopes: roles})
}

// dataKey creates an sgk_ key with scopes for principal through the Issuer
// as the system.
func (e *testEnv) dataKey(t *testing.T, principal string, scopes ...string) (apikey.Key, string) {
	t.Helper()
	return e.key(t, apikey.KeySpec{Principal: apikey.PrincipalID(principal), Scopes: scopes})
}

func (e *testEnv) key(t *testing.T, spec apikey.KeySpec) (apikey.Key, string) {
	t.Helper()
	k, s, err := e.issuer.CreateKey(t.Context(), apikey.SystemActor, spec)
	if err != nil {
		t.Fatalf("CreateKey(%+v): %v", spec, err)
	}
	return k, s.Reveal()
}

// verify checks key as the data plane or admin API would, from 127.0.0.1.
func (e *testEnv) verify(t *testing.T, key string, class apikey.Class) error {
	t.Helper()
	_, err := e.verifier.Verify(t.Context(), key, class, localhost)
	return err
}

// request is one call to the API.
type request struct {
	method string
	path   string
	// key is sent as "Authorization: Bearer key" when not empty.
	key string
	// body is sent as is when it is a string, else as its JSON encoding;
	// nil sends no body.
	body any
	// header is added to the request; it may override Content-Type and
	// Authorization.
	header http.Header
}

// response is what the API answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *testEnv) do(t *testing.T, req request) response {
	t.Helper()
	var body io.Reader
	switch b := req.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal request body: %v", err)
		}
		body = bytes.NewReader(raw)
	}
	r, err := http.NewRequestWithContext(t.Context(), req.method, e.srv.URL+req.path, body)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if req.key != "" {
		r.Header.Set("Authorization", "Bearer "+req.key)
	}
	for name, vs := range req.header {
		r.Header.Del(name)
		for _, v := range vs {
			r.Header.Add(name, v)
		}
	}
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.method, req.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// call is do for a request that must answer want; it decodes the answer
// into a T.
func call[T any](t *testing.T, e *testEnv, req request, want int) T {
	t.Helper()
	resp := e.do(t, req)
	if resp.status != want {
		t.Fatalf("%s %s = %d %s, want %d", req.method, req.path, resp.status, resp.body, want)
	}
	var v T
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s %s: decode %T from %s: %v", req.method, req.path, v, resp.body, err)
	}
	return v
}

// errorOf decodes an error answer, failing the test if resp is not one
// with status want.
func errorOf(t *testing.T, resp response, want int) admin.ErrorDetail {
	t.Helper()
	if resp.status != want {
		t.Fatalf("status = %d %s, want %d", resp.status, resp.body, want)
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body admin.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("decode error body %s: %v", resp.body, err)
	}
	return body.Error
}

// wantError checks that got is the error detail of type typ naming field,
// and that its message contains msg.
func wantError(t *testing.T, got admin.ErrorDetail, typ, field, msg string) {
	t.Helper()
	if got.Type != typ || got.Field != field {
		t.Errorf("error = %+v, want type %q field %q", got, typ, field)
	}
	if !strings.Contains(got.Message, msg) {
		t.Errorf("error message = %q, want it to contain %q", got.Message, msg)
	}
}

// diff reports a difference between got and want.
func diff(t *testing.T, what string, got, want any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// testClock is the injected clock of the Issuer, the Verifier and the
// store.
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
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines to log to
// while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tenants is a stack with two teams, for isolation tests:
//
//	alice  red   keys:self admin key, a data key
//	bob    red   keys:team admin key
//	dave   red   a data key
//	carol  blue  a data key
type tenants struct {
	*testEnv
	aliceAdmin, bobAdmin           string // keys
	aliceAdminID, bobAdminID       apikey.ID
	aliceData, daveData, carolData apikey.ID
}

func newTenants(t *testing.T) *tenants {
	t.Helper()
	return newTenantsWith(t, envConfig{})
}

func newTenantsWith(t *testing.T, cfg envConfig) *tenants {
	t.Helper()
	env := &tenants{testEnv: newTestEnvWith(t, cfg)}
	for _, spec := range []apikey.PrincipalSpec{
		{ID: "alice@example.com", Team: "red", Scopes: []string{"chatbot", "keys:self"}},
		{ID: "bob@example.com", Team: "red", Scopes: []string{"chatbot", "keys:team"}},
		{ID: "dave@example.com", Team: "red", Scopes: []string{"chatbot"}},
		{ID: "carol@example.com", Team: "blue", Scopes: []string{"chatbot"}},
	} {
		env.principal(t, spec)
	}
	var k apikey.Key
	k, env.aliceAdmin = env.adminKey(t, "alice@example.com", "keys:self")
	env.aliceAdminID = k.ID
	k, env.bobAdmin = env.adminKey(t, "bob@example.com", "keys:team")
	env.bobAdminID = k.ID
	k, _ = env.dataKey(t, "alice@example.com", "chatbot")
	env.aliceData = k.ID
	k, _ = env.dataKey(t, "dave@example.com", "chatbot")
	env.daveData = k.ID
	k, _ = env.dataKey(t, "carol@example.com", "chatbot")
	env.carolData = k.ID
	return env
}
