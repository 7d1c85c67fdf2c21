package anomaly

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
	"github.com/scopegate/scopegate/internal/usage"
)

// The values of DefaultHygienePolicy, and the cap of a suggestion.
const (
	DefaultUnusedDays      = 30
	DefaultUnexercisedDays = 30
	DefaultSprawlKeys      = 10
	// MaxSuggestedScopes is how many exact feature:model scopes a
	// right-sizing suggestion lists before it falls back to the scopes the
	// key exercised, as it holds them.
	MaxSuggestedScopes = 20
)

// hygieneDay is the unit of the hygiene policy: the report speaks of
// days, and a day is 24 hours whatever the calendar says.
const hygieneDay = 24 * time.Hour

// HygienePolicy is what the hygiene report judges keys against. Its
// values are used as they are: start from DefaultHygienePolicy.
type HygienePolicy struct {
	// UnusedDays: a key not used for this many days is unused. Its idle
	// time runs from its last use, or from its creation if it was never
	// used, so a key created yesterday is not yet unused. Zero lists every
	// key.
	UnusedDays int
	// UnexercisedDays is the window in which a key's scopes must have
	// served a call to count as exercised. Keys younger than the window
	// are not judged.
	UnexercisedDays int
	// MaxTTL is the longest lifetime a key may have now (config
	// keys.max_ttl); keys that live longer were issued under a laxer
	// policy.
	MaxTTL time.Duration
	// SprawlKeys is how many active keys a principal may have before the
	// report names it.
	SprawlKeys int
}

// DefaultHygienePolicy returns the policy of a report that asks for
// nothing else: 30 days unused, 30 days unexercised, apikey.DefaultMaxTTL,
// 10 keys per principal.
func DefaultHygienePolicy() HygienePolicy {
	return HygienePolicy{UnusedDays: DefaultUnusedDays, UnexercisedDays: DefaultUnexercisedDays,
		MaxTTL: apikey.DefaultMaxTTL, SprawlKeys: DefaultSprawlKeys}
}

// UsageQuery returns the usage query whose rows Hygiene needs at now: the
// whole UTC hours of the last UnexercisedDays days up to the end of the
// current hour, grouped by key, feature and model. The caller adds the
// filters that keep it within its reach.
func (p HygienePolicy) UsageQuery(now time.Time) usage.Query {
	return usage.Query{
		From:    usage.TruncateHour(now.Add(-p.window())),
		To:      usage.TruncateHour(now).Add(time.Hour),
		GroupBy: []usage.Dimension{usage.ByKey, usage.ByFeature, usage.ByModel},
	}
}

// window is the unexercised window, never negative.
func (p HygienePolicy) window() time.Duration {
	return time.Duration(max(p.UnexercisedDays, 0)) * hygieneDay
}

// NeedsUsage reports whether Hygiene judges the scopes of k at now, and so
// needs its usage rows: k is a data key, with scopes, that can still
// work and is at least UnexercisedDays old. A caller can read the usage
// of these keys only.
func (p HygienePolicy) NeedsUsage(k *apikey.Key, now time.Time) bool {
	return hygieneJudged(k, now) && k.Class == apikey.ClassData && !k.Scopes.IsEmpty() &&
		now.Sub(k.CreatedAt) >= p.window()
}

// HygieneInput is what the hygiene report is computed from.
type HygieneInput struct {
	// Keys are the keys to judge. Revoked and expired keys are skipped
	// (they grant nothing), and so are keys a rotation replaced (they stop
	// at the end of their grace).
	Keys []apikey.Key
	// Principals are the keys' principals; the report takes their teams
	// from here. A key whose principal is missing is still judged.
	Principals []apikey.Principal
	// Usage is what the keys used in the window of p.UsageQuery(Now):
	// rows grouped by key, feature and model. Rows of other keys, rows
	// without a feature and rows without requests are ignored.
	Usage []usage.Row
	// Now is the time the report is made at.
	Now time.Time
}

// HygieneReport is what needs attention in a set of keys: the four
// sections of the key hygiene report, each sorted worst first.
type HygieneReport struct {
	// Now and Policy are what the keys were judged at and against.
	Now    time.Time
	Policy HygienePolicy
	// Checked counts the keys judged: those not revoked, not expired and
	// not replaced by a rotation.
	Checked     int
	Unused      []UnusedKey
	Unexercised []UnexercisedKey
	LongLived   []LongLivedKey
	Sprawl      []PrincipalSprawl
}

// UnusedKey is a data key idle for at least the policy's UnusedDays.
type UnusedKey struct {
	Key       apikey.ID
	Name      string
	Principal apikey.PrincipalID
	Status    apikey.Status
	CreatedAt time.Time
	// LastUsedAt is zero for a key never used.
	LastUsedAt time.Time
	// IdleDays is the whole days since the last use, or since the key was
	// created if it was never used.
	IdleDays int
}

