package admin_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/usage"
)

// The usage fixture's keys. The usage store does not look keys up, so
// these need not exist; fixed ids make the order of rows known.
const (
	usageAlice = "KeyAlice00000000" // alice, red
	usageCarol = "KeyCarol00000000" // carol, blue
	usageDave  = "KeyDave000000000" // dave, red
)

// at returns the given UTC time of the test clock's days: t0 is
// 2030-01-02T03:04:05Z, so the default report runs from 2030-01-01T00:00Z
// to 2030-01-02T04:00Z.
func at(day, hour, minute int) time.Time {
	return time.Date(2030, 1, day, hour, minute, 0, 0, time.UTC)
}

// newUsageEnv is the tenants stack with a usage store holding six buckets:
// one before the current month and one in the next hour, which the default
// range leaves out, and four inside it.
func newUsageEnv(t *testing.T) *tenants {
	t.Helper()
	env := newTenantsWith(t, envConfig{usage: true})
	rec := func(hour time.Time, key, principal, team, model string, n int64, cost apikey.Micros) usage.Record {
		return usage.Record{Hour: hour, Key: apikey.ID(key), Principal: apikey.PrincipalID(principal), Team: team,
			Feature: "chatbot", Model: model, Requests: n, InputTokens: 100 * n, OutputTokens: 200 * n, Cost: cost}
	}
	err := env.usage.Add(t.Context(), []usage.Record{
		rec(time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC), usageAlice, "alice@example.com", "red", "gpt-4o-mini", 100, 100_000_000),
		rec(at(1, 10, 15), usageAlice, "alice@example.com", "red", "gpt-4o-mini", 1, 12_500_000),
		rec(at(2, 1, 0), usageAlice, "alice@example.com", "red", "gpt-4o", 2, 1),
		rec(at(2, 1, 59), usageDave, "dave@example.com", "red", "gpt-4o-mini", 3, 250_000),
		rec(at(2, 3, 0), usageCarol, "carol@example.com", "blue", "gpt-4o-mini", 4, 3_000_000),
		rec(at(2, 4, 0), usageCarol, "carol@example.com", "blue", "gpt-4o-mini", 50, 50_000_000),
	})
	if err != nil {
		t.Fatalf("seed usage: %v", err)
	}
	return env
}

// row returns a report row of n calls (as the fixture makes them) with the
// group values set by fn.
func row(n int64, cost apikey.Micros, fn func(*admin.UsageRow)) admin.UsageRow {
	r := admin.UsageRow{Requests: n, InputTokens: 100 * n, OutputTokens: 200 * n, CostUSD: cost}
	if fn != nil {
		fn(&r)
	}
	return r
}

func totals(n int64, cost apikey.Micros) admin.UsageTotals {
	return admin.UsageTotals{Requests: n, InputTokens: 100 * n, OutputTokens: 200 * n, CostUSD: cost}
}

