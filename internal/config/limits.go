package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scopegate/scopegate/internal/apikey"
)

// DefaultOutputTokens is the output reserved for a request that names no
// maximum (limits.default_output_tokens).
const DefaultOutputTokens = 4096

// LimitKinds are the names of the kinds of limit, as fail_open lists them
// and the admin API names them.
var LimitKinds = []string{"requests_per_minute", "tokens_per_minute", "concurrent",
	"tokens_per_day", "tokens_per_month", "cost_per_day", "cost_per_month"}

// Limits configures how request, token, concurrency and budget limits are
// enforced. Which limits apply is set on keys and principals (admin API),
// with defaults here per audience and per feature.
type Limits struct {
	// Driver is "memory" (default: counters in this process, exact for one
	// instance) or "redis" (shared by every instance; cluster mode).
	Driver string `yaml:"driver"`
	// Addr is the Redis address, host:port; required for redis.
	Addr string `yaml:"addr"`
	// Username and Password authenticate to Redis (ACL or requirepass);
	// usually "${SCOPEGATE_REDIS_PASSWORD}".
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// DB is the Redis database number.
	DB int `yaml:"db"`
	// TLS connects to Redis over TLS, verifying its certificate.
	TLS bool `yaml:"tls"`
	// Prefix starts every Redis key the limiter writes (default
	// "scopegate:rl:"), so several deployments can share one Redis.
	Prefix string `yaml:"prefix"`
	// DefaultOutputTokens is reserved for a request without max_tokens (or
	// max_output_tokens, max_completion_tokens); default 4096.
	DefaultOutputTokens int64 `yaml:"default_output_tokens"`
	// ConcurrencyLease is the longest a request holds a concurrency slot
	// if its end is never recorded (a replica that crashed); default 1h.
	ConcurrencyLease Duration `yaml:"concurrency_lease"`
	// FailOpen lists the kinds of limit that let requests through when the
	// limiter cannot be reached. A request is forwarded unlimited only if
	// every limit that applies to it is of a listed kind; otherwise it is
	// refused with 503. Empty (the default) fails closed.
	FailOpen []string `yaml:"fail_open"`
	// CutStreams ends a stream whose output passes the tokens reserved for
	// it, with a final error event, instead of charging the overspend
	// after the fact.
	CutStreams bool `yaml:"cut_streams"`
	// BudgetAlerts are the percentages of a day or month budget at which
	// an alert event is recorded, once each per window (default 80, 90,
	// 100).
	BudgetAlerts []int `yaml:"budget_alerts"`
	// Audiences are default limits for the keys of principals of an
	// audience ("internal", "external"), and ceilings: a key gets the
	// default of every kind it does not set, and the lower of its own and
	// the default of every kind it sets.
	Audiences map[string]LimitValues `yaml:"audiences"`
}

// LimitValues is a set of limits; zero means none of that kind.
type LimitValues struct {
	RequestsPerMinute int64 `yaml:"requests_per_minute"`
	TokensPerMinute   int64 `yaml:"tokens_per_minute"`
	Concurrent        int64 `yaml:"concurrent"`
	TokensPerDay      int64 `yaml:"tokens_per_day"`
	TokensPerMonth    int64 `yaml:"tokens_per_month"`
	// CostPerDay and CostPerMonth are in US dollars, priced with the
	// price table.
	CostPerDay   USD `yaml:"cost_per_day"`
	CostPerMonth USD `yaml:"cost_per_month"`
}

// Limits returns v as the limits of a key or principal.
func (v LimitValues) Limits() apikey.Limits {
	return apikey.Limits{
		RequestsPerMinute: v.RequestsPerMinute, TokensPerMinute: v.TokensPerMinute,
		Concurrent: v.Concurrent, TokensPerDay: v.TokensPerDay, TokensPerMonth: v.TokensPerMonth,
		CostPerDay: apikey.Micros(v.CostPerDay), CostPerMonth: apikey.Micros(v.CostPerMonth),
	}
}

func (v LimitValues) validate(where string) []error {
	var errs []error
	for _, f := range []struct {
		name string
		n    int64
	}{
		{"requests_per_minute", v.RequestsPerMinute}, {"tokens_per_minute", v.TokensPerMinute},
		{"concurrent", v.Concurrent}, {"tokens_per_day", v.TokensPerDay}, {"tokens_per_month", v.TokensPerMonth},
	} {
		if f.n < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: must not be negative", where, f.name))
		}
	}
	return errs
}

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	InputPerMillion  USD `yaml:"input_per_million"`
	OutputPerMillion USD `yaml:"output_per_million"`
}

