package proxy_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// TestBudgetAlerts runs calls against a key's budget of 1000 tokens a day
// with alerts at 80, 90 and 100 %. Each threshold raises one alert.budget
// when a reservation or a settlement's overspend first crosses it, not
// again in the same day, even when a refund lets the use fall back and
// cross again, and again on the next UTC day.
func TestBudgetAlerts(t *testing.T) {
	const principal apikey.PrincipalID = "alerts@example.com"
	rec := &fakeAlerts{}
	e := newLimitEnv(t, proxy.LimiterConfig{BudgetAlerts: []int{80, 90, 100}, Alerts: rec}, envOptions{})
	e.addPrincipal(principal, apikey.AudienceInternal, apikey.Limits{})
	key, id := e.limitedKey(t, principal, apikey.Limits{TokensPerDay: 1000})
	alert := func(pct, used, window string) audit.Alert {
		return audit.Alert{Rule: "budget", Subject: "key:" + string(id), Principal: string(principal),
			Figures: "kind=tokens_per_day threshold_pct=" + pct + " used=" + used + " max=1000 window=" + window}
	}
	steps := []struct {
		name string
		// nextDay moves the clock to the next UTC day first.
		nextDay bool
		// The call reserves 3 + maxTokens and uses in + out.
		maxTokens int
		in, out   int64
		refused   bool
		used      int64
		want      []audit.Alert
	}{
		// 13 reserved, settled to 800: the overspend crosses 80 %.
		{name: "SettlementCrosses80", maxTokens: 10, in: 700, out: 100, used: 800,
			want: []audit.Alert{alert("80", "800", "2030-01-02")}},
		// The reservation of 100 crosses 90 %; settled to as much.
		{name: "ReservationCrosses90", maxTokens: 97, in: 60, out: 40, used: 900,
			want: []audit.Alert{alert("90", "900", "2030-01-02")}},
		{name: "BelowNext", maxTokens: 10, in: 5, out: 5, used: 910},
		// The reservation of 90 reaches 100 %; 40 of it is refunded.
		{name: "ReservationReaches100", maxTokens: 87, in: 25, out: 25, used: 960,
			want: []audit.Alert{alert("100", "1000", "2030-01-02")}},
		// 100 % again after the refund, in the same day: no new alert.
		{name: "ReachesAgain", maxTokens: 37, in: 20, out: 20, used: 1000},
		{name: "Refused", maxTokens: 1, refused: true, used: 1000},
		{name: "NextDay", nextDay: true, maxTokens: 10, in: 700, out: 100, used: 800,
			want: []audit.Alert{alert("80", "800", "2030-01-03")}},
		// One overspend crossing two thresholds raises both.
		{name: "SettlementCrossesTwo", maxTokens: 10, in: 150, out: 50, used: 1000,
			want: []audit.Alert{alert("100", "1000", "2030-01-03"), alert("90", "1000", "2030-01-03")}},
	}
	for _, s := range steps {
		if s.nextDay {
			e.clock.Add(21 * time.Hour) // 2030-01-03 00:04:05 UTC
		}
		e.up.setHandler(usageHandler(s.in, s.out))
		resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", s.maxTokens))
		switch {
		case s.refused && resp.StatusCode != http.StatusTooManyRequests:
			t.Fatalf("%s: status = %d %s, want 429", s.name, resp.StatusCode, b)
		case !s.refused && resp.StatusCode != http.StatusOK:
			t.Fatalf("%s: status = %d %s, want 200", s.name, resp.StatusCode, b)
		case !s.refused:
			e.auditor.waitUsage(t)
		}
		e.lim.Wait()
		if got := 1000 - e.remainingOf(t, keyLimit(id, ratelimit.TokensPerDay, 1000)); got != s.used {
			t.Errorf("%s: used %d, want %d", s.name, got, s.used)
		}
		got := rec.take()
		slices.SortFunc(got, func(a, b audit.Alert) int { return strings.Compare(a.Figures, b.Figures) })
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: alerts (-want +got):\n%s", s.name, diff)
		}
	}
}

