package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
	"github.com/scopegate/scopegate/internal/scope"
)

// t0 is the time of every test's clock.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// The upstream credentials, which only the gateway holds.
const (
	openAISecret    = "sk-upstream-openai-3f9a1c"
	anthropicSecret = "sk-ant-upstream-77b2e0"
)

// The principals of every test environment.
const (
	internalID apikey.PrincipalID = "int@example.com"
	externalID apikey.PrincipalID = "ext@example.com"
	disabledID apikey.PrincipalID = "gone@example.com"
)

// testConfig is the gateway configuration of the tests. {{UP}} is the fake
// upstream's URL, {{DEAD}} an address nothing listens on.
//
//   - chat (external) and offline (internal) share chat.completions; offline
//     points at an upstream that cannot be reached.
//   - code is internal, behind an Anthropic upstream.
//   - retrieval and search are custom routes naming datasets in the body
//     and in the path.
const testConfig = `
proxy:
  max_body_bytes: 16384
upstreams:
  oai:    {kind: openai, base_url: "{{UP}}/openai/v1", api_key: "${OPENAI_KEY}", test_keys: true}
  claude: {kind: anthropic, base_url: "{{UP}}/anthropic", api_key: "${ANTHROPIC_KEY}"}
  rag:    {kind: http, base_url: "{{UP}}/rag"}
  dead:   {kind: openai, base_url: "{{DEAD}}/v1", api_key: dead-upstream-key}
  azure:  {kind: openai, base_url: "{{UP}}/azure/openai/deployments/d1", api_key: azure-upstream-key, auth_header: api-key, query: {api-version: "2024-10-21"}}
features:
  chat:
    audience: external
    upstream: oai
    endpoints: [chat.completions, responses, embeddings]
    models: [gpt-4o-mini, gpt-4o, "o3-*"]
    aliases: {chatbot-v1: gpt-4o-mini, big: gpt-4o}
    tools: [web_search, "mcp:https://mcp.example.com/sse"]
  azure-chat:
    upstream: azure
    endpoints: [chat.completions]
    models: [azure-gpt]
  offline:
    upstream: dead
    endpoints: [chat.completions]
    models: [dead-model]
  code:
    audience: internal
    upstream: claude
    endpoints: [messages]
    models: ["claude-sonnet-4-*", claude-haiku-4-5]
    aliases: {coder: claude-sonnet-4-5}
  retrieval:
    upstream: rag
    endpoints: [{method: POST, path: /v1/retrieve}]
    datasets: {from: body.dataset, allow: [hr-docs, sales-kb]}
  search:
    upstream: rag
    endpoints: [{method: GET, path: "/v1/datasets/{dataset}/search"}]
    datasets: {from: path.dataset, allow: [hr-docs]}
`

// testEnv is a real Gateway behind an httptest.Server, over a fake
// upstream, a real apikey.Verifier on a map of keys, and recording fakes
// for the audit log and the limiter.
type testEnv struct {
	up      *fakeUpstream
	gw      *proxy.Gateway
	srv     *httptest.Server
	client  *http.Client
	keys    *fakeLookup
	hasher  *apikey.Hasher
	auditor *fakeAuditor
	clock   *testClock
	cache   *proxy.KeyCache
}

// envOptions changes how newTestEnv builds the gateway.
type envOptions struct {
	limiter proxy.Limiter
	// auditor replaces the recording auditor (benchmarks).
	auditor proxy.Auditor
	// quiet makes the fake upstream count requests without recording them
	// (benchmarks).
	quiet bool
	// privacy is how events record clients and principals.
	privacy audit.Privacy
	// config is YAML appended to testConfig: top-level sections it does
	// not have, such as limits or prices.
	config string
	// metrics, if set, is the gateway's Metrics.
	metrics proxy.Metrics
	// transport, if set, replaces every upstream's connection pool
	// (in-process benchmarks).
	transport http.RoundTripper
}

