package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/scopegate/scopegate/internal/testenv"
)

// End-to-end tests of limits (docs/limits.md) through run(): keys are made
// with limits through the admin API, called by many clients at once, and
// what the clients saw is checked against the documented bounds and
// against the audit log. The limits_*_test.go files share the helpers
// here.

// limitsBackend is where a test's limit counters live.
type limitsBackend struct {
	name  string
	redis bool
	// frozen means the gateway's clock decides, which the tests freeze
	// (testHooks.now): counts are then exact. Redis decides by its own
	// clock, which runs.
	frozen bool
}

var limitsBackends = []limitsBackend{
	{name: "Memory", frozen: true},
	{name: "Redis", redis: true},
}

// limitsStore is a backend made ready for one test: for Redis, the
// server's address and a key prefix of the test's own.
type limitsStore struct {
	addr, prefix string
}

func (be limitsBackend) open(t *testing.T) limitsStore {
	t.Helper()
	if !be.redis {
		return limitsStore{}
	}
	addr := testenv.RedisAddr(t)
	return limitsStore{addr: addr, prefix: redisTestPrefix(t, addr)}
}

// config returns the "limits:" section of a config using s, with extra
// settings (flow-style YAML members such as "fail_open: [requests_per_minute]").
func (s limitsStore) config(extra string) string {
	if s.addr != "" {
		return redisLimits(s.addr, s.prefix, extra)
	}
	if extra == "" {
		return ""
	}
	return "limits: {" + extra + "}\n"
}

// redisLimits is the limits section of a config that keeps counters on the
// Redis at addr under prefix.
func redisLimits(addr, prefix, extra string) string {
	s := fmt.Sprintf("limits: {driver: redis, addr: %q, prefix: %q", addr, prefix)
	if extra != "" {
		s += ", " + extra
	}
	return s + "}\n"
}

// redisTestPrefix returns a key prefix of the test's own, so that tests
// and packages running at once never share a counter, and deletes its keys
// when the test ends.
func redisTestPrefix(t *testing.T, addr string) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	prefix := "scopegate-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// redisKeyExists reports whether key is on the Redis at addr.
func redisKeyExists(t *testing.T, addr, key string) bool {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	n, err := c.Exists(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("redis EXISTS %s: %v", key, err)
	}
	return n == 1
}

// startServe runs "scopegate serve" in-process, like startGateway, with
// config cfgText and an environment of vars only, on a new data
// directory. Unlike startGateway it accepts a store that another instance
// already initialized: info.AdminKey is then empty.
func startServe(t *testing.T, cfgText string, vars map[string]string) *gateway {
	t.Helper()
	return startServeHooks(t, cfgText, vars, nil)
}

// startServeHooks is startServe with more test hooks: hook, if not nil,
// sets them before serve starts.
func startServeHooks(t *testing.T, cfgText string, vars map[string]string, hook func(*testHooks)) *gateway {
	t.Helper()
	g := &gateway{t: t, dataDir: t.TempDir(), clock: newTestClock(), logs: &syncBuffer{}, done: make(chan error, 1)}
	path := filepath.Join(t.TempDir(), "scopegate.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"scopegate", "serve", "--config", path, "--data-dir", g.dataDir,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	h := &testHooks{now: g.clock.Now}
	if hook != nil {
		hook(h)
	}
	launchServe(t, g, args, vars, h)
	return g
}

// startLimited starts a gateway on the e2e features (the mock upstream
// behind feature "chat") with limits in ls, plus extra limits settings.
func startLimited(t *testing.T, ls limitsStore, extra string) *gateway {
	t.Helper()
	g := startServe(t, e2eFeatures+ls.config(extra), nil)
	if g.info.AdminKey == "" {
		t.Fatal("serve on a new data directory reported no admin key")
	}
	return g
}

// limitedKey creates principal id (external, ceiling "chat") and a key for
// it with limits, and returns the key.
func limitedKey(g *gateway, principal string, limits map[string]any) keyRecord {
	g.t.Helper()
	g.admin(g.info.AdminKey, "POST", "/admin/v1/principals", map[string]any{
		"id": principal, "kind": "service", "audience": "external", "scopes": []string{"chat"}}, http.StatusCreated, nil)
	return g.createKey(g.info.AdminKey, map[string]any{"principal": principal, "scopes": []string{"chat"}, "limits": limits})
}

// loadClient is an HTTP client for many calls at once: each caller keeps
// its connection instead of opening one per call.
func loadClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 30 * time.Second}
}

