package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
)

// Anomaly configures the detectors that watch the audit log for misuse.
// Zero fields take the defaults of anomaly.DefaultThresholds; see
// docs/anomalies.md for each rule.
type Anomaly struct {
	Probing struct {
		Denials int      `yaml:"denials"`
		Window  Duration `yaml:"window"`
	} `yaml:"probing"`
	CredentialBurst struct {
		Failures int      `yaml:"failures"`
		Window   Duration `yaml:"window"`
		Reasons  []string `yaml:"reasons"`
	} `yaml:"credential_burst"`
	RateSpike struct {
		Factor             float64 `yaml:"factor"`
		MinPerMinute       int64   `yaml:"min_per_minute"`
		MinTokensPerMinute int64   `yaml:"min_tokens_per_minute"`
		Alpha              float64 `yaml:"alpha"`
		Warmup             int     `yaml:"warmup"`
	} `yaml:"rate_spike"`
	NewNetwork struct {
		Learning    Duration `yaml:"learning"`
		MaxNetworks int      `yaml:"max_networks"`
		Hold        Duration `yaml:"hold"`
	} `yaml:"new_network"`
	State struct {
		MaxKeys     int      `yaml:"max_keys"`
		MaxSubjects int      `yaml:"max_subjects"`
		KeyIdle     Duration `yaml:"key_idle"`
	} `yaml:"state"`
	// Disabled names the detector rules turned off.
	Disabled []string `yaml:"disabled"`
}

// Thresholds returns a as the detectors' thresholds.
func (a Anomaly) Thresholds() anomaly.Thresholds {
	var t anomaly.Thresholds
	t.Probing.Denials, t.Probing.Window = a.Probing.Denials, time.Duration(a.Probing.Window)
	t.CredentialBurst.Failures, t.CredentialBurst.Window = a.CredentialBurst.Failures, time.Duration(a.CredentialBurst.Window)
	t.CredentialBurst.Reasons = slices.Clone(a.CredentialBurst.Reasons)
	t.RateSpike.Factor, t.RateSpike.MinPerMinute = a.RateSpike.Factor, a.RateSpike.MinPerMinute
	t.RateSpike.MinTokensPerMinute, t.RateSpike.Alpha, t.RateSpike.Warmup = a.RateSpike.MinTokensPerMinute, a.RateSpike.Alpha, a.RateSpike.Warmup
	t.NewNetwork.Learning, t.NewNetwork.MaxNetworks = time.Duration(a.NewNetwork.Learning), a.NewNetwork.MaxNetworks
	t.NewNetwork.Hold = time.Duration(a.NewNetwork.Hold)
	t.State.MaxKeys, t.State.MaxSubjects, t.State.KeyIdle = a.State.MaxKeys, a.State.MaxSubjects, time.Duration(a.State.KeyIdle)
	t.Disabled = slices.Clone(a.Disabled)
	return t
}

// Alerts configures what happens to an alert: grouping, actions, the
// webhook, and key expiry notices.
type Alerts struct {
	// GroupWindow is how long after a group's latest alert a new alert of
	// the same rule and subject joins it instead of alerting again
	// (default 15m).
	GroupWindow Duration `yaml:"group_window"`
	// Actions maps a rule to what it does besides alerting:
	// "suspend_key" suspends the key the alert is about.
	Actions map[string]string `yaml:"actions"`
	Webhook Webhook           `yaml:"webhook"`
	// KeyExpiryNotice is how long before a key expires its owner is
	// alerted (default 7d); KeyExpiryScan, how often keys are checked
	// (default 1h).
	KeyExpiryNotice Duration `yaml:"key_expiry_notice"`
	KeyExpiryScan   Duration `yaml:"key_expiry_scan"`
}

// Webhook is where alerts are POSTed; no URL, no webhook.
type Webhook struct {
	// URL receives each new alert group as JSON with a Slack-compatible
	// "text"; it usually holds a token, so it is a secret: set it with
	// ${NAME}.
	URL Secret `yaml:"url"`
	// Timeout bounds each attempt (default 5s); MaxAttempts is how often
	// a notice is tried in all (default 5).
	Timeout     Duration `yaml:"timeout"`
	MaxAttempts int      `yaml:"max_attempts"`
}

func (c *Config) setAlertDefaults() {
	a := &c.Alerts
	if a.GroupWindow == 0 {
		a.GroupWindow = Duration(anomaly.DefaultGroupWindow)
	}
	if a.KeyExpiryNotice == 0 {
		a.KeyExpiryNotice = Duration(anomaly.DefaultExpiryNotice)
	}
	if a.KeyExpiryScan == 0 {
		a.KeyExpiryScan = Duration(anomaly.DefaultExpiryInterval)
	}
}

func (c *Config) validateAnomaly() []error {
	var errs []error
	t := c.Anomaly.Thresholds()
	if err := t.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("anomaly: %w", err))
	}
	a := c.Alerts
	if a.GroupWindow < 0 || a.KeyExpiryNotice < 0 || a.KeyExpiryScan < 0 || a.Webhook.Timeout < 0 || a.Webhook.MaxAttempts < 0 {
		errs = append(errs, errors.New("alerts: durations and counts must not be negative"))
	}
	if err := anomaly.ValidateActions(a.Actions); err != nil {
		errs = append(errs, fmt.Errorf("alerts.%w", err))
	}
	if raw := a.Webhook.URL.Reveal(); raw != "" {
		// The URL is a secret: the error names what is wrong, not the URL.
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("alerts.webhook.url: not an http(s) URL"))
		}
	}
	return errs
}