func newTestEnv(tb testing.TB, opts envOptions) *testEnv {
	tb.Helper()
	up := newFakeUpstream(tb, opts.quiet)
	dead := deadAddr(tb)
	yaml := strings.NewReplacer("{{UP}}", up.srv.URL, "{{DEAD}}", "http://"+dead).Replace(testConfig + opts.config)
	env := map[string]string{"OPENAI_KEY": openAISecret, "ANTHROPIC_KEY": anthropicSecret}
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		tb.Fatalf("config.Parse: %v", err)
	}
	hasher, err := apikey.NewHasher(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		tb.Fatalf("NewHasher: %v", err)
	}
	e := &testEnv{up: up, keys: newFakeLookup(), hasher: hasher, auditor: newFakeAuditor(), clock: &testClock{now: t0}}
	e.keys.addPrincipal(apikey.Principal{ID: internalID, Kind: apikey.KindService, Audience: apikey.AudienceInternal,
		Team: "core", Status: apikey.PrincipalActive, Ceiling: scope.MustParseSet("chat", "offline", "code", "retrieval", "search", "azure-chat")})
	e.keys.addPrincipal(apikey.Principal{ID: externalID, Kind: apikey.KindUser, Audience: apikey.AudienceExternal,
		Team: "partners", Status: apikey.PrincipalActive, Ceiling: scope.MustParseSet("chat", "code")})
	e.keys.addPrincipal(apikey.Principal{ID: disabledID, Kind: apikey.KindUser, Audience: apikey.AudienceInternal,
		Status: apikey.PrincipalDisabled, Ceiling: scope.MustParseSet("chat")})
	lookup := proxy.NewKeyCache(e.keys, time.Minute, e.clock.Now)
	e.cache = lookup
	var auditor proxy.Auditor = e.auditor
	if opts.auditor != nil {
		auditor = opts.auditor
	}
	e.gw, err = proxy.New(proxy.Config{
		Logger:    slog.New(slog.DiscardHandler),
		Config:    cfg,
		Verifier:  apikey.NewVerifier(lookup, hasher, e.clock.Now),
		Used:      noMarks{},
		Auditor:   auditor,
		Limiter:   opts.limiter,
		Privacy:   opts.privacy,
		Metrics:   opts.metrics,
		Transport: opts.transport,
		Now:       e.clock.Now,
	})
	if err != nil {
		tb.Fatalf("proxy.New: %v", err)
	}
	e.srv = httptest.NewServer(e.gw)
	tb.Cleanup(e.srv.Close)
	e.client = &http.Client{
		Timeout:       10 * time.Second, // a test that would hang fails instead
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4},
	}
	tb.Cleanup(e.client.CloseIdleConnections)
	return e
}

// deadAddr returns a loopback address that refuses connections.
func deadAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// keySpec describes a key to mint. The zero keySpec is a live, active key
// of the internal principal without scopes.
type keySpec struct {
	principal apikey.PrincipalID
	scopes    []string
	env       apikey.Env
	class     apikey.Class
	edit      func(*apikey.Key)
}

// mintKey generates a key as spec says, stores its record, and returns
// its text, record and principal.
func (e *testEnv) mintKey(tb testing.TB, spec keySpec) (string, apikey.Key, apikey.Principal) {
	tb.Helper()
	if spec.principal == "" {
		spec.principal = internalID
	}
	if spec.env == "" {
		spec.env = apikey.EnvLive
	}
	if spec.class == "" {
		spec.class = apikey.ClassData
	}
	cred, err := apikey.Generate(nil, spec.class, spec.env)
	if err != nil {
		tb.Fatalf("Generate: %v", err)
	}
	set, err := scope.ParseSet(spec.scopes)
	if err != nil {
		tb.Fatalf("ParseSet(%q): %v", spec.scopes, err)
	}
	k := apikey.Key{ID: cred.ID, Class: spec.class, Name: "test", Principal: spec.principal, Scopes: set,
		Env: spec.env, Status: apikey.StatusActive, Hash: e.hasher.Hash(cred.Secret), Last4: cred.Secret.Last4(),
		CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(24 * time.Hour)}
	if spec.edit != nil {
		spec.edit(&k)
	}
	e.keys.addKey(k)
	p, _ := e.keys.Principal(context.Background(), spec.principal)
	return cred.Secret.Reveal(), k, p
}

