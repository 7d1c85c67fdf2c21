package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testenv"
)

// clusterPepper is the pepper every replica of the cluster test shares, so
// a key issued on one verifies on the others.
const clusterPepper = "cluster-test-pepper-0123456789abcdef"

// TestLimitsCluster runs three gateways in one process, as three replicas
// of one deployment: one PostgreSQL store, one Redis for the limits, a data
// directory (and audit log) each. A key made on the first is limited
// across all three exactly as one gateway limits it, and the usage report
// of any replica counts the calls of all of them.
func TestLimitsCluster(t *testing.T) {
	t.Parallel()
	const rpm, clients = 40, 50
	addr := testenv.RedisAddr(t)
	cfg := e2eFeatures + "store: {driver: postgres, dsn: \"${TEST_PG_DSN}\"}\n" + redisLimits(addr, redisTestPrefix(t, addr), "")
	vars := map[string]string{"TEST_PG_DSN": migratedPostgresSchema(t), "SCOPEGATE_PEPPER": clusterPepper}

	// The first replica initializes the store; the others find it done.
	a := startServe(t, cfg, vars)
	if a.info.AdminKey == "" {
		t.Fatal("the first replica reported no admin key")
	}
	b, c := startServe(t, cfg, vars), startServe(t, cfg, vars)
	if b.info.AdminKey != "" || c.info.AdminKey != "" {
		t.Fatal("a replica on an initialized store created another admin key")
	}
	replicas := []*gateway{a, b, c}

	k := limitedKey(a, "load", map[string]any{"requests_per_minute": rpm})
	addrs := []string{a.info.DataAddr, b.info.DataAddr, c.info.DataAddr}
	res := hammer(addrs, k.Key, rpm, clients, 2*time.Second)
	checkLoad(t, res, rpm, false)
	for _, g := range replicas {
		if res.perAddr[g.info.DataAddr] == 0 {
			t.Errorf("replica %s got no calls", g.info.DataAddr)
		}
	}

	// Each replica's recorder adds its counts to the shared store once a
	// second; the report of the last replica sums all three. Each call of
	// loadBody is 1 word in and 2 out.
	n := int64(res.accepted)
	want := usageTotals{Requests: n, InputTokens: n, OutputTokens: 2 * n}
	got := waitUsageTotals(t, c, a.info.AdminKey, url.Values{"key": {k.ID}}, want)
	if got != want {
		t.Errorf("usage report of replica C for the key = %v, want %v (the calls accepted by all three)", got, want)
	}

	var dirs []string
	for _, g := range replicas {
		g.stop()
		dirs = append(dirs, g.dataDir)
	}
	checkLoadAudit(t, k.ID, dirs, res)
	if events := usageEventTotals(t, k.ID, dirs...); events != got {
		t.Errorf("usage events of the three audit logs sum to %v, the report to %v", events, got)
	}
}

// usageEventTotals sums the usage events of key in the audit logs of
// dataDirs: one request each, and their tokens.
func usageEventTotals(t *testing.T, keyID string, dataDirs ...string) usageTotals {
	t.Helper()
	var u usageTotals
	for _, dir := range dataDirs {
		for _, e := range auditEventsIn(t, dir, "usage") {
			if e.str("key") == keyID {
				u.Requests++
				u.InputTokens += e.num("tokens_in")
				u.OutputTokens += e.num("tokens_out")
			}
		}
	}
	return u
}

// usageTotals are the totals of a usage report.
type usageTotals struct {
	Requests     int64 `json:"requests"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// usageReport is GET /admin/v1/usage's answer, the parts the tests read.
type usageReport struct {
	Rows []struct {
		Key   *string `json:"key"`
		Model *string `json:"model"`
		usageTotals
	} `json:"rows"`
	Totals usageTotals `json:"totals"`
}

// usageDay is the query range of the test clock's day, which holds every
// call of a test (the clock stands still or is moved by minutes).
func usageDay(q url.Values) url.Values {
	q.Set("from", "2026-11-28T00:00:00Z")
	q.Set("to", "2026-11-29T00:00:00Z")
	return q
}

// waitUsage polls g's usage report for query q until its totals are
// want, for up to 15 s (the recorder flushes once a second), and returns
// the last report.
func waitUsage(t *testing.T, g *gateway, adminKey string, q url.Values, want usageTotals) usageReport {
	t.Helper()
	path := "/admin/v1/usage?" + usageDay(q).Encode()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for {
		var rep usageReport
		g.admin(adminKey, "GET", path, nil, http.StatusOK, &rep)
		if rep.Totals == want {
			return rep
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Logf("usage report %s still %v after 15s, want %v", path, rep.Totals, want)
			return rep
		}
	}
}

func waitUsageTotals(t *testing.T, g *gateway, adminKey string, q url.Values, want usageTotals) usageTotals {
	t.Helper()
	return waitUsage(t, g, adminKey, q, want).Totals
}

// String makes failures readable.
func (u usageTotals) String() string {
	return strings.TrimSpace(fmt.Sprintf("%d requests, %d in, %d out", u.Requests, u.InputTokens, u.OutputTokens))
}
