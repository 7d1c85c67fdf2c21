package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testenv"
)

// tcpProxy forwards TCP connections from its own address to a target (the
// test's Redis). It plays network outages: cut closes the listener and
// every connection (the peer is refused at once), stall accepts
// connections and never answers (the peer waits for its read timeout),
// unreachable drops connection attempts (the peer waits for its dial
// timeout), and restore forwards again on the same address.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	// hole closes the black hole of unreachable, if it is open.
	hole func()
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.listen(false)
	t.Cleanup(p.cut)
	return p
}

// restore ends an outage: it forwards again, on the same port.
func (p *tcpProxy) restore() {
	p.t.Helper()
	p.cut()
	p.listen(false)
}

// stall cuts the connections, then accepts new ones and never answers.
func (p *tcpProxy) stall() {
	p.t.Helper()
	p.cut()
	p.listen(true)
}

// unreachable cuts the connections, then drops connection attempts: t is
// skipped where that cannot be done (see listenBlackHole).
func (p *tcpProxy) unreachable(t *testing.T) {
	t.Helper()
	p.cut()
	hole := listenBlackHole(t, p.addr)
	p.mu.Lock()
	p.hole = hole
	p.mu.Unlock()
}

// listen listens on the proxy's address (a free port the first time, the
// same port after), and forwards what it accepts, or holds it if stalled.
func (p *tcpProxy) listen(stalled bool) {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() { p.accept(ln, stalled) })
}

func (p *tcpProxy) accept(ln net.Listener, stalled bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // cut
		}
		if stalled {
			if !p.track(c) {
				return
			}
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Go(func() { p.pipe(c, up) })
		p.wg.Go(func() { p.pipe(up, c) })
	}
}

// track remembers a connection pair, unless the proxy was cut meanwhile.
func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies from src to dst until either ends, then closes both.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut closes the listener and every connection, and waits until nothing
// is forwarded any more.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	if p.hole != nil {
		p.hole()
		p.hole = nil
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// outageCall sends a chat completion (ledgerFeatures' chat) and returns
// the status, the error code, Retry-After, the request id and how long the
// answer took.
func outageCall(t *testing.T, g *gateway, key string) (code int, reason, retryAfter, id string, took time.Duration) {
	t.Helper()
	start := time.Now()
	code, hdr, body := post(t, g, "/v1/chat/completions", key, chatBody)
	took = time.Since(start)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(body, &e)
	return code, e.Error.Code, hdr.Get("Retry-After"), hdr.Get("X-Request-Id"), took
}

// wantReadyz checks /readyz: 200, or not 200 and naming the limiter.
func wantReadyz(t *testing.T, g *gateway, step string, ready bool) {
	t.Helper()
	code, body := g.do("GET", "http://"+g.info.AdminAddr+"/readyz", "", nil, nil)
	if ready && code != http.StatusOK {
		t.Errorf("%s: /readyz = %d %s, want 200", step, code, body)
	}
	if !ready && (code == http.StatusOK || !strings.Contains(string(body), "limiter unreachable")) {
		t.Errorf("%s: /readyz = %d %s, want a failure naming the limiter", step, code, body)
	}
}

// outageLimit is how long a call may take to be refused while Redis is
// cut: the Redis client's timeouts are a second or two, and the machine
// is shared and runs the race detector.
const outageLimit = 3 * time.Second

