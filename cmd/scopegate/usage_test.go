package main

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/store/sqlite"
	"github.com/scopegate/scopegate/internal/usage"
)

// The usage command against a real admin API over a SQLite usage store
// seeded with known buckets: what it prints, in both formats, and how it
// refuses bad flags. The testscript usage.txt runs it against serve.

// usageServer is an admin API with a usage store, an admin key and a
// keys:team admin key of team ml.
type usageServer struct {
	addr, adminKey, teamKey string
}

func newUsageServer(t *testing.T, records ...usage.Record) *usageServer {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "scopegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hasher, err := apikey.NewHasher(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	issuer := apikey.NewIssuer(apikey.IssuerConfig{Store: db, Hasher: hasher, Now: scriptNow})
	ctx := t.Context()
	for _, spec := range []apikey.PrincipalSpec{
		{ID: "admin", Scopes: []string{"admin"}},
		{ID: "lead", Team: "ml", Scopes: []string{"keys:team"}},
	} {
		if _, err := issuer.CreatePrincipal(ctx, apikey.SystemActor, spec); err != nil {
			t.Fatal(err)
		}
	}
	_, adminKey, err := issuer.CreateKey(ctx, apikey.SystemActor, apikey.KeySpec{Principal: "admin", Class: apikey.ClassAdmin, Scopes: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	_, teamKey, err := issuer.CreateKey(ctx, apikey.SystemActor, apikey.KeySpec{Principal: "lead", Class: apikey.ClassAdmin, Scopes: []string{"keys:team"}})
	if err != nil {
		t.Fatal(err)
	}
	store := sqlite.NewUsageStore(db)
	if err := store.Add(ctx, records); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Logger: slog.New(slog.DiscardHandler), Issuer: issuer,
		Verifier: apikey.NewVerifier(db, hasher, scriptNow), Usage: store, Now: scriptNow}))
	t.Cleanup(srv.Close)
	return &usageServer{addr: srv.URL, adminKey: adminKey.Reveal(), teamKey: teamKey.Reveal()}
}

// usage runs "scopegate usage args…" against s with key, and returns
// stdout, stderr and the error.
func (s *usageServer) usage(t *testing.T, key string, args ...string) (string, string, error) {
	t.Helper()
	env := map[string]string{"SCOPEGATE_ADDR": s.addr, "SCOPEGATE_ADMIN_KEY": key}
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"scopegate", "usage"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// novemberUsage is four buckets of November 2026 (the script clock's
// month) and one of October.
func novemberUsage() []usage.Record {
	hour := func(day, h int) time.Time { return time.Date(2026, 11, day, h, 0, 0, 0, time.UTC) }
	return []usage.Record{
		{Hour: time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC), Key: "KeyOld0000000000", Principal: "alice", Team: "ml",
			Feature: "chat", Model: "mock-small", Requests: 9, InputTokens: 9, OutputTokens: 9, Cost: 9_000_000},
		{Hour: hour(2, 9), Key: "KeyAlice00000000", Principal: "alice", Team: "ml",
			Feature: "chat", Model: "mock-small", Requests: 3, InputTokens: 300, OutputTokens: 150, Cost: 12_500_000},
		{Hour: hour(28, 11), Key: "KeyAlice00000000", Principal: "alice", Team: "ml",
			Feature: "chat", Model: "mock-large", Requests: 1, InputTokens: 1000, OutputTokens: 2000, Cost: 1},
		{Hour: hour(28, 12), Key: "KeyBob0000000000", Principal: "bob", Team: "ops",
			Feature: "chat", Model: "mock-small", Requests: 2, InputTokens: 20, OutputTokens: 10, Cost: 250_000},
		{Hour: hour(28, 12), Key: "KeySvc0000000000", Principal: "svc-search",
			Feature: "retrieval", Model: "", Requests: 5},
	}
}