// loadResult is what a load run saw.
type loadResult struct {
	// elapsed is from before the first call was sent to after the last
	// answer arrived.
	elapsed                 time.Duration
	sent, accepted, refused int
	// acceptedIDs and refusedIDs are the X-Request-Id of each answer.
	acceptedIDs, refusedIDs []string
	// perAddr counts the calls sent to each data plane address.
	perAddr map[string]int
	// problems are answers that are neither a 200 nor a well-formed 429
	// for the key's requests per minute, or calls that failed.
	problems []string
}

const loadBody = `{"model":"mock-small","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`

// hammer makes clients callers send chat completions with key as fast as
// they can for d, caller i to addrs[i%len(addrs)], and collects what they
// got. A refusal must be a 429 for the key's requests_per_minute of rpm,
// with Retry-After.
func hammer(addrs []string, key string, rpm, clients int, d time.Duration) loadResult {
	hc := loadClient()
	defer hc.CloseIdleConnections()
	var mu sync.Mutex
	res := loadResult{perAddr: map[string]int{}}
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(res.problems) < 10 {
			res.problems = append(res.problems, fmt.Sprintf(format, args...))
		}
	}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range clients {
		addr := addrs[i%len(addrs)]
		wg.Go(func() {
			for time.Now().Before(deadline) {
				code, id, err := limitCall(hc, addr, key, rpm)
				mu.Lock()
				res.sent++
				res.perAddr[addr]++
				switch {
				case err != nil:
				case code == http.StatusOK:
					res.accepted++
					res.acceptedIDs = append(res.acceptedIDs, id)
				default:
					res.refused++
					res.refusedIDs = append(res.refusedIDs, id)
				}
				mu.Unlock()
				if err != nil {
					problem("call %s: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// limitCall sends one chat completion and checks a refusal's form: 429,
// code rate_limited, Retry-After in whole seconds, and RateLimit-Policy
// naming the key's requests_per_minute. It returns the status and the
// request id; err describes anything else.
func limitCall(hc *http.Client, addr, key string, rpm int) (int, string, error) {
	req, err := http.NewRequest("POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(loadBody))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	id := resp.Header.Get("X-Request-Id")
	if err != nil {
		return 0, id, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.StatusCode, id, nil
	case http.StatusTooManyRequests:
	default:
		return resp.StatusCode, id, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(body, &e)
	if e.Error.Code != "rate_limited" {
		return resp.StatusCode, id, fmt.Errorf("429 with code %q, want rate_limited: %s", e.Error.Code, body)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		return resp.StatusCode, id, fmt.Errorf("429 with Retry-After %q, want whole seconds ≥ 1", resp.Header.Get("Retry-After"))
	}
	if p, want := resp.Header.Get("RateLimit-Policy"), fmt.Sprintf(`"key_requests_per_minute";q=%d;w=60`, rpm); !strings.Contains(p, want) {
		return resp.StatusCode, id, fmt.Errorf("429 with RateLimit-Policy %q, want it to hold %s", p, want)
	}
	return resp.StatusCode, id, nil
}

// gcraBound is the most a limit of n per minute lets pass in an interval
// of length d, by docs/limits.md: the burst of n, then n per minute.
func gcraBound(n int, d time.Duration) int {
	return n + int(d*time.Duration(n)/time.Minute)
}

// auditEvent is one decoded audit record.
type auditEvent map[string]any

func (e auditEvent) str(name string) string {
	s, _ := e[name].(string)
	return s
}

func (e auditEvent) num(name string) int64 {
	f, _ := e[name].(float64)
	return int64(f)
}

// auditEventsIn returns the complete records of the audit log in dataDir
// (an unterminated last line, still being written, is left out), of kind
// event, or all of them when event is "".
func auditEventsIn(t *testing.T, dataDir, event string) []auditEvent {
	t.Helper()
	log := readAuditLog(t, dataDir)
	log = log[:bytes.LastIndexByte(log, '\n')+1]
	var out []auditEvent
	for line := range bytes.SplitSeq(bytes.TrimSuffix(log, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e auditEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("audit line is not JSON: %v: %s", err, line)
		}
		if event == "" || e.str("event") == event {
			out = append(out, e)
		}
	}
	return out
}

// authzTally counts the authz events of key in logs, by request id.
type authzTally struct {
	allowed     map[string]bool
	rateLimited map[string]bool // deny, rate_limited, 429
	other       []auditEvent
}

func tallyAuthz(t *testing.T, keyID string, dataDirs ...string) authzTally {
	t.Helper()
	a := authzTally{allowed: map[string]bool{}, rateLimited: map[string]bool{}}
	for _, dir := range dataDirs {
		for _, e := range auditEventsIn(t, dir, "authz") {
			if e.str("key") != keyID {
				continue
			}
			switch {
			case e.str("decision") == "allow":
				a.allowed[e.str("req")] = true
			case e.str("decision") == "deny" && e.str("reason") == "rate_limited" && e.num("status") == 429:
				a.rateLimited[e.str("req")] = true
			default:
				a.other = append(a.other, e)
			}
		}
	}
	return a
}

// checkLoad checks a load run against a limit of rpm per minute: every
// call answered 200 or 429, and at least the burst passed and at most the
// GCRA bound (exactly the burst when the clock is frozen).
func checkLoad(t *testing.T, res loadResult, rpm int, frozen bool) {
	t.Helper()
	t.Logf("calls for %v: %d sent, %d accepted, %d refused (limit %d/min, bound %d); per address %v",
		res.elapsed.Round(time.Millisecond), res.sent, res.accepted, res.refused, rpm, gcraBound(rpm, res.elapsed), res.perAddr)
	for _, p := range res.problems {
		t.Errorf("bad answer: %s", p)
	}
	if res.accepted+res.refused != res.sent {
		t.Errorf("accepted %d + refused %d != sent %d", res.accepted, res.refused, res.sent)
	}
	if res.refused == 0 {
		t.Errorf("no call was refused in %d: the load did not reach the limit", res.sent)
	}
	switch bound := gcraBound(rpm, res.elapsed); {
	case frozen && res.accepted != rpm:
		t.Errorf("accepted %d calls on a frozen clock, want exactly the burst of %d", res.accepted, rpm)
	case res.accepted < rpm:
		t.Errorf("accepted %d calls, want at least the burst of %d", res.accepted, rpm)
	case res.accepted > bound:
		t.Errorf("accepted %d calls in %v, want at most %d + ⌊elapsed·%d/60s⌋ = %d", res.accepted, res.elapsed, rpm, rpm, bound)
	}
}

// checkLoadAudit checks that the audit logs in dataDirs hold, for the
// key, exactly one allow event per call accepted in runs and one
// rate_limited deny event (status 429) per call refused, and nothing else.
func checkLoadAudit(t *testing.T, keyID string, dataDirs []string, runs ...loadResult) {
	t.Helper()
	a := tallyAuthz(t, keyID, dataDirs...)
	var accepted, refused int
	for _, res := range runs {
		accepted += res.accepted
		refused += res.refused
		for _, id := range res.refusedIDs {
			if !a.rateLimited[id] {
				t.Errorf("refused call %s has no rate_limited deny event", id)
				break
			}
		}
		for _, id := range res.acceptedIDs {
			if !a.allowed[id] {
				t.Errorf("accepted call %s has no allow event", id)
				break
			}
		}
	}
	if len(a.allowed) != accepted || len(a.rateLimited) != refused || len(a.other) != 0 {
		t.Errorf("audit logs hold %d allow and %d rate_limited deny events (and %d others: %v) for the key, want %d and %d",
			len(a.allowed), len(a.rateLimited), len(a.other), a.other, accepted, refused)
	}
}

// TestLimitsAccuracy sends 50 clients' calls as fast as they come against
// one key limited to 40 requests a minute: what passes is the documented
// burst and refill, and every refusal is a 429 the audit log records.
func TestLimitsAccuracy(t *testing.T) {
	t.Parallel()
	const rpm, clients = 40, 50
	for _, be := range limitsBackends {
		t.Run(be.name, func(t *testing.T) {
			ls := be.open(t)
			g := startLimited(t, ls, "")
			k := limitedKey(g, "load", map[string]any{"requests_per_minute": rpm})
			runs := []loadResult{hammer([]string{g.info.DataAddr}, k.Key, rpm, clients, 2*time.Second)}
			checkLoad(t, runs[0], rpm, be.frozen)
			if be.frozen {
				// The bucket refills at 40 a minute: 30.75 s later on the
				// gateway's clock, 20 more pass (not 21: that takes 31.5 s).
				g.clock.Advance(30*time.Second + 750*time.Millisecond)
				more := hammer([]string{g.info.DataAddr}, k.Key, rpm, clients, time.Second)
				t.Logf("after 30.75s on the gateway's clock: %d sent, %d accepted", more.sent, more.accepted)
				if more.accepted != rpm/2 || len(more.problems) != 0 || more.accepted+more.refused != more.sent {
					t.Errorf("after 30.75s: %d of %d accepted (problems %q), want exactly %d", more.accepted, more.sent, more.problems, rpm/2)
				}
				runs = append(runs, more)
			}
			if be.redis {
				// The counter is where the config says: on Redis, under
				// the test's prefix.
				if key := ls.prefix + "key:" + k.ID + ":requests_per_minute"; !redisKeyExists(t, ls.addr, key) {
					t.Errorf("Redis has no key %s", key)
				}
			}
			g.stop()
			checkLoadAudit(t, k.ID, []string{g.dataDir}, runs...)
		})
	}
}