// key mints a live key of the internal principal with scopes.
func (e *testEnv) key(tb testing.TB, scopes ...string) string {
	tb.Helper()
	text, _, _ := e.mintKey(tb, keySpec{scopes: scopes})
	return text
}

// url returns the gateway's URL for path.
func (e *testEnv) url(path string) string { return e.srv.URL + path }

// post sends body to path with the key as a Bearer token (or as x-api-key
// for /v1/messages) and returns the response with its body read.
func (e *testEnv) post(tb testing.TB, key, path, body string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, e.url(path), strings.NewReader(body))
	if err != nil {
		tb.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if path == "/v1/messages" {
		req.Header.Set("X-Api-Key", key)
		req.Header.Set("Anthropic-Version", "2023-06-01")
	} else {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return e.do(tb, req)
}

// do sends req and returns the response with its body read and closed.
func (e *testEnv) do(tb testing.TB, req *http.Request) (*http.Response, []byte) {
	tb.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read response of %s %s: %v", req.Method, req.URL, err)
	}
	return resp, b
}

// sendRaw writes raw to the gateway over a new connection, exactly as
// written, and reads one response. Go's client would normalize some
// request lines and headers this is meant to send.
func (e *testEnv) sendRaw(tb testing.TB, raw string) (*http.Response, []byte) {
	tb.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		tb.Fatalf("dial gateway: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		tb.Fatalf("write raw request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatalf("read response to raw request %q: %v", firstLine(raw), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read response body to raw request %q: %v", firstLine(raw), err)
	}
	return resp, b
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// errorBody is an error answer of either shape.
type errorBody struct {
	Type  *string `json:"type"` // "error" in Anthropic's shape, absent in OpenAI's
	Error struct {
		Message       string           `json:"message"`
		Type          string           `json:"type"`
		Code          *json.RawMessage `json:"code"`
		Param         *json.RawMessage `json:"param"`
		RequiredScope string           `json:"required_scope"`
	} `json:"error"`
}

// checkErrorShape checks that b is an error body in api's shape, with the
// error type api uses for status, and returns it decoded.
func checkErrorShape(tb testing.TB, api provider.API, status int, b []byte) errorBody {
	tb.Helper()
	var eb errorBody
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&eb); err != nil {
		tb.Fatalf("error body %q is not JSON: %v", b, err)
	}
	if eb.Error.Message == "" {
		tb.Errorf("error body %s has no error.message", b)
	}
	if want := provider.ErrorType(status, api); eb.Error.Type != want {
		tb.Errorf("error.type = %q, want %q for %d (body %s)", eb.Error.Type, want, status, b)
	}
	var top map[string]json.RawMessage
	json.Unmarshal(b, &top)
	var inner map[string]json.RawMessage
	json.Unmarshal(top["error"], &inner)
	switch api {
	case provider.APIAnthropic:
		if eb.Type == nil || *eb.Type != "error" {
			tb.Errorf("Anthropic error body %s: want top-level \"type\":\"error\"", b)
		}
		if _, ok := inner["code"]; ok {
			tb.Errorf("Anthropic error body %s has an OpenAI code member", b)
		}
	default:
		if eb.Type != nil {
			tb.Errorf("OpenAI error body %s has a top-level type", b)
		}
		for _, m := range []string{"code", "param"} {
			if _, ok := inner[m]; !ok {
				tb.Errorf("OpenAI error body %s has no error.%s", b, m)
			}
		}
	}
	return eb
}

// code returns the OpenAI error code, or "".
func (eb errorBody) code() string {
	if eb.Error.Code == nil {
		return ""
	}
	var s string
	json.Unmarshal(*eb.Error.Code, &s)
	return s
}

// fakeUpstream stands in for every provider: it counts and records each
// request and answers with handler, by default a small chat completion or
// Anthropic message with usage.
type fakeUpstream struct {
	srv   *httptest.Server
	quiet bool // count requests, but keep none

	mu      sync.Mutex
	n       int
	calls   []upstreamCall
	handler http.HandlerFunc
}

// upstreamCall is one request the fake upstream received.
type upstreamCall struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

func newFakeUpstream(tb testing.TB, quiet bool) *fakeUpstream {
	tb.Helper()
	u := &fakeUpstream{quiet: quiet}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	tb.Cleanup(u.srv.Close)
	return u
}

func (u *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.n++
	if !u.quiet {
		u.calls = append(u.calls, upstreamCall{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: body})
	}
	h := u.handler
	u.mu.Unlock()
	if h == nil {
		h = answerDefault
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h(w, r)
}

// setHandler makes h answer the requests that follow.
func (u *fakeUpstream) setHandler(h http.HandlerFunc) {
	u.mu.Lock()
	u.handler = h
	u.mu.Unlock()
}

// count returns how many requests the upstream received.
func (u *fakeUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

// last returns the latest request the upstream received.
func (u *fakeUpstream) last(tb testing.TB) upstreamCall {
	tb.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.calls) == 0 {
		tb.Fatal("the upstream received no request")
	}
	return u.calls[len(u.calls)-1]
}

// The default answers, with usage.
const (
	chatCompletion   = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`
	anthropicMessage = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":13,"output_tokens":5}}`
)

func answerDefault(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/v1/messages"):
		io.WriteString(w, anthropicMessage)
	case strings.HasPrefix(r.URL.Path, "/rag/"):
		io.WriteString(w, `{"results":[]}`)
	default:
		io.WriteString(w, chatCompletion)
	}
}

// fakeLookup is an apikey.Lookup over maps.
type fakeLookup struct {
	mu         sync.Mutex
	keys       map[apikey.ID]apikey.Key
	principals map[apikey.PrincipalID]apikey.Principal
	// err, when set, fails every lookup (an unreachable store).
	err error
}

func newFakeLookup() *fakeLookup {
	return &fakeLookup{keys: map[apikey.ID]apikey.Key{}, principals: map[apikey.PrincipalID]apikey.Principal{}}
}

func (l *fakeLookup) addKey(k apikey.Key) {
	l.mu.Lock()
	l.keys[k.ID] = k
	l.mu.Unlock()
}

func (l *fakeLookup) addPrincipal(p apikey.Principal) {
	l.mu.Lock()
	l.principals[p.ID] = p
	l.mu.Unlock()
}

func (l *fakeLookup) setErr(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

func (l *fakeLookup) Key(_ context.Context, id apikey.ID) (apikey.Key, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return apikey.Key{}, l.err
	}
	k, ok := l.keys[id]
	if !ok {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return k, nil
}

func (l *fakeLookup) Principal(_ context.Context, id apikey.PrincipalID) (apikey.Principal, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return apikey.Principal{}, l.err
	}
	p, ok := l.principals[id]
	if !ok {
		return apikey.Principal{}, apikey.ErrNotFound
	}
	return p, nil
}

// fakeAuditor records events. Usage events are also sent on usage, so a
// test can wait for the one a finished call writes.
type fakeAuditor struct {
	mu    sync.Mutex
	authz []audit.Authz
	usage []audit.Usage
	// fail, when set, fails every Authz call.
	fail  atomic.Bool
	usedC chan audit.Usage
}

func newFakeAuditor() *fakeAuditor { return &fakeAuditor{usedC: make(chan audit.Usage, 4096)} }

var errAuditDown = errors.New("audit log unwritable")

func (a *fakeAuditor) Authz(_ context.Context, e audit.Authz) error {
	if a.fail.Load() {
		return errAuditDown
	}
	a.mu.Lock()
	a.authz = append(a.authz, e)
	a.mu.Unlock()
	return nil
}

func (a *fakeAuditor) Usage(_ context.Context, e audit.Usage) error {
	a.mu.Lock()
	a.usage = append(a.usage, e)
	a.mu.Unlock()
	a.usedC <- e
	return nil
}

// authzEvents returns the authz events recorded so far.
func (a *fakeAuditor) authzEvents() []audit.Authz {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Authz(nil), a.authz...)
}

