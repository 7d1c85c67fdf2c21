package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
	"github.com/scopegate/scopegate/internal/scope"
)

// This file holds what the tests of limits share: a gateway with a real
// StoreLimiter over an in-memory store on the test clock, ways to read the
// store's counters, request bodies whose reservation is known, and fake
// upstreams that report chosen usage or wrap the provider's mock.

// limitEnv is a test environment whose gateway enforces limits with a
// StoreLimiter over store.
type limitEnv struct {
	*testEnv
	lim   *proxy.StoreLimiter
	store *limitStore
}

// newLimitEnv returns a limitEnv whose limiter is configured by cfg, with
// the environment's store and clock and, unless cfg sets one, a default
// output reservation of 100 tokens.
func newLimitEnv(t *testing.T, cfg proxy.LimiterConfig, opts envOptions) *limitEnv {
	t.Helper()
	var env *testEnv
	now := func() time.Time { return env.clock.Now() }
	store := &limitStore{Memory: ratelimit.NewMemory(now)}
	cfg.Store, cfg.Now = store, now
	if cfg.DefaultOutput == 0 {
		cfg.DefaultOutput = 100
	}
	lim := proxy.NewStoreLimiter(cfg)
	opts.limiter = lim
	env = newTestEnv(t, opts)
	return &limitEnv{testEnv: env, lim: lim, store: store}
}

// limitStore is an in-memory store that a test can take down, as Redis
// goes down: Take and Settle then fail with errLimiterDown.
type limitStore struct {
	*ratelimit.Memory
	down atomic.Bool
}

var _ ratelimit.Store = (*limitStore)(nil)

// errLimiterDown is what the store fails with when it is down; it names a
// host, which must not reach the client.
var errLimiterDown = errors.New("redis: dial tcp 10.9.8.7:6379: connect: connection refused")

func (s *limitStore) Take(ctx context.Context, r ratelimit.Request) (ratelimit.Grant, error) {
	if s.down.Load() {
		return ratelimit.Grant{}, errLimiterDown
	}
	return s.Memory.Take(ctx, r)
}

func (s *limitStore) Settle(ctx context.Context, st ratelimit.Settlement) ([]ratelimit.Quota, error) {
	if s.down.Load() {
		return nil, errLimiterDown
	}
	return s.Memory.Settle(ctx, st)
}

// remaining returns what each of limits has left now, read from the store
// without changing it: the settlement of nothing by a request that holds
// no slot.
func (e *limitEnv) remaining(t *testing.T, limits ...ratelimit.Limit) []int64 {
	t.Helper()
	now := e.clock.Now()
	qs, err := e.store.Memory.Settle(t.Context(), ratelimit.Settlement{Limits: limits, Taken: now, Now: now, ID: "peek"})
	if err != nil {
		t.Fatalf("read the store: %v", err)
	}
	out := make([]int64, len(qs))
	for i, q := range qs {
		out[i] = q.Remaining
	}
	return out
}

// remainingOf returns what one limit has left.
func (e *limitEnv) remainingOf(t *testing.T, l ratelimit.Limit) int64 {
	t.Helper()
	return e.remaining(t, l)[0]
}

// keyLimit is the limit of kind and max of key id.
func keyLimit(id apikey.ID, kind ratelimit.Kind, max int64) ratelimit.Limit {
	return ratelimit.Limit{Kind: kind, Scope: ratelimit.KeyScope(id), Max: max}
}

// principalLimit is the limit of kind and max of principal id.
func principalLimit(id apikey.PrincipalID, kind ratelimit.Kind, max int64) ratelimit.Limit {
	return ratelimit.Limit{Kind: kind, Scope: ratelimit.PrincipalScope(id), Max: max}
}

// addPrincipal adds an active principal of audience with limits, whose keys
// may call chat and code.
func (e *limitEnv) addPrincipal(id apikey.PrincipalID, aud apikey.Audience, l apikey.Limits) {
	e.keys.addPrincipal(apikey.Principal{ID: id, Kind: apikey.KindService, Audience: aud, Team: "limits",
		Status: apikey.PrincipalActive, Ceiling: scope.MustParseSet("chat", "code"), Limits: l})
}

// limitedKey mints a key of principal with limits that may call
// gpt-4o-mini, gpt-4o and claude-haiku-4-5, and returns its text and id.
func (e *limitEnv) limitedKey(t *testing.T, principal apikey.PrincipalID, l apikey.Limits) (string, apikey.ID) {
	t.Helper()
	text, k, _ := e.mintKey(t, keySpec{principal: principal,
		scopes: []string{"chat:gpt-4o-mini", "chat:gpt-4o", "code:claude-haiku-4-5"},
		edit:   func(k *apikey.Key) { k.Limits = l }})
	return text, k.ID
}