// TestLimitsRedisOutage cuts the network between the gateway and Redis:
// calls are refused at once with 503 limiter_unavailable and nothing is
// forwarded, /readyz says why, and when the network is back calls pass
// again without a restart. With fail_open, a key whose only limit is of
// a listed kind is served meanwhile; one with a budget is not.
func TestLimitsRedisOutage(t *testing.T) {
	redisAddr := testenv.RedisAddr(t)

	t.Run("FailClosed", func(t *testing.T) {
		up := newLedgerUpstream(t)
		proxy := newTCPProxy(t, redisAddr)
		g := startServe(t, ledgerFeatures(up.URL)+redisLimits(proxy.addr, redisTestPrefix(t, redisAddr), ""), nil)
		k := limitedKey(g, "app", map[string]any{"requests_per_minute": 1000})

		for i := range 3 {
			if code, reason, _, _, _ := outageCall(t, g, k.Key); code != http.StatusOK {
				t.Fatalf("call %d with Redis reachable = %d %s, want 200", i, code, reason)
			}
		}
		wantReadyz(t, g, "Redis reachable", true)
		before, _ := up.received()

		// Each outage: calls are refused quickly with 503, nothing is
		// forwarded, and /readyz names the limiter.
		var refusedIDs []string
		for _, outage := range []struct {
			name  string
			start func(t *testing.T)
		}{
			{"Cut", func(*testing.T) { proxy.cut() }},
			{"Stalled", func(*testing.T) { proxy.stall() }},
			{"Unreachable", proxy.unreachable},
		} {
			t.Run(outage.name, func(t *testing.T) {
				outage.start(t)
				var slowest time.Duration
				for i := range 2 {
					code, reason, retry, id, took := outageCall(t, g, k.Key)
					slowest = max(slowest, took)
					if code != http.StatusServiceUnavailable || reason != "limiter_unavailable" || retry == "" {
						t.Errorf("call %d = %d %s (Retry-After %q), want 503 limiter_unavailable with Retry-After", i, code, reason, retry)
					}
					if took > outageLimit {
						t.Errorf("call %d took %v to be refused, want under %v", i, took, outageLimit)
					}
					refusedIDs = append(refusedIDs, id)
				}
				t.Logf("the slowest of 2 refusals took %v", slowest)
				wantReadyz(t, g, outage.name, false)
				if n, _ := up.received(); n != before {
					t.Errorf("the upstream received %d calls while Redis was down, want none", n-before)
				}
			})
		}

		// The same port again: the gateway reconnects by itself.
		proxy.restore()
		waitPass(t, g, k.Key)
		for i := range 3 {
			if code, reason, _, _, _ := outageCall(t, g, k.Key); code != http.StatusOK {
				t.Errorf("call %d after Redis is back = %d %s, want 200", i, code, reason)
			}
		}
		wantReadyz(t, g, "Redis back", true)

		g.stop()
		events := map[string][]auditEvent{}
		for _, e := range auditEventsIn(t, g.dataDir, "authz") {
			events[e.str("req")] = append(events[e.str("req")], e)
		}
		for _, id := range refusedIDs {
			es := events[id]
			if len(es) != 1 || es[0].str("decision") != "deny" || es[0].str("reason") != "limiter_unavailable" || es[0].num("status") != 503 {
				t.Errorf("audit events of call %s refused during the outage = %v, want one deny limiter_unavailable 503", id, es)
			}
		}
		// Everything the upstream received was allowed first.
		allowed := allowedRequests(t, readAuditLog(t, g.dataDir))
		_, ids := up.received()
		for id := range ids {
			if _, ok := allowed[id]; !ok {
				t.Errorf("the upstream received call %q, which has no allow event", id)
			}
		}
	})

	t.Run("FailOpen", func(t *testing.T) {
		up := newLedgerUpstream(t)
		proxy := newTCPProxy(t, redisAddr)
		g := startServe(t, ledgerFeatures(up.URL)+redisLimits(proxy.addr, redisTestPrefix(t, redisAddr), "fail_open: [requests_per_minute]"), nil)
		if !strings.Contains(g.logs.String(), "LIMITS FAIL OPEN") {
			t.Errorf("serve with fail_open logged no warning at start:\n%s", g.logs)
		}
		rpmOnly := limitedKey(g, "app", map[string]any{"requests_per_minute": 1000})
		budgeted := g.createKey(g.info.AdminKey, map[string]any{"principal": "app", "scopes": []string{"chat"},
			"limits": map[string]any{"requests_per_minute": 1000, "tokens_per_day": 1_000_000}})

		proxy.cut()
		for i := range 3 {
			if code, reason, _, _, took := outageCall(t, g, rpmOnly.Key); code != http.StatusOK || took > outageLimit {
				t.Errorf("call %d of a requests_per_minute-only key with Redis cut = %d %s in %v, want 200 (fail open) under %v", i, code, reason, took, outageLimit)
			}
		}
		if code, reason, _, _, _ := outageCall(t, g, budgeted.Key); code != http.StatusServiceUnavailable || reason != "limiter_unavailable" {
			t.Errorf("call of a key with a budget with Redis cut = %d %s, want 503 limiter_unavailable", code, reason)
		}
		if n, _ := up.received(); n != 3 {
			t.Errorf("the upstream received %d calls, want the 3 that failed open", n)
		}
		if !strings.Contains(g.logs.String(), "forwarding requests unlimited") {
			t.Error("no warning was logged while calls were let through unlimited")
		}
	})
}

// waitPass calls until a call passes, for up to 15 s.
func waitPass(t *testing.T, g *gateway, key string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var failed int
	for {
		code, reason, _, _, _ := outageCall(t, g, key)
		if code == http.StatusOK {
			if failed > 0 {
				t.Logf("%d calls were refused after Redis came back, before one passed", failed)
			}
			return
		}
		failed++
		if time.Now().After(deadline) {
			t.Fatalf("calls still refused 15s after Redis came back: %d %s", code, reason)
		}
		select {
		case <-t.Context().Done():
			t.Fatal("test context done")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