// lastAuthz returns the latest authz event.
func (a *fakeAuditor) lastAuthz(tb testing.TB) audit.Authz {
	tb.Helper()
	ev := a.authzEvents()
	if len(ev) == 0 {
		tb.Fatal("no authz event was recorded")
	}
	return ev[len(ev)-1]
}

// waitUsage returns the next usage event, failing if none comes.
func (a *fakeAuditor) waitUsage(tb testing.TB) audit.Usage {
	tb.Helper()
	select {
	case u := <-a.usedC:
		return u
	case <-time.After(10 * time.Second):
		tb.Fatal("no usage event was recorded")
		return audit.Usage{}
	}
}

// noUsage checks that no usage event is waiting.
func (a *fakeAuditor) noUsage(tb testing.TB) {
	tb.Helper()
	select {
	case u := <-a.usedC:
		tb.Errorf("unexpected usage event %+v", u)
	default:
	}
}

// fakeLimiter grants or refuses every request with err, and records each
// reservation and how it was settled.
type fakeLimiter struct {
	mu           sync.Mutex
	err          error
	requests     []proxy.LimitRequest
	reservations []*fakeReservation
}

func (l *fakeLimiter) setErr(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

func (l *fakeLimiter) Reserve(_ context.Context, r proxy.LimitRequest) (proxy.Reservation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, r)
	if l.err != nil {
		return nil, l.err
	}
	res := &fakeReservation{}
	l.reservations = append(l.reservations, res)
	return res, nil
}

