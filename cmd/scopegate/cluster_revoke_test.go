package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// revokeRuns is how many revocations TestClusterRevoke times.
const revokeRuns = 50

// clusterPushGrace is proxy.push_grace in the cluster revocation test.
const clusterPushGrace = time.Second

// TestClusterRevoke runs three replicas on one PostgreSQL store with a
// key cache TTL of a minute (and a test clock that stands still, so the
// TTL never ends): only the change notifications can tell B and C that A
// revoked a key they have cached. It times, over revokeRuns runs, how long
// after the revoke's acknowledgement B and C still accept the key, and
// then cuts B's notifications: B must then bypass its cache within
// push_grace and report not ready until they are back.
func TestClusterRevoke(t *testing.T) {
	t.Parallel()
	dsn := migratedPostgresSchema(t)
	cfg := e2eFeatures + "store: {driver: postgres, dsn: \"${TEST_PG_DSN}\"}\n" +
		fmt.Sprintf("proxy: {key_cache_ttl: 1m, push_grace: %s}\n", clusterPushGrace)
	vars := map[string]string{"TEST_PG_DSN": dsn, "SCOPEGATE_PEPPER": clusterPepper}

	a := startServe(t, cfg, vars)
	var cut atomic.Bool
	var bPID atomic.Uint32
	b := startServeHooks(t, cfg, vars, func(h *testHooks) {
		h.pushConnect = func(ctx context.Context, cc *pgx.ConnConfig) (*pgx.Conn, error) {
			if cut.Load() {
				return nil, errors.New("push channel cut by the test")
			}
			conn, err := pgx.ConnectConfig(ctx, cc)
			if err == nil {
				bPID.Store(conn.PgConn().PID())
			}
			return conn, err
		}
	})
	c := startServe(t, cfg, vars)
	for _, g := range []*gateway{a, b, c} {
		waitReady(t, g) // the notifications are connected
	}
	admin := a.info.AdminKey
	a.admin(admin, "POST", "/admin/v1/principals", map[string]any{
		"id": "revokee", "kind": "service", "audience": "external", "scopes": []string{"chat"}}, http.StatusCreated, nil)
	hc := loadClient()
	defer hc.CloseIdleConnections()

	var lags []time.Duration
	for run := range revokeRuns {
		k := a.createKey(admin, map[string]any{"principal": "revokee", "scopes": []string{"chat"}})
		lag := timeRevoke(t, hc, a, k, []*gateway{b, c})
		if lag > time.Minute {
			t.Fatalf("run %d: the key was accepted %v after its revocation, beyond the cache TTL", run, lag)
		}
		lags = append(lags, lag)
	}
	slices.Sort(lags)
	t.Logf("revocation over %d runs, from the revoke's acknowledgement to the last accepted call on B or C: p50 %v, p99 %v, max %v",
		len(lags), lags[len(lags)/2], lags[(len(lags)*99+99)/100-1], lags[len(lags)-1])

	t.Run("PushCut", func(t *testing.T) {
		k := a.createKey(admin, map[string]any{"principal": "revokee", "scopes": []string{"chat"}})
		if code := chatCall(hc, b.info.DataAddr, k.Key); code != http.StatusOK {
			t.Fatalf("call on B = %d, want 200", code)
		}
		// Cut: B's listener cannot reconnect, and its connection is ended.
		cut.Store(true)
		terminateBackend(t, dsn, bPID.Load())
		start := time.Now()
		lag := timeRevoke(t, hc, a, k, []*gateway{b})
		t.Logf("push channel cut: B refused the revoked key %v after the acknowledgement (push_grace %v)", lag, clusterPushGrace)
		if bound := clusterPushGrace + time.Second; lag > bound {
			t.Errorf("with the push channel cut, B accepted the revoked key %v after its revocation, want under %v", lag, bound)
		}
		code, body := b.do("GET", "http://"+b.info.AdminAddr+"/readyz", "", nil, nil)
		if code != http.StatusServiceUnavailable {
			t.Errorf("/readyz on B %v after the cut = %d %s, want 503", time.Since(start), code, body)
		}
		// A key made now is not cached on B while the channel is down:
		// every call reads the store.
		k2 := a.createKey(admin, map[string]any{"principal": "revokee", "scopes": []string{"chat"}})
		if code := chatCall(hc, b.info.DataAddr, k2.Key); code != http.StatusOK {
			t.Fatalf("call on B while cut = %d, want 200", code)
		}
		a.admin(admin, "POST", "/admin/v1/keys/"+k2.ID+"/revoke", map[string]any{}, http.StatusOK, nil)
		if code := chatCall(hc, b.info.DataAddr, k2.Key); code != http.StatusUnauthorized {
			t.Errorf("call on B with a key revoked while cut = %d, want 401 at once (cache bypassed)", code)
		}

		cut.Store(false)
		waitReady(t, b)
		k3 := a.createKey(admin, map[string]any{"principal": "revokee", "scopes": []string{"chat"}})
		if lag := timeRevoke(t, hc, a, k3, []*gateway{b}); lag > clusterPushGrace {
			t.Errorf("after reconnecting, B accepted a revoked key %v after its revocation", lag)
		}
	})
}