// UnexercisedKey is a data key that holds more than its calls needed in
// the policy's window: scopes it never used, or scopes broader than what
// it used.
type UnexercisedKey struct {
	Key       apikey.ID
	Name      string
	Principal apikey.PrincipalID
	Status    apikey.Status
	// Scopes are the scopes the key holds.
	Scopes scope.Set
	// Unexercised are those of Scopes that served no call in the window.
	Unexercised []scope.Scope
	// Suggested is the narrowest set covering every call the key made in
	// the window (see Hygiene); empty when it made none.
	Suggested scope.Set
}

// LongLivedKey is a key whose lifetime exceeds the policy's MaxTTL.
type LongLivedKey struct {
	Key       apikey.ID
	Name      string
	Principal apikey.PrincipalID
	Class     apikey.Class
	Status    apikey.Status
	CreatedAt time.Time
	// ExpiresAt is zero for a key that never expires.
	ExpiresAt time.Time
	// Lifetime runs from the key's start (created_at, or not_before when
	// later) to its expiry; zero for a key that never expires.
	Lifetime time.Duration
}

// PrincipalSprawl is a principal with more active keys than the policy's
// SprawlKeys.
type PrincipalSprawl struct {
	Principal apikey.PrincipalID
	Team      string
	// ActiveKeys counts the principal's keys, data and admin, that are
	// active, unexpired and not replaced by a rotation.
	ActiveKeys int
}

// Hygiene judges in.Keys against p and returns the report. It is pure: the
// same input gives the same report.
//
// The sections and their rules:
//
//   - Unused: data keys whose idle time (since their last use, or their
//     creation if never used) is at least UnusedDays. Admin keys are not
//     judged: the admin API does not record their use.
//   - Unexercised: data keys at least UnexercisedDays old whose scopes
//     are broader than the calls of the window needed. A usage row
//     (feature, model) exercises the one scope of the key that allows it
//     (a normalized scope.Set never has two). The suggestion lists one
//     exact scope feature:model per model used (feature alone for calls
//     without a model), or, past MaxSuggestedScopes of them, the exercised
//     scopes themselves, so it is never broader than what the key holds. A
//     key is listed when the suggestion is narrower than its scopes.
//   - LongLived: keys, data and admin, that never expire or whose lifetime
//     exceeds MaxTTL: issued before the policy was lowered, or imported.
//   - Sprawl: principals with more than SprawlKeys active keys.
//
// Suspended keys are judged in the first three sections, since they can
// be resumed, and not counted in the last.
func Hygiene(in HygieneInput, p HygienePolicy) HygieneReport {
	now := in.Now
	r := HygieneReport{Now: now, Policy: p}
	used := usedByKey(in.Usage)
	active := make(map[apikey.PrincipalID]int)
	for i := range in.Keys {
		k := &in.Keys[i]
		if !hygieneJudged(k, now) {
			continue
		}
		r.Checked++
		if k.Status == apikey.StatusActive {
			active[k.Principal]++
		}
		if u, ok := judgeUnused(k, now, p); ok {
			r.Unused = append(r.Unused, u)
		}
		if u, ok := judgeScopes(k, used[k.ID], now, p); ok {
			r.Unexercised = append(r.Unexercised, u)
		}
		if l, ok := judgeLifetime(k, p); ok {
			r.LongLived = append(r.LongLived, l)
		}
	}
	r.Sprawl = judgeSprawl(active, in.Principals, p)
	sortHygiene(&r)
	return r
}

// hygieneJudged reports whether k is one the report looks at: it can
// still work, now or after a resume.
func hygieneJudged(k *apikey.Key, now time.Time) bool {
	switch {
	case k.Status != apikey.StatusActive && k.Status != apikey.StatusSuspended:
		return false
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return false
	case k.ReplacedBy != "":
		return false
	}
	return true
}

// wholeDays returns the whole days in d, never negative.
func wholeDays(d time.Duration) int { return int(max(d, 0) / hygieneDay) }

func judgeUnused(k *apikey.Key, now time.Time, p HygienePolicy) (UnusedKey, bool) {
	if k.Class != apikey.ClassData {
		return UnusedKey{}, false
	}
	since := k.CreatedAt
	if k.LastUsedAt.After(since) {
		since = k.LastUsedAt
	}
	idle := now.Sub(since)
	if idle < time.Duration(p.UnusedDays)*hygieneDay {
		return UnusedKey{}, false
	}
	return UnusedKey{Key: k.ID, Name: k.Name, Principal: k.Principal, Status: k.Status,
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, IdleDays: wholeDays(idle)}, true
}

// usedCall is what one usage row says a key did: calls to model of feature.
type usedCall struct{ feature, model string }