func TestUsageCommand(t *testing.T) {
	s := newUsageServer(t, novemberUsage()...)
	tests := []struct {
		name string
		team bool // as the keys:team admin of team ml
		args []string
		want []string
	}{
		{"Default", false, nil, []string{
			"Usage from 2026-11-01T00:00:00Z to 2026-11-28T13:00:00Z (UTC hours; to excluded)",
			"KEY               REQUESTS  INPUT_TOKENS  OUTPUT_TOKENS  COST",
			"KeyAlice00000000  4         1300          2150           $12.500001",
			"KeyBob0000000000  2         20            10             $0.25",
			"KeySvc0000000000  5         0             0              $0.00",
			"TOTAL             11        1320          2160           $12.750001",
		}},
		{"ByPrincipalModel", false, []string{"--from", "2026-10-01", "--to", "2026-12-01", "--by", "principal,model"}, []string{
			"Usage from 2026-10-01T00:00:00Z to 2026-12-01T00:00:00Z (UTC hours; to excluded)",
			"PRINCIPAL   MODEL       REQUESTS  INPUT_TOKENS  OUTPUT_TOKENS  COST",
			"alice       mock-large  1         1000          2000           $0.000001",
			"alice       mock-small  12        309           159            $21.50",
			"bob         mock-small  2         20            10             $0.25",
			"svc-search  -           5         0             0              $0.00",
			"TOTAL                   20        1329          2169           $21.750001",
		}},
		{"ByDayFiltered", false, []string{"--by", "day", "--feature", "chat", "--model", "mock-small"}, []string{
			"Usage from 2026-11-01T00:00:00Z to 2026-11-28T13:00:00Z (UTC hours; to excluded)",
			"DAY         REQUESTS  INPUT_TOKENS  OUTPUT_TOKENS  COST",
			"2026-11-02  3         300           150            $12.50",
			"2026-11-28  2         20            10             $0.25",
			"TOTAL       5         320           160            $12.75",
		}},
		// Times inside an hour are widened; the first line says so.
		{"ByHourWidened", false, []string{"--by", "hour,team", "--from", "2026-11-28T11:30:00Z", "--to", "2026-11-28T12:10:00+00:00"}, []string{
			"Usage from 2026-11-28T11:00:00Z to 2026-11-28T13:00:00Z (UTC hours; to excluded)",
			"HOUR                  TEAM  REQUESTS  INPUT_TOKENS  OUTPUT_TOKENS  COST",
			"2026-11-28T11:00:00Z  ml    1         1000          2000           $0.000001",
			"2026-11-28T12:00:00Z  -     5         0             0              $0.00",
			"2026-11-28T12:00:00Z  ops   2         20            10             $0.25",
			"TOTAL                       8         1020          2010           $0.250001",
		}},
		{"TotalsOnly", false, []string{"--by", "", "--principal", "alice"}, []string{
			"Usage from 2026-11-01T00:00:00Z to 2026-11-28T13:00:00Z (UTC hours; to excluded)",
			"REQUESTS  INPUT_TOKENS  OUTPUT_TOKENS  COST",
			"4         1300          2150           $12.500001",
		}},
		{"Nothing", false, []string{"--key", "KeyNobody0000000", "--by", "key,model"}, []string{
			"Usage from 2026-11-01T00:00:00Z to 2026-11-28T13:00:00Z (UTC hours; to excluded)",
			"KEY    MODEL  REQUESTS  INPUT_TOKENS  OUTPUT_TOKENS  COST",
			"TOTAL         0         0             0              $0.00",
		}},
		{"NothingTotalsOnly", false, []string{"--by", "", "--team", "nobody"}, []string{
			"Usage from 2026-11-01T00:00:00Z to 2026-11-28T13:00:00Z (UTC hours; to excluded)",
			"REQUESTS  INPUT_TOKENS  OUTPUT_TOKENS  COST",
			"0         0             0              $0.00",
		}},
		// A keys:team admin sees its team's usage only, whatever it asks.
		{"TeamAdmin", true, []string{"--by", "team,key"}, []string{
			"Usage from 2026-11-01T00:00:00Z to 2026-11-28T13:00:00Z (UTC hours; to excluded)",
			"TEAM   KEY               REQUESTS  INPUT_TOKENS  OUTPUT_TOKENS  COST",
			"ml     KeyAlice00000000  4         1300          2150           $12.500001",
			"TOTAL                    4         1300          2150           $12.500001",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := s.adminKey
			if tt.team {
				key = s.teamKey
			}
			out, errOut, err := s.usage(t, key, tt.args...)
			if err != nil {
				t.Fatalf("usage %q: %v\n%s", tt.args, err, errOut)
			}
			if d := cmp.Diff(strings.Join(tt.want, "\n")+"\n", out); d != "" {
				t.Errorf("usage %q output (-want +got):\n%s", tt.args, d)
			}
			if errOut != "" {
				t.Errorf("stderr = %q, want nothing", errOut)
			}
		})
	}
}

// -o json prints the report exactly as the API sent it, costs as exact
// dollar amounts and a dimension without a value as "".
func TestUsageCommandJSON(t *testing.T) {
	s := newUsageServer(t, novemberUsage()...)
	out, errOut, err := s.usage(t, s.adminKey, "--by", "team", "-o", "json")
	if err != nil {
		t.Fatalf("usage -o json: %v\n%s", err, errOut)
	}
	want := `{"from":"2026-11-01T00:00:00Z","to":"2026-11-28T13:00:00Z","group_by":["team"],"rows":[` +
		`{"team":"","requests":5,"input_tokens":0,"output_tokens":0,"cost_usd":0},` +
		`{"team":"ml","requests":4,"input_tokens":1300,"output_tokens":2150,"cost_usd":12.500001},` +
		`{"team":"ops","requests":2,"input_tokens":20,"output_tokens":10,"cost_usd":0.25}],` +
		`"totals":{"requests":11,"input_tokens":1320,"output_tokens":2160,"cost_usd":12.750001}}` + "\n"
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("usage -o json (-want +got):\n%s", d)
	}
}

func TestUsageCommandErrors(t *testing.T) {
	s := newUsageServer(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"BadFrom", []string{"--from", "yesterday"}, `--from "yesterday": want an RFC 3339 time such as 2026-11-01T00:00:00Z or a date such as 2026-11-01`},
		{"BadTo", []string{"--to", "2026-13-01"}, `--to "2026-13-01": want an RFC 3339 time`},
		{"ToBeforeFrom", []string{"--from", "2026-11-02", "--to", "2026-11-01"}, "--to 2026-11-01 is not after --from 2026-11-02"},
		{"UnknownDimension", []string{"--by", "key,week"}, `--by "week": unknown dimension; use key, principal, team, feature, model, day, hour`},
		{"DimensionTwice", []string{"--by", "model,model"}, `--by "model": given twice`},
		{"BadOutput", []string{"-o", "yaml"}, `--output "yaml": want table or json`},
		{"Args", []string{"alice"}, `unknown command "alice"`},
		{"UnknownFlag", []string{"--since", "2026-11-01"}, "unknown flag: --since"},
		// What only the server can refuse comes back with its message.
		{"RangeTooLong", []string{"--from", "2025-01-01", "--to", "2026-11-01"}, "usage report: to: the range is longer than 400 days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := s.usage(t, s.adminKey, tt.args...)
			if err == nil {
				t.Fatalf("usage %q succeeded:\n%s", tt.args, out)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("usage %q stderr = %q, want it to contain %q", tt.args, errOut, tt.want)
			}
			if out != "" {
				t.Errorf("usage %q stdout = %q, want nothing", tt.args, out)
			}
		})
	}
}