// The request bodies of the tests of limits. Their input estimate is 3
// tokens: a quarter, rounded up, of the 12 bytes of their strings ("user"
// and "abcdefgh"; the model is not counted). Their reservation is thus
// 3 + max_tokens.
const estimate3 = 3

// chatBody is a chat completion for model with max_tokens maxTokens.
func chatBody(model string, maxTokens int) string {
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"abcdefgh"}],"max_tokens":%d}`, model, maxTokens)
}

// messagesBody is an Anthropic message for model with max_tokens maxTokens.
func messagesBody(model string, maxTokens int) string {
	return fmt.Sprintf(`{"model":%q,"max_tokens":%d,"messages":[{"role":"user","content":"abcdefgh"}]}`, model, maxTokens)
}

// usageHandler answers a chat completion or an Anthropic message that
// reports in input and out output tokens, with the upstream account's own
// limit headers, which the gateway must remove.
func usageHandler(in, out int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		for name, v := range upstreamLimitHeaders {
			h.Set(name, v)
		}
		if strings.HasSuffix(r.URL.Path, "/v1/messages") {
			fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":%d,"output_tokens":%d}}`, in, out)
			return
		}
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, in, out, in+out)
	}
}

// upstreamLimitHeaders are limit headers a provider sends about its
// account.
var upstreamLimitHeaders = map[string]string{
	"X-Ratelimit-Limit-Requests":                 "10000",
	"X-Ratelimit-Remaining-Requests":             "9999",
	"X-Ratelimit-Reset-Requests":                 "6ms",
	"X-Ratelimit-Limit-Tokens":                   "30000000",
	"X-Ratelimit-Remaining-Tokens":               "29999000",
	"X-Ratelimit-Reset-Tokens":                   "2ms",
	"X-Ratelimit-Limit-Tokens-Usage-Based":       "30000000",
	"Anthropic-Ratelimit-Requests-Limit":         "4000",
	"Anthropic-Ratelimit-Input-Tokens-Remaining": "1999000",
	"Ratelimit-Policy":                           `"account";q=10000;w=60`,
	"Ratelimit":                                  `"account";r=9999;t=1`,
}

// mockUpstream serves requests with the provider's mock upstream, as a
// provider would at the base URL the test configuration gives it: the
// first segment of the path ("/openai", "/anthropic") is dropped. The
// gateway removes X-Mock-* headers on the way to upstreams that are not
// mocks, so the test controls the mock through controls, pairs of header
// name and value set on every request.
func mockUpstream(controls ...string) http.HandlerFunc {
	mock := provider.NewMock(provider.MockOptions{Now: func() time.Time { return t0 }})
	return func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = r.URL.Path[strings.IndexByte(r.URL.Path[1:], '/')+1:]
		r.URL.RawPath = ""
		for i := 0; i+1 < len(controls); i += 2 {
			r.Header.Set(controls[i], controls[i+1])
		}
		mock.ServeHTTP(w, r)
	}
}

// postStream sends body to path with key and returns the response, whose
// body the caller reads and closes. Cancelling ctx drops the connection.
func (e *testEnv) postStream(t *testing.T, ctx context.Context, key, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if path == "/v1/messages" {
		req.Header.Set("X-Api-Key", key)
		req.Header.Set("Anthropic-Version", "2023-06-01")
	} else {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}

// splitEvents splits a server-sent event stream into its events, without
// their blank lines.
func splitEvents(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	var lines []string
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			lines = append(lines, l)
			continue
		}
		if len(lines) > 0 {
			out = append(out, strings.Join(lines, "\n"))
			lines = nil
		}
	}
	if len(lines) > 0 {
		out = append(out, strings.Join(lines, "\n"))
	}
	return out
}

// fakeAlerts is an AlertRecorder that keeps the alerts. When gate is set,
// each Alert signals entered and waits for gate to close before it
// records.
type fakeAlerts struct {
	gate    chan struct{}
	entered chan struct{}

	mu     sync.Mutex
	alerts []audit.Alert
}

var _ proxy.AlertRecorder = (*fakeAlerts)(nil)

func (f *fakeAlerts) Alert(ctx context.Context, a audit.Alert) error {
	if f.gate != nil {
		f.entered <- struct{}{}
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	f.alerts = append(f.alerts, a)
	f.mu.Unlock()
	return nil
}

// take returns the alerts recorded since the last take.
func (f *fakeAlerts) take() []audit.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.alerts
	f.alerts = nil
	return out
}

// itoa formats n in decimal.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