// usedByKey returns the distinct (feature, model) pairs each key called,
// in the order of rows.
func usedByKey(rows []usage.Row) map[apikey.ID][]usedCall {
	type keyCall struct {
		key apikey.ID
		usedCall
	}
	seen := make(map[keyCall]bool, len(rows))
	out := make(map[apikey.ID][]usedCall)
	for _, row := range rows {
		if row.Requests <= 0 || row.Feature == "" {
			continue // no call, or nothing a scope grants
		}
		c := usedCall{row.Feature, row.Model}
		if kc := (keyCall{row.Key, c}); !seen[kc] {
			seen[kc] = true
			out[row.Key] = append(out[row.Key], c)
		}
	}
	return out
}

func judgeScopes(k *apikey.Key, calls []usedCall, now time.Time, p HygienePolicy) (UnexercisedKey, bool) {
	if !p.NeedsUsage(k, now) {
		return UnexercisedKey{}, false
	}
	held := k.Scopes.Scopes()
	exercised := make([]bool, len(held))
	var exact []scope.Scope
	for _, c := range calls {
		i := slices.IndexFunc(held, func(s scope.Scope) bool { return s.Allows(c.feature, c.model) })
		if i < 0 {
			continue // allowed by scopes the key no longer holds
		}
		exercised[i] = true
		exact = append(exact, exactScope(held[i], c))
	}
	var idle, broad []scope.Scope
	for i, s := range held {
		if exercised[i] {
			broad = append(broad, s)
		} else {
			idle = append(idle, s)
		}
	}
	suggested := scope.NewSet(exact...)
	if suggested.Len() > MaxSuggestedScopes {
		suggested = scope.NewSet(broad...)
	}
	if suggested.Equal(k.Scopes) {
		return UnexercisedKey{}, false
	}
	return UnexercisedKey{Key: k.ID, Name: k.Name, Principal: k.Principal, Status: k.Status,
		Scopes: k.Scopes, Unexercised: idle, Suggested: suggested}, true
}

// exactScope returns the narrowest scope granting c: feature:model, or the
// feature for a call without a model. A model name that is not a valid
// exact resource falls back to the held scope that granted it.
func exactScope(held scope.Scope, c usedCall) scope.Scope {
	if c.model == "" {
		return held // only a whole-feature scope allows a call without a model
	}
	s, err := scope.New(c.feature, c.model)
	if err != nil || s.Resource.Prefix || s.Resource.Name != c.model {
		return held
	}
	return s
}

func judgeLifetime(k *apikey.Key, p HygienePolicy) (LongLivedKey, bool) {
	l := LongLivedKey{Key: k.ID, Name: k.Name, Principal: k.Principal, Class: k.Class, Status: k.Status,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt}
	if k.ExpiresAt.IsZero() {
		return l, true
	}
	// The lifetime is measured as the Issuer limits it: from not_before
	// when the key starts later than it was created.
	start := k.CreatedAt
	if k.NotBefore.After(start) {
		start = k.NotBefore
	}
	l.Lifetime = k.ExpiresAt.Sub(start)
	return l, l.Lifetime > p.MaxTTL
}

func judgeSprawl(active map[apikey.PrincipalID]int, principals []apikey.Principal, p HygienePolicy) []PrincipalSprawl {
	teams := make(map[apikey.PrincipalID]string, len(principals))
	for _, pr := range principals {
		teams[pr.ID] = pr.Team
	}
	var out []PrincipalSprawl
	for id, n := range active {
		if n > p.SprawlKeys {
			out = append(out, PrincipalSprawl{Principal: id, Team: teams[id], ActiveKeys: n})
		}
	}
	return out
}

// sortHygiene orders each section worst first, ties by id, so the same
// input prints the same report.
func sortHygiene(r *HygieneReport) {
	slices.SortFunc(r.Unused, func(a, b UnusedKey) int {
		return cmp.Or(-cmp.Compare(a.IdleDays, b.IdleDays), strings.Compare(string(a.Key), string(b.Key)))
	})
	slices.SortFunc(r.Unexercised, func(a, b UnexercisedKey) int {
		return cmp.Or(-cmp.Compare(len(a.Unexercised), len(b.Unexercised)), strings.Compare(string(a.Key), string(b.Key)))
	})
	// A key that never expires is the worst of all.
	life := func(l LongLivedKey) time.Duration {
		if l.ExpiresAt.IsZero() {
			return time.Duration(1<<63 - 1)
		}
		return l.Lifetime
	}
	slices.SortFunc(r.LongLived, func(a, b LongLivedKey) int {
		return cmp.Or(-cmp.Compare(life(a), life(b)), strings.Compare(string(a.Key), string(b.Key)))
	})
	slices.SortFunc(r.Sprawl, func(a, b PrincipalSprawl) int {
		return cmp.Or(-cmp.Compare(a.ActiveKeys, b.ActiveKeys), strings.Compare(string(a.Principal), string(b.Principal)))
	})
}
