package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

func TestParseLimits(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"REDIS_PW": "s3cr:t#"}[k] }
	tests := []struct {
		name    string
		in      string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "Defaults", in: "", check: func(t *testing.T, c *Config) {
			l := c.Limits
			if l.Driver != "memory" || l.Prefix != "scopegate:rl:" || l.DefaultOutputTokens != DefaultOutputTokens ||
				time.Duration(l.ConcurrencyLease) != time.Hour || len(l.FailOpen) != 0 || l.CutStreams ||
				!slices.Equal(l.BudgetAlerts, []int{80, 90, 100}) {
				t.Errorf("limits defaults = %+v", l)
			}
		}},
		{name: "Redis", in: "limits:\n  driver: redis\n  addr: 127.0.0.1:6379\n  password: ${REDIS_PW}\n  db: 2\n  tls: true\n  fail_open: [requests_per_minute]\n  budget_alerts: [50]\n",
			check: func(t *testing.T, c *Config) {
				l := c.Limits
				if l.Driver != "redis" || l.Addr != "127.0.0.1:6379" || l.Password.Reveal() != "s3cr:t#" || l.DB != 2 || !l.TLS {
					t.Errorf("limits = %+v", l)
				}
				if !slices.Equal(l.FailOpen, []string{"requests_per_minute"}) {
					t.Errorf("fail_open = %v", l.FailOpen)
				}
				if !slices.Equal(l.BudgetAlerts, []int{50}) {
					t.Errorf("budget_alerts = %v", l.BudgetAlerts)
				}
			}},
		{name: "EmptyBudgetAlertsTurnsThemOff", in: "limits: {budget_alerts: []}\n", check: func(t *testing.T, c *Config) {
			if len(c.Limits.BudgetAlerts) != 0 {
				t.Errorf("budget_alerts = %v, want none", c.Limits.BudgetAlerts)
			}
		}},
		{name: "AudienceAndFeatureDefaults", in: `limits:
  audiences:
    external: {requests_per_minute: 60, cost_per_month: 100.5}
upstreams: {m: {kind: mock}}
features:
  f:
    upstream: m
    endpoints: [chat.completions]
    models: [mock-small]
    limits: {concurrent: 2, cost_per_day: "0.000001"}
`, check: func(t *testing.T, c *Config) {
			ext := c.Limits.Audiences["external"].Limits()
			if want := (apikey.Limits{RequestsPerMinute: 60, CostPerMonth: 100_500_000}); ext != want {
				t.Errorf("external defaults = %+v, want %+v", ext, want)
			}
			f := c.Features["f"].Limits.Limits()
			if want := (apikey.Limits{Concurrent: 2, CostPerDay: 1}); f != want {
				t.Errorf("feature limits = %+v, want %+v", f, want)
			}
		}},
		{name: "Prices", in: "prices:\n  gpt-4o: {input_per_million: 2.50, output_per_million: 10}\n  \"*\": {input_per_million: 1, output_per_million: 2}\n",
			check: func(t *testing.T, c *Config) {
				if p := c.Prices["gpt-4o"]; p.InputPerMillion != 2_500_000 || p.OutputPerMillion != 10_000_000 {
					t.Errorf("prices[gpt-4o] = %+v", p)
				}
				if p := c.Prices["*"]; p.InputPerMillion != 1_000_000 || p.OutputPerMillion != 2_000_000 {
					t.Errorf("prices[*] = %+v", p)
				}
			}},
		{name: "RedisNeedsAddr", in: "limits: {driver: redis}\n", wantErr: "limits.addr: required when limits.driver is redis"},
		{name: "BadDriver", in: "limits: {driver: etcd}\n", wantErr: `limits.driver: "etcd" is not memory or redis`},
		{name: "BadFailOpen", in: "limits: {fail_open: [everything]}\n", wantErr: `limits.fail_open: "everything" is not a kind of limit`},
		{name: "BadThreshold", in: "limits: {budget_alerts: [0]}\n", wantErr: "limits.budget_alerts: 0 is not a percentage"},
		{name: "ShortLease", in: "limits: {concurrency_lease: 10ms}\n", wantErr: "limits.concurrency_lease: must be at least 1s"},
		{name: "NegativeOutput", in: "limits: {default_output_tokens: -1}\n", wantErr: "limits.default_output_tokens: must not be negative"},
		{name: "BadAudience", in: "limits: {audiences: {partners: {requests_per_minute: 1}}}\n", wantErr: `limits.audiences: "partners" is not internal or external`},
		{name: "NegativeLimit", in: "limits: {audiences: {internal: {tokens_per_day: -5}}}\n", wantErr: "limits.audiences.internal.tokens_per_day: must not be negative"},
		{name: "NegativeUSD", in: "prices: {m: {input_per_million: -1, output_per_million: 1}}\n", wantErr: "line 1"},
		{name: "TooManyDecimals", in: "prices:\n  m: {input_per_million: 0.0000001, output_per_million: 1}\n", wantErr: "line 2"},
		{name: "USDNotScalar", in: "prices:\n  m: {input_per_million: [1], output_per_million: 1}\n", wantErr: "line 2: an amount in US dollars"},
		{name: "UnknownLimitField", in: "limits:\n  requests_per_minute: 5\n", wantErr: `line 2: unknown field "requests_per_minute" in limits`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) error = %v", tt.in, err)
			}
			tt.check(t, c)
		})
	}
}

func TestUnpricedModels(t *testing.T) {
	const features = `upstreams: {m: {kind: mock}}
features:
  a: {upstream: m, endpoints: [chat.completions], models: [mock-small, "mock-l*"]}
  b: {upstream: m, endpoints: [chat.completions], models: [mock-small]%s}
`
	tests := []struct {
		name string
		in   string
		want map[string][]string
	}{
		{"NoPricesNoCostLimits", fmt.Sprintf(features, ""), nil},
		{"SomePriced", "prices: {mock-small: {input_per_million: 1, output_per_million: 1}}\n" + fmt.Sprintf(features, ""),
			map[string][]string{"a": {"mock-l*"}}},
		{"Star", "prices: {\"*\": {input_per_million: 1, output_per_million: 1}}\n" + fmt.Sprintf(features, ""), nil},
		{"CostLimitWithoutPrices", fmt.Sprintf(features, ", limits: {cost_per_day: 1}"),
			map[string][]string{"a": {"mock-small", "mock-l*"}, "b": {"mock-small"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			got := c.UnpricedModels()
			if len(got) != len(tt.want) {
				t.Fatalf("UnpricedModels = %v, want %v", got, tt.want)
			}
			for f, ms := range tt.want {
				if !slices.Equal(got[f], ms) {
					t.Errorf("UnpricedModels[%s] = %v, want %v", f, got[f], ms)
				}
			}
		})
	}
}