// reservationsMade returns the reservations granted so far.
func (l *fakeLimiter) reservationsMade() []*fakeReservation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*fakeReservation(nil), l.reservations...)
}

type fakeReservation struct {
	settles atomic.Int32
	mu      sync.Mutex
	usage   provider.Usage
}

func (r *fakeReservation) Quotas() []ratelimit.Quota { return nil }
func (r *fakeReservation) OutputTokens() int64       { return 0 }
func (r *fakeReservation) OutputCap() int64          { return 0 }

func (r *fakeReservation) Settle(_ context.Context, u provider.Usage) {
	r.settles.Add(1)
	r.mu.Lock()
	r.usage = u
	r.mu.Unlock()
}

// limitError is a limiter's refusal.
type limitError struct {
	reason string
	after  time.Duration
}

func (e *limitError) Error() string { return fmt.Sprintf("%s: retry in %s", e.reason, e.after) }

func (e *limitError) LimitExceeded() (string, time.Duration) { return e.reason, e.after }

var (
	_ proxy.LimitExceeded = (*limitError)(nil)
	_ proxy.Reservation   = (*fakeReservation)(nil)
	_ proxy.Limiter       = (*fakeLimiter)(nil)
	_ proxy.Auditor       = (*fakeAuditor)(nil)
	_ apikey.Lookup       = (*fakeLookup)(nil)
)

// noMarks is a proxy.UsageMarker that forgets.
type noMarks struct{}

func (noMarks) Mark(apikey.ID, time.Time) {}

// testClock is a clock that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// localhost is the address every test client connects from.
var localhost = netip.MustParseAddr("127.0.0.1")