// USD is an amount of US dollars, read from YAML as a decimal number with
// at most six decimals ("2.50", "0.000001") and kept exactly, in
// micro-dollars: money is never a float.
type USD apikey.Micros

// UnmarshalYAML implements yaml.Unmarshaler.
func (u *USD) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: an amount in US dollars is a number such as 2.50", n.Line)
	}
	m, err := apikey.ParseUSD(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*u = USD(m)
	return nil
}

// String formats u as apikey.Micros does.
func (u USD) String() string { return apikey.Micros(u).String() }

func (c *Config) setLimitDefaults() {
	l := &c.Limits
	if l.Driver == "" {
		l.Driver = "memory"
	}
	if l.Prefix == "" {
		l.Prefix = "scopegate:rl:"
	}
	if l.DefaultOutputTokens == 0 {
		l.DefaultOutputTokens = DefaultOutputTokens
	}
	if l.ConcurrencyLease == 0 {
		l.ConcurrencyLease = Duration(time.Hour)
	}
	if l.BudgetAlerts == nil {
		l.BudgetAlerts = []int{80, 90, 100}
	}
}

func (c *Config) validateLimits() []error {
	var errs []error
	l := c.Limits
	switch l.Driver {
	case "memory":
	case "redis":
		if l.Addr == "" {
			errs = append(errs, errors.New("limits.addr: required when limits.driver is redis"))
		}
	default:
		errs = append(errs, fmt.Errorf("limits.driver: %q is not memory or redis", l.Driver))
	}
	if l.DefaultOutputTokens < 0 {
		errs = append(errs, errors.New("limits.default_output_tokens: must not be negative"))
	}
	if l.ConcurrencyLease < Duration(time.Second) {
		errs = append(errs, errors.New("limits.concurrency_lease: must be at least 1s"))
	}
	for _, k := range l.FailOpen {
		if !slices.Contains(LimitKinds, k) {
			errs = append(errs, fmt.Errorf("limits.fail_open: %q is not a kind of limit (%s)", k, strings.Join(LimitKinds, ", ")))
		}
	}
	for _, p := range l.BudgetAlerts {
		if p < 1 || p > 1000 {
			errs = append(errs, fmt.Errorf("limits.budget_alerts: %d is not a percentage between 1 and 1000", p))
		}
	}
	for _, a := range sortedKeys(l.Audiences) {
		if a != "internal" && a != "external" {
			errs = append(errs, fmt.Errorf("limits.audiences: %q is not internal or external", a))
		}
		errs = append(errs, l.Audiences[a].validate("limits.audiences."+a)...)
	}
	for _, name := range sortedKeys(c.Features) {
		if f := c.Features[name]; f.Limits != nil {
			errs = append(errs, f.Limits.validate("features."+name+".limits")...)
		}
	}
	for _, m := range sortedKeys(c.Prices) {
		if m != "*" && strings.ContainsAny(m, " \t\n") {
			errs = append(errs, fmt.Errorf("prices: %q is not a model id", m))
		}
	}
	return errs
}

// UnpricedModels returns, per feature, the models it serves that the
// price table does not price, when prices matter: the table is not empty,
// or a cost limit is configured here, and it has no "*" entry. A model
// pattern ("gpt-4.1-*") is listed unless it has an entry of its own,
// since prices are looked up by exact model id. Calls under a cost limit
// to such a model are refused.
func (c *Config) UnpricedModels() map[string][]string {
	if _, all := c.Prices["*"]; all || (len(c.Prices) == 0 && !c.hasCostLimits()) {
		return nil
	}
	out := map[string][]string{}
	for _, name := range sortedKeys(c.Features) {
		for _, m := range c.Features[name].Models {
			if _, ok := c.Prices[m]; !ok {
				out[name] = append(out[name], m)
			}
		}
	}
	return out
}

// hasCostLimits reports whether a default in the file sets a cost limit.
func (c *Config) hasCostLimits() bool {
	costly := func(v LimitValues) bool { return v.CostPerDay > 0 || v.CostPerMonth > 0 }
	for _, v := range c.Limits.Audiences {
		if costly(v) {
			return true
		}
	}
	for _, f := range c.Features {
		if f.Limits != nil && costly(*f.Limits) {
			return true
		}
	}
	return false
}