// TestUsageDefault checks the answer to a bare GET, byte for byte: the
// current month so far, by key, costs as exact dollar amounts.
func TestUsageDefault(t *testing.T) {
	env := newUsageEnv(t)
	resp := env.do(t, request{method: "GET", path: "/admin/v1/usage", key: env.rootKey})
	if resp.status != 200 {
		t.Fatalf("GET /admin/v1/usage = %d %s, want 200", resp.status, resp.body)
	}
	want := `{"from":"2030-01-01T00:00:00Z","to":"2030-01-02T04:00:00Z","group_by":["key"],"rows":[` +
		`{"key":"KeyAlice00000000","requests":3,"input_tokens":300,"output_tokens":600,"cost_usd":12.500001},` +
		`{"key":"KeyCarol00000000","requests":4,"input_tokens":400,"output_tokens":800,"cost_usd":3},` +
		`{"key":"KeyDave000000000","requests":3,"input_tokens":300,"output_tokens":600,"cost_usd":0.25}],` +
		`"totals":{"requests":10,"input_tokens":1000,"output_tokens":2000,"cost_usd":15.750001}}` + "\n"
	if string(resp.body) != want {
		t.Errorf("body =\n%s\nwant\n%s", resp.body, want)
	}
	if cc := resp.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

func TestUsage(t *testing.T) {
	principal := func(p string) func(*admin.UsageRow) { return func(r *admin.UsageRow) { r.Principal = new(p) } }
	tests := []struct {
		name  string
		query string
		want  admin.UsageReport
	}{
		{"PrincipalModel", "group_by=principal,model", admin.UsageReport{
			From: at(1, 0, 0), To: at(2, 4, 0), GroupBy: []string{"principal", "model"},
			Rows: []admin.UsageRow{
				row(2, 1, func(r *admin.UsageRow) { principal("alice@example.com")(r); r.Model = new("gpt-4o") }),
				row(1, 12_500_000, func(r *admin.UsageRow) { principal("alice@example.com")(r); r.Model = new("gpt-4o-mini") }),
				row(4, 3_000_000, func(r *admin.UsageRow) { principal("carol@example.com")(r); r.Model = new("gpt-4o-mini") }),
				row(3, 250_000, func(r *admin.UsageRow) { principal("dave@example.com")(r); r.Model = new("gpt-4o-mini") }),
			},
			Totals: totals(10, 15_750_001),
		}},
		{"TotalsOnly", "group_by=", admin.UsageReport{
			From: at(1, 0, 0), To: at(2, 4, 0), GroupBy: []string{},
			Rows:   []admin.UsageRow{row(10, 15_750_001, nil)},
			Totals: totals(10, 15_750_001),
		}},
		{"Day", "group_by=day&from=2029-12-31T00:00:00Z", admin.UsageReport{
			From: time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC), To: at(2, 4, 0), GroupBy: []string{"day"},
			Rows: []admin.UsageRow{
				row(100, 100_000_000, func(r *admin.UsageRow) { r.Day = new("2029-12-31") }),
				row(1, 12_500_000, func(r *admin.UsageRow) { r.Day = new("2030-01-01") }),
				row(9, 3_250_001, func(r *admin.UsageRow) { r.Day = new("2030-01-02") }),
			},
			Totals: totals(110, 115_750_001),
		}},
		// Times inside an hour widen to whole hours, in UTC whatever the
		// zone given: 04:00:01+01:00 is 03:00:01Z, rounded up to 04:00Z.
		{"HoursWidened", "group_by=hour&from=2030-01-02T01:30:00Z&to=" + url.QueryEscape("2030-01-02T04:00:01+01:00"), admin.UsageReport{
			From: at(2, 1, 0), To: at(2, 4, 0), GroupBy: []string{"hour"},
			Rows: []admin.UsageRow{
				row(5, 250_001, func(r *admin.UsageRow) { r.Hour = new(at(2, 1, 0)) }),
				row(4, 3_000_000, func(r *admin.UsageRow) { r.Hour = new(at(2, 3, 0)) }),
			},
			Totals: totals(9, 3_250_001),
		}},
		{"Filters", "team=red&feature=chatbot&group_by=model", admin.UsageReport{
			From: at(1, 0, 0), To: at(2, 4, 0), GroupBy: []string{"model"},
			Rows: []admin.UsageRow{
				row(2, 1, func(r *admin.UsageRow) { r.Model = new("gpt-4o") }),
				row(4, 12_750_000, func(r *admin.UsageRow) { r.Model = new("gpt-4o-mini") }),
			},
			Totals: totals(6, 12_750_001),
		}},
		{"KeyAndLaterTo", "key=" + usageCarol + "&to=2030-01-02T05:00:00Z&group_by=team,key", admin.UsageReport{
			From: at(1, 0, 0), To: at(2, 5, 0), GroupBy: []string{"team", "key"},
			Rows: []admin.UsageRow{
				row(54, 53_000_000, func(r *admin.UsageRow) { r.Team, r.Key = new("blue"), new(usageCarol) }),
			},
			Totals: totals(54, 53_000_000),
		}},
		{"NoMatch", "model=gpt-5", admin.UsageReport{
			From: at(1, 0, 0), To: at(2, 4, 0), GroupBy: []string{"key"}, Rows: []admin.UsageRow{},
		}},
	}
	env := newUsageEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call[admin.UsageReport](t, env.testEnv, request{method: "GET", path: "/admin/v1/usage?" + tt.query, key: env.rootKey}, 200)
			diff(t, "report", got, tt.want)
		})
	}
}

