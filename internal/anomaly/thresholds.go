package anomaly

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Bounds of the [Thresholds] that [Thresholds.Validate] accepts.
const (
	// MaxBurstCount bounds Probing.Denials and CredentialBurst.Failures:
	// the detectors remember the times of the last that many events per
	// subject, 16 bytes each.
	MaxBurstCount = 1000
	// MaxBurstWindow bounds Probing.Window and CredentialBurst.Window.
	MaxBurstWindow = 24 * time.Hour
	// MinAlpha bounds RateSpike.Alpha from below: a smaller weight would
	// make a baseline remember weeks of minutes.
	MinAlpha = 0.001
	// MaxStateEntries bounds State.MaxKeys and State.MaxSubjects.
	MaxStateEntries = 1 << 30
)

// Thresholds configures the [Detectors]. A zero (or negative) field takes
// its default from [DefaultThresholds]; Validate refuses what
// [NewDetectors] would otherwise replace.
type Thresholds struct {
	// Probing trips when one key, or one principal across its keys,
	// collects Denials missing_scope denials within Window (defaults 10
	// in 1m).
	Probing struct {
		Denials int
		Window  time.Duration
	}
	// CredentialBurst trips when one client network (IPv4 /24, IPv6 /48)
	// presents Failures unusable credentials within Window (defaults 20
	// in 1m). Reasons are the authz denial reasons that count (default
	// [DefaultCredentialReasons]).
	CredentialBurst struct {
		Failures int
		Window   time.Duration
		Reasons  []string
	}
	// RateSpike trips when a key's requests or tokens in the current
	// minute exceed its baseline, an exponentially weighted mean and
	// variance of its past minutes with weight Alpha (default 0.05): more
	// than mean + Factor·stddev, more than Factor·mean (Factor default 5),
	// and at least MinPerMinute requests (default 60) or
	// MinTokensPerMinute tokens (default 200,000). A key's first Warmup
	// minutes (default 15) only build its baseline.
	RateSpike struct {
		Factor             float64
		MinPerMinute       int64
		MinTokensPerMinute int64
		Alpha              float64
		Warmup             int
	}
	// NewNetwork trips when, after the Learning period that starts with a
	// key's first event (default 24h), an allowed call of the key comes
	// from a network it has not used. A key keeps its MaxNetworks most
	// recently used networks (default 32). Once tripped, new networks
	// seen less than Hold apart (default 1h) belong to the same episode.
	NewNetwork struct {
		Learning    time.Duration
		MaxNetworks int
		Hold        time.Duration
	}
	// State bounds what the detectors remember. MaxKeys (default
	// 100,000) keys have a rate baseline and networks; a key without an
	// allowed call or usage for KeyIdle (default 30 days) is forgotten.
	// Each of the probing and credential-burst tables holds at most
	// MaxSubjects keys, principals or networks (default 20,000). Past a
	// cap, the least recently active entry is forgotten first.
	State struct {
		MaxKeys     int
		MaxSubjects int
		KeyIdle     time.Duration
	}
	// Disabled names the rules turned off: RuleProbing,
	// RuleCredentialBurst, RuleRateSpike, RuleNewNetwork.
	Disabled []string
}

// DefaultCredentialReasons are the authz denial reasons that count as
// failed credentials: an unknown id or a wrong secret (invalid_key), a key
// of the wrong shape or checksum (malformed_key), and keys that were valid
// once (key_revoked, key_expired), the signature of a leaked key still in
// use. Not counted: missing_key (scanners and health checks send none),
// key_suspended and principal_disabled (an operator's reversible hold,
// which the owner's software keeps retrying, and which the suspend action
// itself causes), key_not_yet_valid, wrong_env, wrong_key_class and
// client_not_allowed (configuration mistakes of a valid key's owner).
var DefaultCredentialReasons = []string{"invalid_key", "malformed_key", "key_revoked", "key_expired"}

// maxReasons bounds CredentialBurst.Reasons (each event remembers its
// reason's index in a uint16).
const maxReasons = 256

// detectorRules are the rules the Detectors raise, the ones Disabled may name.
var detectorRules = []string{RuleProbing, RuleCredentialBurst, RuleRateSpike, RuleNewNetwork}

// DefaultThresholds returns the defaults of every threshold.
func DefaultThresholds() Thresholds {
	var t Thresholds
	t.Probing.Denials = 10
	t.Probing.Window = time.Minute
	t.CredentialBurst.Failures = 20
	t.CredentialBurst.Window = time.Minute
	t.CredentialBurst.Reasons = slices.Clone(DefaultCredentialReasons)
	t.RateSpike.Factor = 5
	t.RateSpike.MinPerMinute = 60
	t.RateSpike.MinTokensPerMinute = 200_000
	t.RateSpike.Alpha = 0.05
	t.RateSpike.Warmup = 15
	t.NewNetwork.Learning = 24 * time.Hour
	t.NewNetwork.MaxNetworks = 32
	t.NewNetwork.Hold = time.Hour
	t.State.MaxKeys = 100_000
	t.State.MaxSubjects = 20_000
	t.State.KeyIdle = 30 * 24 * time.Hour
	return t
}

