package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
)

// TestClusterAuditLog runs three replicas in cluster mode on one
// PostgreSQL database with the cluster audit log (audit.driver postgres),
// under load spread over the three, and kills the replica that sequences
// the log in the middle of it. Another replica takes the lead; at the end
// the exported log verifies with the verifier key, and every call the
// clients saw answered 200 (so forwarded to the upstream) has its allow
// event in it, exactly once.
func TestClusterAuditLog(t *testing.T) {
	t.Parallel()
	dsn := migratedPostgresSchema(t)
	skey, vkey, err := note.GenerateKey(rand.Reader, "scopegate/test-cluster/audit")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e2eFeatures + "store: {driver: postgres, dsn: \"${TEST_PG_DSN}\"}\n" +
		"audit: {driver: postgres, signing_key: \"${TEST_AUDIT_KEY}\", checkpoint_interval: 200ms}\n"
	vars := map[string]string{"TEST_PG_DSN": dsn, "TEST_AUDIT_KEY": skey, "SCOPEGATE_PEPPER": clusterPepper}

	replicas := []*gateway{startServe(t, cfg, vars), startServe(t, cfg, vars), startServe(t, cfg, vars)}
	admin := replicas[0].info.AdminKey
	replicas[0].admin(admin, "POST", "/admin/v1/principals", map[string]any{
		"id": "svc-audit", "kind": "service", "audience": "external", "scopes": []string{"chat"}}, http.StatusCreated, nil)
	key := replicas[0].createKey(admin, map[string]any{"principal": "svc-audit", "scopes": []string{"chat"}})

	leader := func() int {
		for i, g := range replicas {
			if strings.Contains(g.logs.String(), "audit sequencer: leading") {
				return i
			}
		}
		return -1
	}
	waitUntil(t, "a replica to lead the audit log", func() bool { return leader() >= 0 })
	killed := leader()

	// Load on every replica; the leader is stopped halfway through.
	var (
		mu  sync.Mutex
		ids []string
	)
	hc := loadClient()
	defer hc.CloseIdleConnections()
	call := func(g *gateway) {
		req, _ := http.NewRequest("POST", "http://"+g.info.DataAddr+"/v1/chat/completions",
			strings.NewReader(`{"model":"mock-small","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`))
		req.Header.Set("Authorization", "Bearer "+key.Key)
		resp, err := hc.Do(req)
		if err != nil {
			return // the killed replica's connections
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			mu.Lock()
			ids = append(ids, resp.Header.Get("X-Request-Id"))
			mu.Unlock()
		}
	}
	load := func(targets []*gateway, d time.Duration) {
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for w := range 12 {
			wg.Go(func() {
				for i := 0; time.Now().Before(deadline); i++ {
					call(targets[(w+i)%len(targets)])
				}
			})
		}
		wg.Wait()
	}
	var survivors []*gateway
	for i, g := range replicas {
		if i != killed {
			survivors = append(survivors, g)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		load(replicas, 1500*time.Millisecond)
	}()
	time.Sleep(700 * time.Millisecond)
	// The leader dies abruptly: its database session is ended in the
	// middle of whatever it was doing, then the replica goes away.
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "SELECT pg_terminate_backend($1)", leaderPID(t, replicas[killed])); err != nil {
		t.Fatalf("end the leader's session: %v", err)
	}
	replicas[killed].stop()
	<-done
	load(survivors, 500*time.Millisecond)
	waitUntil(t, "another replica to take the lead", func() bool {
		for _, g := range survivors {
			if strings.Contains(g.logs.String(), "audit sequencer: leading") {
				return true
			}
		}
		return false
	})

	// The new leader's detectors watch the records it sequences: a key
	// probing a model it lacks the scope for is alerted in the cluster log.
	prober := survivors[0].createKey(admin, map[string]any{"principal": "svc-audit", "scopes": []string{"chat:mock-small"}})
	for range 10 {
		code, _ := survivors[1].do("POST", "http://"+survivors[1].info.DataAddr+"/v1/chat/completions", prober.Key, nil,
			`{"model":"mock-large","messages":[{"role":"user","content":"hi"}]}`)
		if code != http.StatusForbidden {
			t.Fatalf("probing call = %d, want 403", code)
		}
	}
	waitUntil(t, "the probing alert in the cluster log", func() bool {
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM audit_records WHERE convert_from(line, 'UTF8') LIKE '%"event":"alert.probing"%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})

	// Everything appended is sequenced by the new leader.
	waitUntil(t, "every appended event to be sequenced and signed", func() bool {
		var pending, size, signed int64
		if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM audit_pending),
			(SELECT count(*) FROM audit_records), (SELECT coalesce(max(size), 0) FROM audit_checkpoints)`).Scan(&pending, &size, &signed); err != nil {
			t.Fatal(err)
		}
		return pending == 0 && size > 0 && signed == size
	})

	// Export and verify, as an auditor would.
	cfgPath := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export")
	getenv := func(k string) string { return vars[k] }
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"scopegate", "audit", "export", "--config", cfgPath, "--out", out},
		getenv, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("audit export: %v\n%s", err, stderr.String())
	}
	stdout.Reset()
	if err := run(t.Context(), []string{"scopegate", "audit", "verify", "--vkey", vkey, out},
		getenv, strings.NewReader(""), &stdout, &stderr); err != nil || !strings.HasPrefix(stdout.String(), "ok: ") {
		t.Fatalf("audit verify = %v\n%s%s", err, stdout.String(), stderr.String())
	}

	// Every call answered 200 has exactly one allow event.
	allows := map[string]int{}
	segs, _ := filepath.Glob(filepath.Join(out, "segments", "*.jsonl"))
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.SplitSeq(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
			var e map[string]any
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatalf("record is not JSON: %s", line)
			}
			if e["event"] == "authz" && e["decision"] == "allow" {
				allows[e["req"].(string)]++
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) < 50 {
		t.Fatalf("only %d calls answered 200: the load did not run", len(ids))
	}
	for _, id := range ids {
		if allows[id] != 1 {
			t.Errorf("call %s answered 200 has %d allow events, want 1", id, allows[id])
		}
	}
	t.Logf("%d calls answered, %d allow events, replica %d killed while leading", len(ids), len(allows), killed)
}

// leaderPID returns the database session of g's audit sequencer, from its
// "leading" log line.
func leaderPID(t *testing.T, g *gateway) int64 {
	t.Helper()
	for line := range strings.SplitSeq(g.logs.String(), "\n") {
		if !strings.Contains(line, "audit sequencer: leading") {
			continue
		}
		var e struct {
			PID int64 `json:"pid"`
		}
		if err := json.Unmarshal([]byte(line), &e); err == nil && e.PID != 0 {
			return e.PID
		}
	}
	t.Fatalf("no leading line with a pid in the logs:\n%s", g.logs.String())
	return 0
}
