package config

import (
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
)

func TestParseAnomaly(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"HOOK": "https://hooks.example.com/services/T0/B0/secret-token"}[k]
	}
	tests := []struct {
		name    string
		in      string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "Defaults", in: "", check: func(t *testing.T, c *Config) {
			a := c.Alerts
			if time.Duration(a.GroupWindow) != anomaly.DefaultGroupWindow || time.Duration(a.KeyExpiryNotice) != 7*24*time.Hour ||
				time.Duration(a.KeyExpiryScan) != time.Hour || a.Webhook.URL != "" || len(a.Actions) != 0 {
				t.Errorf("alerts defaults = %+v", a)
			}
			if th := c.Anomaly.Thresholds(); th.Validate() != nil {
				t.Errorf("default thresholds: %v", th.Validate())
			}
		}},
		{name: "Values", in: `anomaly:
  probing: {denials: 3, window: 30s}
  credential_burst: {failures: 5, window: 2m, reasons: [invalid_key]}
  rate_spike: {factor: 8, min_per_minute: 10, alpha: 0.1, warmup: 5}
  new_network: {learning: 2h, max_networks: 4}
  disabled: [rate_spike]
alerts:
  group_window: 5m
  actions: {probing: suspend_key, new_network: ""}
  webhook: {url: "${HOOK}", max_attempts: 3}
`, check: func(t *testing.T, c *Config) {
			th := c.Anomaly.Thresholds()
			if th.Probing.Denials != 3 || th.Probing.Window != 30*time.Second || th.CredentialBurst.Failures != 5 ||
				th.CredentialBurst.Window != 2*time.Minute || len(th.CredentialBurst.Reasons) != 1 ||
				th.RateSpike.Factor != 8 || th.RateSpike.MinPerMinute != 10 || th.RateSpike.Alpha != 0.1 ||
				th.RateSpike.Warmup != 5 || th.NewNetwork.Learning != 2*time.Hour || th.NewNetwork.MaxNetworks != 4 ||
				len(th.Disabled) != 1 || th.Disabled[0] != anomaly.RuleRateSpike {
				t.Errorf("thresholds = %+v", th)
			}
			if c.Alerts.Actions["probing"] != anomaly.ActionSuspendKey || c.Alerts.Webhook.URL.Reveal() != getenv("HOOK") ||
				c.Alerts.Webhook.MaxAttempts != 3 || time.Duration(c.Alerts.GroupWindow) != 5*time.Minute {
				t.Errorf("alerts = %+v", c.Alerts)
			}
		}},
		{name: "UnknownAction", in: "alerts: {actions: {probing: delete_key}}\n", wantErr: `alerts.actions: rule probing: unknown action "delete_key"`},
		{name: "SuspendOnExpiry", in: "alerts: {actions: {key_expiring: suspend_key}}\n", wantErr: "alerts.actions: rule key_expiring: suspend_key does not apply to it"},
		{name: "UnknownRule", in: "alerts: {actions: {typo: suspend_key}}\n", wantErr: `alerts.actions: unknown rule "typo"`},
		{name: "UnknownDisabled", in: "anomaly: {disabled: [everything]}\n", wantErr: "anomaly:"},
		{name: "NegativeWindow", in: "alerts: {group_window: -1s}\n", wantErr: "alerts: durations and counts must not be negative"},
		{name: "WebhookNotHTTP", in: "alerts: {webhook: {url: \"ftp://hooks.example.com/secret-token\"}}\n", wantErr: "alerts.webhook.url: not an http(s) URL"},
		{name: "UnknownField", in: "anomaly:\n  probing: {denial: 3}\n", wantErr: `line 2: unknown field "denial" in anomaly.probing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret-token") {
					t.Errorf("the error shows the webhook URL: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, c)
		})
	}
}
