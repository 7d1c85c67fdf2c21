package anomaly

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
)

// Detectors watch the stream of durable audit records and raise an [Alert]
// when a rule trips: [RuleProbing], [RuleCredentialBurst],
// [RuleRateSpike] and [RuleNewNetwork]. See docs/anomalies.md for each
// rule's exact condition.
//
// Time is the records' own: a record's Time, never the clock, so that a
// replayed trace gives the same alerts. Records are expected in log order;
// one whose Time is before the latest seen counts as at the latest.
//
// Each rule fires once per episode of a subject: after firing, it stays
// quiet about that subject until the condition has cleared. Grouping
// beyond that is the [Dispatcher]'s.
//
// State is bounded: each table of subjects has a cap, past which the least
// recently active subject is forgotten, and subjects that are idle (whose
// state equals a fresh one's, or whose key has been idle for
// Thresholds.State.KeyIdle) are forgotten as time passes. Each Observe
// costs amortised O(1).
//
// Detectors are safe for concurrent use, but records should come from one
// reader, in log order.
type Detectors struct {
	mu    sync.Mutex
	t     Thresholds // with defaults
	now   int64      // ms: the latest record time seen
	began bool

	probeN   int   // Probing.Denials
	probeW   int64 // ms
	credN    int
	credW    int64 // ms
	learning int64 // ms
	hold     int64 // ms
	spike    spikeParams
	spikeOn  bool // RuleRateSpike is on
	netOn    bool // RuleNewNetwork is on

	keys            *lruTable[string, keyState] // nil when neither key rule is on
	probeKeys       *lruTable[string, burst]    // nil when probing is off
	probePrincipals *lruTable[string, burst]
	networks        *lruTable[netID, burst] // nil when credential bursts are off
	keyNetworks     int                     // networks remembered across keys
}

// keyState is what the detectors remember of one key with allowed calls:
// its principal (for alerts about its usage events), its rate and its
// networks.
type keyState struct {
	principal string
	first     int64 // ms: the key's first event, which starts its learning period
	rate      rateState
	nets      netLearner
}

// NewDetectors returns Detectors with thresholds t. Zero fields take their
// defaults, and so do values that t.Validate refuses (counts and windows
// above their maxima are capped).
func NewDetectors(t Thresholds) *Detectors {
	t = t.withDefaults()
	d := &Detectors{
		t:        t,
		probeN:   t.Probing.Denials,
		probeW:   durationMs(t.Probing.Window),
		credN:    t.CredentialBurst.Failures,
		credW:    durationMs(t.CredentialBurst.Window),
		learning: durationMs(t.NewNetwork.Learning),
		hold:     durationMs(t.NewNetwork.Hold),
		spike: spikeParams{
			factor: t.RateSpike.Factor, alpha: t.RateSpike.Alpha,
			minReqs: t.RateSpike.MinPerMinute, minTk: t.RateSpike.MinTokensPerMinute,
			warmup: int32(t.RateSpike.Warmup),
		},
	}
	d.spikeOn, d.netOn = d.on(RuleRateSpike), d.on(RuleNewNetwork)
	if d.spikeOn || d.netOn {
		d.keys = newLRUTable[string, keyState](t.State.MaxKeys, durationMs(t.State.KeyIdle))
		d.keys.onEvict = func(k *keyState) {
			d.keyNetworks -= len(k.nets.nets)
			k.principal = ""
		}
	}
	if d.on(RuleProbing) {
		d.probeKeys = newLRUTable[string, burst](t.State.MaxSubjects, d.probeW)
		d.probePrincipals = newLRUTable[string, burst](t.State.MaxSubjects, d.probeW)
	}
	if d.on(RuleCredentialBurst) {
		d.networks = newLRUTable[netID, burst](t.State.MaxSubjects, d.credW)
	}
	return d
}

// Thresholds returns the thresholds in force: the ones given, with their
// defaults.
func (d *Detectors) Thresholds() Thresholds {
	t := d.t
	t.CredentialBurst.Reasons = slices.Clone(t.CredentialBurst.Reasons)
	t.Disabled = slices.Clone(t.Disabled)
	return t
}

func (d *Detectors) on(rule string) bool { return !slices.Contains(d.t.Disabled, rule) }

// Observe reads one durable audit record and returns the alerts it trips,
// usually none (nil). Only authz and usage events matter; others are
// ignored. It never blocks on anything but other calls of the Detectors.
func (d *Detectors) Observe(r audit.Record) []Alert {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.advance(r.Time)
	d.expire(now)
	switch e := r.Event.(type) {
	case audit.Authz:
		return d.authz(&e, now, r.Time)
	case *audit.Authz:
		if e != nil {
			return d.authz(e, now, r.Time)
		}
	case audit.Usage:
		return d.usage(&e, now, r.Time)
	case *audit.Usage:
		if e != nil {
			return d.usage(e, now, r.Time)
		}
	}
	return nil
}

// advance moves the detectors' clock to t, never back, and returns it in
// ms.
func (d *Detectors) advance(t time.Time) int64 {
	ms := clampMs(t.UnixMilli())
	if !d.began || ms > d.now {
		d.now, d.began = ms, true
	}
	return d.now
}