// TestBudgetAlertsPrincipal checks the alerts of a principal's month
// budget and of a cost budget: their subject, the principal as the
// configuration maps it, the month window, and cost in micro-dollars.
func TestBudgetAlertsPrincipal(t *testing.T) {
	const principal apikey.PrincipalID = "team-bot"
	rec := &fakeAlerts{}
	e := newLimitEnv(t, proxy.LimiterConfig{BudgetAlerts: []int{50}, Alerts: rec,
		Prices:    map[string]proxy.Price{"gpt-4o-mini": miniPrice},
		Principal: func(id string) string { return "pseudo-" + id }}, envOptions{})
	e.addPrincipal(principal, apikey.AudienceInternal, apikey.Limits{TokensPerMonth: 10000, CostPerDay: 4000})
	key, _ := e.limitedKey(t, principal, apikey.Limits{})
	// 13 tokens and 7 µ$ reserved; used 10000 tokens, 1200 + 1200 µ$.
	e.up.setHandler(usageHandler(8000, 2000))
	if resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", 10)); resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d %s, want 200", resp.StatusCode, b)
	}
	e.auditor.waitUsage(t)
	e.lim.Wait()
	got := rec.take()
	slices.SortFunc(got, func(a, b audit.Alert) int { return strings.Compare(a.Figures, b.Figures) })
	want := []audit.Alert{
		{Rule: "budget", Subject: "principal:team-bot", Principal: "pseudo-team-bot",
			Figures: "kind=cost_per_day threshold_pct=50 used=2400 max=4000 window=2030-01-02"},
		{Rule: "budget", Subject: "principal:team-bot", Principal: "pseudo-team-bot",
			Figures: "kind=tokens_per_month threshold_pct=50 used=10000 max=10000 window=2030-01"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
}

// TestBudgetAlertWait checks that StoreLimiter.Wait returns only once the
// alerts being recorded are written: the recorder blocks until released,
// and Wait is still waiting when every other goroutine of the bubble is.
func TestBudgetAlertWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &fakeAlerts{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
		lim := proxy.NewStoreLimiter(proxy.LimiterConfig{Store: ratelimit.NewMemory(time.Now), DefaultOutput: 10,
			BudgetAlerts: []int{50}, Alerts: rec})
		key := &apikey.Key{ID: "k1", Limits: apikey.Limits{TokensPerDay: 100}}
		p := &apikey.Principal{ID: "p1", Audience: apikey.AudienceInternal}
		// 40 + 20 reserved: past 50 %.
		res, err := lim.Reserve(t.Context(), proxy.LimitRequest{Metered: true, Key: key, Principal: p, Feature: "chat",
			Resource: "m", InputTokens: 40, MaxOutputTokens: 20, RequestID: "r1"})
		if err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		<-rec.entered
		done := make(chan struct{})
		go func() {
			lim.Wait()
			close(done)
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Wait returned while an alert was still being recorded")
		default:
		}
		close(rec.gate)
		<-done
		want := []audit.Alert{{Rule: "budget", Subject: "key:k1", Principal: "p1",
			Figures: "kind=tokens_per_day threshold_pct=50 used=60 max=100 window=2000-01-01"}}
		if diff := cmp.Diff(want, rec.take()); diff != "" {
			t.Errorf("alerts after Wait (-want +got):\n%s", diff)
		}
		res.Settle(t.Context(), provider.Usage{InputTokens: 30, OutputTokens: 10, Known: true})
		lim.Wait()
		if got := rec.take(); len(got) != 0 {
			t.Errorf("a settlement below the threshold raised %+v", got)
		}
	})
}

// TestBudgetAlertsPastBudget checks alerts past 100 %, which
// limits.budget_alerts allows (up to 1000): a settlement's overspend can
// take a budget's use past its maximum, and the alert must report the
// real use.
func TestBudgetAlertsPastBudget(t *testing.T) {
	rec := &fakeAlerts{}
	e := newLimitEnv(t, proxy.LimiterConfig{BudgetAlerts: []int{80, 150}, Alerts: rec}, envOptions{})
	key, id := e.limitedKey(t, internalID, apikey.Limits{TokensPerDay: 1000})
	// 13 reserved, 2000 used.
	e.up.setHandler(usageHandler(1500, 500))
	if resp, b := e.post(t, key, "/v1/chat/completions", chatBody("gpt-4o-mini", 10)); resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d %s, want 200", resp.StatusCode, b)
	}
	e.auditor.waitUsage(t)
	e.lim.Wait()
	got := rec.take()
	slices.SortFunc(got, func(a, b audit.Alert) int { return strings.Compare(a.Figures, b.Figures) })
	want := []audit.Alert{
		{Rule: "budget", Subject: "key:" + string(id), Principal: string(internalID),
			Figures: "kind=tokens_per_day threshold_pct=150 used=2000 max=1000 window=2030-01-02"},
		{Rule: "budget", Subject: "key:" + string(id), Principal: string(internalID),
			Figures: "kind=tokens_per_day threshold_pct=80 used=2000 max=1000 window=2030-01-02"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
}