// timeRevoke calls with k on every replica of on (so each caches it),
// then has two clients per replica call as fast as they can while k is
// revoked through a, until each has been refused. It returns how long
// after the revoke's acknowledgement the last accepted call was sent (0 if
// none was).
func timeRevoke(t *testing.T, hc *http.Client, a *gateway, k keyRecord, on []*gateway) time.Duration {
	t.Helper()
	for _, g := range on {
		if code := chatCall(hc, g.info.DataAddr, k.Key); code != http.StatusOK {
			t.Fatalf("call on %s before the revocation = %d, want 200", g.info.DataAddr, code)
		}
	}
	var (
		revoking atomic.Bool
		mu       sync.Mutex
		lastSent time.Time
		problems []string
		wg       sync.WaitGroup
	)
	stop := time.After(2 * time.Minute) // far beyond the TTL
	for _, g := range on {
		for range 2 {
			wg.Go(func() {
				for {
					sent := time.Now()
					code := chatCall(hc, g.info.DataAddr, k.Key)
					mu.Lock()
					switch code {
					case http.StatusOK:
						if sent.After(lastSent) {
							lastSent = sent
						}
					case http.StatusUnauthorized:
						if !revoking.Load() {
							problems = append(problems, "refused before the revocation was sent")
						}
						mu.Unlock()
						return
					default:
						problems = append(problems, fmt.Sprintf("call on %s = %d", g.info.DataAddr, code))
					}
					mu.Unlock()
					select {
					case <-stop:
						return
					default:
					}
				}
			})
		}
	}
	revoking.Store(true)
	sentAt := time.Now()
	a.admin(a.info.AdminKey, "POST", "/admin/v1/keys/"+k.ID+"/revoke", map[string]any{}, http.StatusOK, nil)
	acked := time.Now()
	wg.Wait()
	if len(problems) > 0 {
		t.Fatalf("revoking %s: %s", k.ID, strings.Join(problems, "; "))
	}
	t.Logf("revoke of %s: sent to acknowledged %v; last accepted call sent %v after the revoke was sent",
		k.ID, acked.Sub(sentAt), max(lastSent.Sub(sentAt), 0))
	return max(lastSent.Sub(acked), 0)
}

// chatCall sends one chat completion with key to the data plane at addr
// and returns the status, or 0 if the call failed.
func chatCall(hc *http.Client, addr, key string) int {
	req, err := http.NewRequest("POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(loadBody))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// terminateBackend ends the server process pid of the database at dsn.
func terminateBackend(t *testing.T, dsn string, pid uint32) {
	t.Helper()
	if pid == 0 {
		t.Fatal("no listener connection to end")
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
}