// expire forgets the state that is idle at now.
func (d *Detectors) expire(now int64) {
	if d.keys != nil {
		d.keys.expire(now)
	}
	if d.probeKeys != nil {
		d.probeKeys.expire(now)
		d.probePrincipals.expire(now)
	}
	if d.networks != nil {
		d.networks.expire(now)
	}
}

func (d *Detectors) authz(a *audit.Authz, now int64, at time.Time) []Alert {
	switch a.Decision {
	case "allow":
		return d.allowed(a, now, at)
	case "deny":
		if a.Reason == "missing_scope" {
			if d.probeKeys != nil {
				return d.probe(a, now, at)
			}
			return nil
		}
		if d.networks != nil {
			if kind := slices.Index(d.t.CredentialBurst.Reasons, a.Reason); kind >= 0 {
				return d.credentialFailure(a, kind, now, at)
			}
		}
	}
	return nil
}

// allowed feeds an allowed call to the rate and new-network rules.
func (d *Detectors) allowed(a *audit.Authz, now int64, at time.Time) []Alert {
	if d.keys == nil || a.KeyID == "" {
		return nil
	}
	ks := d.key(a.KeyID, now)
	if a.Principal != "" && ks.principal != a.Principal {
		ks.principal = strings.Clone(a.Principal)
	}
	var out []Alert
	if d.spikeOn && ks.rate.addRequest(now, &d.spike) {
		out = append(out, d.spikeAlert(a.KeyID, ks, at))
	}
	if d.netOn {
		if id, ok := parseNetwork(a.ClientIP); ok {
			fire, known, added := ks.nets.observe(id, now, now-ks.first < d.learning, d.t.NewNetwork.MaxNetworks, d.hold)
			d.keyNetworks += added
			if fire {
				out = append(out, d.newNetworkAlert(a.KeyID, ks, id, known, now, at))
			}
		}
	}
	return out
}

// usage feeds a finished call's tokens to the rate rule.
func (d *Detectors) usage(u *audit.Usage, now int64, at time.Time) []Alert {
	if d.keys == nil || u.KeyID == "" || !d.spikeOn {
		return nil
	}
	ks := d.key(u.KeyID, now)
	tokens := satAdd(max(u.InputTokens, 0), max(u.OutputTokens, 0))
	if ks.rate.addTokens(now, tokens, &d.spike) {
		return []Alert{d.spikeAlert(u.KeyID, ks, at)}
	}
	return nil
}

// key returns the state of key id, touched at now, creating it.
func (d *Detectors) key(id string, now int64) *keyState {
	if ks := d.keys.lookup(id, now); ks != nil {
		return ks
	}
	ks, _ := d.keys.insert(id, now, strings.Clone)
	nets := ks.nets.nets[:0]
	*ks = keyState{first: now, nets: netLearner{nets: nets}}
	ks.rate.start(now)
	return ks
}

// DetectorStats is how much state Detectors hold: see docs/anomalies.md for
// the bytes each entry takes.
type DetectorStats struct {
	// Keys have a rate baseline and networks (at most State.MaxKeys).
	Keys int
	// KeyNetworks are the networks remembered across Keys (at most
	// NewNetwork.MaxNetworks each).
	KeyNetworks int
	// ProbingKeys and ProbingPrincipals have missing_scope denials within
	// Probing.Window (at most State.MaxSubjects each).
	ProbingKeys       int
	ProbingPrincipals int
	// Networks have credential failures within CredentialBurst.Window
	// (at most State.MaxSubjects).
	Networks int
	// Displaced counts the entries forgotten before they were idle, to
	// make room in a full table. A growing count says a cap is too small
	// for the traffic, or that someone floods the detectors.
	Displaced uint64
}

// Stats returns how much state d holds.
func (d *Detectors) Stats() DetectorStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s DetectorStats
	if d.keys != nil {
		s.Keys, s.KeyNetworks, s.Displaced = d.keys.Len(), d.keyNetworks, d.keys.displaced
	}
	if d.probeKeys != nil {
		s.ProbingKeys, s.ProbingPrincipals = d.probeKeys.Len(), d.probePrincipals.Len()
		s.Displaced += d.probeKeys.displaced + d.probePrincipals.displaced
	}
	if d.networks != nil {
		s.Networks = d.networks.Len()
		s.Displaced += d.networks.displaced
	}
	return s
}

// Len returns the number of subjects d holds state for: keys, probing keys
// and principals, and networks.
func (d *Detectors) Len() int {
	s := d.Stats()
	return s.Keys + s.ProbingKeys + s.ProbingPrincipals + s.Networks
}

// keySubject returns the subject of an alert about key id.
func keySubject(id string) string { return "key:" + id }

func newAlert(rule, subject, principal, key string, f figureList, at time.Time) Alert {
	return Alert{Rule: rule, Subject: subject, Principal: apikey.PrincipalID(principal), Key: apikey.ID(key),
		Figures: f.String(), At: at}
}

// durationMs returns d in ms, at least 1.
func durationMs(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// clampMs keeps a time in ms far enough from the int64 limits that the
// rules' sums of times and windows cannot wrap.
func clampMs(ms int64) int64 {
	const limit = math.MaxInt64 / 4
	return min(max(ms, -limit), limit)
}