// A dimension the report groups by is present in every row, even when
// its value is empty.
func TestUsageEmptyValues(t *testing.T) {
	env := newTestEnvWith(t, envConfig{usage: true})
	err := env.usage.Add(t.Context(), []usage.Record{{Hour: at(2, 0, 0), Key: "KeySvc0000000000", Principal: "svc",
		Feature: "data-retrieval", Requests: 1}})
	if err != nil {
		t.Fatal(err)
	}
	resp := env.do(t, request{method: "GET", path: "/admin/v1/usage?group_by=team,model", key: env.rootKey})
	want := `"rows":[{"team":"","model":"","requests":1,"input_tokens":0,"output_tokens":0,"cost_usd":0}]`
	if resp.status != 200 || !strings.Contains(string(resp.body), want) {
		t.Errorf("GET = %d %s, want 200 with %s", resp.status, resp.body, want)
	}
}

// Each role sees the usage within its reach, as with the key lists: a
// filter outside it answers no rows, not an error.
func TestUsageScoped(t *testing.T) {
	env := newUsageEnv(t)
	alice := func(r *admin.UsageRow) { r.Key = new(usageAlice) }
	dave := func(r *admin.UsageRow) { r.Key = new(usageDave) }
	tests := []struct {
		name   string
		caller string
		query  string
		rows   []admin.UsageRow
	}{
		{"TeamSeesTeam", env.bobAdmin, "", []admin.UsageRow{row(3, 12_500_001, alice), row(3, 250_000, dave)}},
		{"TeamFiltersOwnTeam", env.bobAdmin, "team=red&principal=dave@example.com", []admin.UsageRow{row(3, 250_000, dave)}},
		{"TeamAsksOtherTeam", env.bobAdmin, "team=blue", []admin.UsageRow{}},
		{"TeamAsksOtherTeamsKey", env.bobAdmin, "key=" + usageCarol, []admin.UsageRow{}},
		{"SelfSeesSelf", env.aliceAdmin, "", []admin.UsageRow{row(3, 12_500_001, alice)}},
		{"SelfAsksOther", env.aliceAdmin, "principal=dave@example.com", []admin.UsageRow{}},
		{"SelfByTeam", env.aliceAdmin, "group_by=team", []admin.UsageRow{
			row(3, 12_500_001, func(r *admin.UsageRow) { r.Team = new("red") }),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call[admin.UsageReport](t, env.testEnv, request{method: "GET", path: "/admin/v1/usage?" + tt.query, key: tt.caller}, 200)
			diff(t, "rows", got.Rows, tt.rows)
			var want admin.UsageTotals
			for _, r := range tt.rows {
				want.Requests += r.Requests
				want.InputTokens += r.InputTokens
				want.OutputTokens += r.OutputTokens
				want.CostUSD += r.CostUSD
			}
			diff(t, "totals", got.Totals, want)
		})
	}
	// A team admin of no team sees nothing.
	env.principal(t, apikey.PrincipalSpec{ID: "loner@example.com", Scopes: []string{"keys:team"}})
	_, loner := env.adminKey(t, "loner@example.com", "keys:team")
	got := call[admin.UsageReport](t, env.testEnv, request{method: "GET", path: "/admin/v1/usage", key: loner}, 200)
	if len(got.Rows) != 0 {
		t.Errorf("team admin without a team sees %d rows, want 0", len(got.Rows))
	}
}