// Validate reports the first field that is out of range, and a disabled
// rule that does not exist. Zero fields are valid: they take the default.
func (t Thresholds) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(t.Probing.Denials >= 0 && t.Probing.Denials <= MaxBurstCount,
		"probing.denials %d: want 1 to %d", t.Probing.Denials, MaxBurstCount)
	check(t.Probing.Window >= 0 && t.Probing.Window <= MaxBurstWindow,
		"probing.window %v: want at most %v", t.Probing.Window, MaxBurstWindow)
	check(t.CredentialBurst.Failures >= 0 && t.CredentialBurst.Failures <= MaxBurstCount,
		"credential_burst.failures %d: want 1 to %d", t.CredentialBurst.Failures, MaxBurstCount)
	check(t.CredentialBurst.Window >= 0 && t.CredentialBurst.Window <= MaxBurstWindow,
		"credential_burst.window %v: want at most %v", t.CredentialBurst.Window, MaxBurstWindow)
	check(!slices.Contains(t.CredentialBurst.Reasons, ""), "credential_burst.reasons: empty reason")
	check(len(t.CredentialBurst.Reasons) <= maxReasons, "credential_burst.reasons: more than %d", maxReasons)
	check(t.RateSpike.Factor == 0 || t.RateSpike.Factor >= 1 && t.RateSpike.Factor <= 1e6,
		"rate_spike.factor %v: want 1 to 1e6", t.RateSpike.Factor)
	check(t.RateSpike.MinPerMinute >= 0, "rate_spike.min_per_minute %d: negative", t.RateSpike.MinPerMinute)
	check(t.RateSpike.MinTokensPerMinute >= 0, "rate_spike.min_tokens_per_minute %d: negative", t.RateSpike.MinTokensPerMinute)
	check(t.RateSpike.Alpha == 0 || t.RateSpike.Alpha >= MinAlpha && t.RateSpike.Alpha <= 1,
		"rate_spike.alpha %v: want %v to 1", t.RateSpike.Alpha, MinAlpha)
	check(t.RateSpike.Warmup >= 0 && t.RateSpike.Warmup <= math.MaxInt32,
		"rate_spike.warmup %d: want a number of minutes", t.RateSpike.Warmup)
	check(t.NewNetwork.Learning >= 0, "new_network.learning %v: negative", t.NewNetwork.Learning)
	check(t.NewNetwork.MaxNetworks >= 0 && t.NewNetwork.MaxNetworks <= 1024,
		"new_network.max_networks %d: want 1 to 1024", t.NewNetwork.MaxNetworks)
	check(t.NewNetwork.Hold >= 0, "new_network.hold %v: negative", t.NewNetwork.Hold)
	check(t.State.MaxKeys >= 0 && t.State.MaxKeys <= MaxStateEntries,
		"state.max_keys %d: want 1 to %d", t.State.MaxKeys, MaxStateEntries)
	check(t.State.MaxSubjects >= 0 && t.State.MaxSubjects <= MaxStateEntries,
		"state.max_subjects %d: want 1 to %d", t.State.MaxSubjects, MaxStateEntries)
	check(t.State.KeyIdle >= 0, "state.key_idle %v: negative", t.State.KeyIdle)
	for _, r := range t.Disabled {
		check(slices.Contains(detectorRules, r), "disabled: unknown rule %q; rules are %s",
			r, strings.Join(detectorRules, ", "))
	}
	return errors.Join(errs...)
}

// withDefaults returns t with every zero or out-of-range field replaced by
// its default, so that NewDetectors never fails.
func (t Thresholds) withDefaults() Thresholds {
	def := DefaultThresholds()
	orInt := func(v *int, d, hi int) {
		if *v <= 0 {
			*v = d
		}
		*v = min(*v, hi)
	}
	orDur := func(v *time.Duration, d, hi time.Duration) {
		if *v <= 0 {
			*v = d
		}
		*v = min(*v, hi)
	}
	orInt(&t.Probing.Denials, def.Probing.Denials, MaxBurstCount)
	orDur(&t.Probing.Window, def.Probing.Window, MaxBurstWindow)
	orInt(&t.CredentialBurst.Failures, def.CredentialBurst.Failures, MaxBurstCount)
	orDur(&t.CredentialBurst.Window, def.CredentialBurst.Window, MaxBurstWindow)
	if len(t.CredentialBurst.Reasons) == 0 {
		t.CredentialBurst.Reasons = def.CredentialBurst.Reasons
	}
	// Copies: the caller keeps its slices.
	t.CredentialBurst.Reasons = slices.Clone(t.CredentialBurst.Reasons[:min(len(t.CredentialBurst.Reasons), maxReasons)])
	t.Disabled = slices.Clone(t.Disabled)
	if !(t.RateSpike.Factor >= 1 && t.RateSpike.Factor <= 1e6) { // also NaN
		t.RateSpike.Factor = def.RateSpike.Factor
	}
	if t.RateSpike.MinPerMinute <= 0 {
		t.RateSpike.MinPerMinute = def.RateSpike.MinPerMinute
	}
	if t.RateSpike.MinTokensPerMinute <= 0 {
		t.RateSpike.MinTokensPerMinute = def.RateSpike.MinTokensPerMinute
	}
	if !(t.RateSpike.Alpha >= MinAlpha && t.RateSpike.Alpha <= 1) {
		t.RateSpike.Alpha = def.RateSpike.Alpha
	}
	orInt(&t.RateSpike.Warmup, def.RateSpike.Warmup, math.MaxInt32)
	orDur(&t.NewNetwork.Learning, def.NewNetwork.Learning, math.MaxInt64)
	orInt(&t.NewNetwork.MaxNetworks, def.NewNetwork.MaxNetworks, 1024)
	orDur(&t.NewNetwork.Hold, def.NewNetwork.Hold, math.MaxInt64)
	orInt(&t.State.MaxKeys, def.State.MaxKeys, MaxStateEntries)
	orInt(&t.State.MaxSubjects, def.State.MaxSubjects, MaxStateEntries)
	orDur(&t.State.KeyIdle, def.State.KeyIdle, math.MaxInt64)
	return t
}
