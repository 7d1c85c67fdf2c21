package anomaly_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
	"github.com/scopegate/scopegate/internal/usage"
)

// hygNow is when the hygiene tests judge their keys.
var hygNow = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

const hygDay = 24 * time.Hour

// ago returns the time d before hygNow.
func hygAgo(d time.Duration) time.Time { return hygNow.Add(-d) }

// dataKey is an active data key of alice created 100 days ago, expiring in
// 30 days, with scopes; fn changes it.
func hygKey(id string, scopes []string, fn func(*apikey.Key)) apikey.Key {
	k := apikey.Key{ID: apikey.ID(id), Class: apikey.ClassData, Name: "n-" + id, Principal: "alice",
		Scopes: scope.MustParseSet(scopes...), Status: apikey.StatusActive,
		CreatedAt: hygAgo(100 * hygDay), ExpiresAt: hygNow.Add(30 * hygDay)}
	if fn != nil {
		fn(&k)
	}
	return k
}

// used is a usage row: n calls of key to model of feature.
func hygRow(key, feature, model string, n int64) usage.Row {
	return usage.Row{Key: apikey.ID(key), Feature: feature, Model: model, Requests: n}
}

// def is the default policy.
func def() anomaly.HygienePolicy { return anomaly.DefaultHygienePolicy() }

// policy is the default policy changed by fn.
func policy(fn func(*anomaly.HygienePolicy)) anomaly.HygienePolicy {
	p := anomaly.DefaultHygienePolicy()
	fn(&p)
	return p
}

func hygScopes(ss ...string) []scope.Scope { return scope.MustParseSet(ss...).Scopes() }

func TestDefaultHygienePolicy(t *testing.T) {
	want := anomaly.HygienePolicy{UnusedDays: 30, UnexercisedDays: 30, MaxTTL: 365 * hygDay, SprawlKeys: 10}
	if got := anomaly.DefaultHygienePolicy(); got != want {
		t.Errorf("DefaultHygienePolicy() = %+v, want %+v", got, want)
	}
}

func TestHygieneUsageQuery(t *testing.T) {
	now := time.Date(2030, 3, 1, 12, 34, 56, 0, time.UTC)
	got := policy(func(p *anomaly.HygienePolicy) { p.UnexercisedDays = 7 }).UsageQuery(now)
	want := usage.Query{From: time.Date(2030, 2, 22, 12, 0, 0, 0, time.UTC), To: time.Date(2030, 3, 1, 13, 0, 0, 0, time.UTC),
		GroupBy: []usage.Dimension{usage.ByKey, usage.ByFeature, usage.ByModel}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("UsageQuery (-want +got):\n%s", d)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("UsageQuery is not a valid query: %v", err)
	}
	// The longest window the admin API allows fits a usage query.
	q := policy(func(p *anomaly.HygienePolicy) { p.UnexercisedDays = 365 }).UsageQuery(now)
	if err := q.Validate(); err != nil {
		t.Errorf("UsageQuery over 365 days: %v", err)
	}
}

func TestHygieneNeedsUsage(t *testing.T) {
	tests := []struct {
		name string
		key  apikey.Key
		want bool
	}{
		{"Old", hygKey("k1", []string{"chatbot"}, nil), true},
		{"WindowOld", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt = hygAgo(30 * hygDay) }), true},
		{"Young", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt = hygAgo(30*hygDay - time.Second) }), false},
		{"Suspended", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.Status = apikey.StatusSuspended }), true},
		{"Revoked", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.Status = apikey.StatusRevoked }), false},
		{"Expired", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.ExpiresAt = hygAgo(time.Second) }), false},
		{"NoScopes", hygKey("k1", nil, nil), false},
		{"Admin", hygKey("k1", []string{"admin"}, func(k *apikey.Key) { k.Class = apikey.ClassAdmin }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := def().NeedsUsage(&tt.key, hygNow); got != tt.want {
				t.Errorf("NeedsUsage(%+v) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func TestHygieneUnused(t *testing.T) {
	tests := []struct {
		name   string
		key    apikey.Key
		policy anomaly.HygienePolicy
		want   []anomaly.UnusedKey // nil: not listed
	}{
		{"UsedLongAgo", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.LastUsedAt = hygAgo(45*hygDay + time.Hour) }), def(),
			[]anomaly.UnusedKey{{Key: "k1", Name: "n-k1", Principal: "alice", Status: apikey.StatusActive,
				CreatedAt: hygAgo(100 * hygDay), LastUsedAt: hygAgo(45*hygDay + time.Hour), IdleDays: 45}}},
		{"UsedRecently", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.LastUsedAt = hygAgo(time.Hour) }), def(), nil},
		{"NeverUsedOld", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt = hygAgo(31 * hygDay) }), def(),
			[]anomaly.UnusedKey{{Key: "k1", Name: "n-k1", Principal: "alice", Status: apikey.StatusActive,
				CreatedAt: hygAgo(31 * hygDay), IdleDays: 31}}},
		// Idle time runs from creation: a new key has not been unused for
		// 30 days yet.
		{"NeverUsedYoung", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt = hygAgo(29 * hygDay) }), def(), nil},
		{"ExactlyAtThreshold", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.LastUsedAt = hygAgo(7 * hygDay) }), policy(func(p *anomaly.HygienePolicy) { p.UnusedDays = 7 }),
			[]anomaly.UnusedKey{{Key: "k1", Name: "n-k1", Principal: "alice", Status: apikey.StatusActive,
				CreatedAt: hygAgo(100 * hygDay), LastUsedAt: hygAgo(7 * hygDay), IdleDays: 7}}},
		{"ZeroDaysListsEveryKey", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt = hygAgo(time.Minute) }), policy(func(p *anomaly.HygienePolicy) { p.UnusedDays = 0 }),
			[]anomaly.UnusedKey{{Key: "k1", Name: "n-k1", Principal: "alice", Status: apikey.StatusActive, CreatedAt: hygAgo(time.Minute)}}},
		{"Suspended", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.Status = apikey.StatusSuspended }), def(),
			[]anomaly.UnusedKey{{Key: "k1", Name: "n-k1", Principal: "alice", Status: apikey.StatusSuspended, CreatedAt: hygAgo(100 * hygDay), IdleDays: 100}}},
		// The admin API does not record when admin keys are used.
		{"AdminKey", hygKey("k1", []string{"admin"}, func(k *apikey.Key) { k.Class = apikey.ClassAdmin }), def(), nil},
		{"Revoked", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.Status = apikey.StatusRevoked }), def(), nil},
		{"Expired", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.ExpiresAt = hygNow }), def(), nil},
		{"Replaced", hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.ReplacedBy = "k2" }), def(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := anomaly.Hygiene(anomaly.HygieneInput{Keys: []apikey.Key{tt.key}, Now: hygNow}, tt.policy)
			if d := cmp.Diff(tt.want, r.Unused); d != "" {
				t.Errorf("Unused (-want +got):\n%s", d)
			}
		})
	}
}

func TestHygieneUnexercised(t *testing.T) {
	// manyModels are 21 calls to distinct chatbot models: one more than a
	// suggestion lists exactly.
	var manyModels []usage.Row
	for i := range anomaly.MaxSuggestedScopes + 1 {
		manyModels = append(manyModels, hygRow("k1", "chatbot", fmt.Sprintf("model-%02d", i), 1))
	}
	tests := []struct {
		name   string
		key    apikey.Key
		rows   []usage.Row
		policy anomaly.HygienePolicy // zero: the default
		// unexercised and suggested are the listing's; listed false
		// means the key is not listed.
		listed      bool
		unexercised []scope.Scope
		suggested   []string
	}{
		{name: "NoCalls", key: hygKey("k1", []string{"chatbot", "code-generation:claude-*"}, nil),
			listed: true, unexercised: hygScopes("chatbot", "code-generation:claude-*")},
		{name: "FeatureUsedForOneModel", key: hygKey("k1", []string{"chatbot"}, nil),
			rows:   []usage.Row{hygRow("k1", "chatbot", "gpt-4o-mini", 12), hygRow("k1", "chatbot", "gpt-4o-mini", 3)},
			listed: true, suggested: []string{"chatbot:gpt-4o-mini"}},
		{name: "PrefixUsedExactUnused", key: hygKey("k1", []string{"code-generation:claude-sonnet-4-*", "chatbot:gpt-4o"}, nil),
			rows:   []usage.Row{hygRow("k1", "code-generation", "claude-sonnet-4-5", 40)},
			listed: true, unexercised: hygScopes("chatbot:gpt-4o"), suggested: []string{"code-generation:claude-sonnet-4-5"}},
		{name: "EveryExactScopeUsed", key: hygKey("k1", []string{"chatbot:gpt-4o", "chatbot:gpt-4o-mini"}, nil),
			rows: []usage.Row{hygRow("k1", "chatbot", "gpt-4o", 1), hygRow("k1", "chatbot", "gpt-4o-mini", 1)}},
		// A call without a model (a feature without resources) needs the
		// whole feature.
		{name: "CallWithoutModel", key: hygKey("k1", []string{"data-retrieval", "chatbot"}, nil),
			rows:   []usage.Row{hygRow("k1", "data-retrieval", "", 5)},
			listed: true, unexercised: hygScopes("chatbot"), suggested: []string{"data-retrieval"}},
		// Past MaxSuggestedScopes models, the suggestion is the scopes
		// exercised, as held.
		{name: "TooManyModels", key: hygKey("k1", []string{"chatbot", "data-retrieval"}, nil), rows: manyModels,
			listed: true, unexercised: hygScopes("data-retrieval"), suggested: []string{"chatbot"}},
		{name: "TooManyModelsAllExercised", key: hygKey("k1", []string{"chatbot"}, nil), rows: manyModels},
		// Calls its current scopes no longer allow (they were narrowed)
		// suggest nothing it does not hold.
		{name: "CallOutsideScopes", key: hygKey("k1", []string{"chatbot:gpt-4o"}, nil),
			rows:   []usage.Row{hygRow("k1", "chatbot", "gpt-4o-mini", 2)},
			listed: true, unexercised: hygScopes("chatbot:gpt-4o")},
		{name: "OtherKeysRowsIgnored", key: hygKey("k1", []string{"chatbot:gpt-4o"}, nil),
			rows:   []usage.Row{hygRow("k2", "chatbot", "gpt-4o", 2)},
			listed: true, unexercised: hygScopes("chatbot:gpt-4o")},
		{name: "RowsWithoutCallsIgnored", key: hygKey("k1", []string{"chatbot:gpt-4o"}, nil),
			rows:   []usage.Row{hygRow("k1", "chatbot", "gpt-4o", 0), hygRow("k1", "", "gpt-4o", 3)},
			listed: true, unexercised: hygScopes("chatbot:gpt-4o")},
		// A key younger than the window has not had the time to use its
		// scopes.
		{name: "YoungKey", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt = hygAgo(29 * hygDay) })},
		{name: "YoungKeyShortWindow", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt = hygAgo(29 * hygDay) }),
			policy: policy(func(p *anomaly.HygienePolicy) { p.UnexercisedDays = 7 }), listed: true, unexercised: hygScopes("chatbot")},
		{name: "AdminKey", key: hygKey("k1", []string{"keys:self"}, func(k *apikey.Key) { k.Class = apikey.ClassAdmin })},
		{name: "NoScopes", key: hygKey("k1", nil, nil)},
		{name: "Revoked", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.Status = apikey.StatusRevoked })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			if p == (anomaly.HygienePolicy{}) {
				p = def()
			}
			r := anomaly.Hygiene(anomaly.HygieneInput{Keys: []apikey.Key{tt.key}, Usage: tt.rows, Now: hygNow}, p)
			var want []anomaly.UnexercisedKey
			if tt.listed {
				want = []anomaly.UnexercisedKey{{Key: tt.key.ID, Name: tt.key.Name, Principal: "alice", Status: apikey.StatusActive,
					Scopes: tt.key.Scopes, Unexercised: tt.unexercised, Suggested: scope.MustParseSet(tt.suggested...)}}
			}
			if d := cmp.Diff(want, r.Unexercised, cmp.Comparer(scope.Set.Equal)); d != "" {
				t.Errorf("Unexercised (-want +got):\n%s", d)
			}
		})
	}
}

func TestHygieneLongLived(t *testing.T) {
	tests := []struct {
		name   string
		key    apikey.Key
		maxTTL time.Duration
		// lifetime is the listing's; listed false means not listed.
		listed   bool
		lifetime time.Duration
	}{
		{name: "BeyondPolicy", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt, k.ExpiresAt = hygAgo(10*hygDay), hygNow.Add(100*hygDay) }),
			maxTTL: 90 * hygDay, listed: true, lifetime: 110 * hygDay},
		{name: "AtPolicy", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt, k.ExpiresAt = hygAgo(10*hygDay), hygNow.Add(80*hygDay) }),
			maxTTL: 90 * hygDay},
		{name: "NeverExpires", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.ExpiresAt = time.Time{} }),
			maxTTL: 90 * hygDay, listed: true},
		// The lifetime starts at not_before, as the Issuer measures it.
		{name: "LateStart", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) {
			k.CreatedAt, k.NotBefore, k.ExpiresAt = hygAgo(hygDay), hygNow.Add(29*hygDay), hygNow.Add(99*hygDay)
		}), maxTTL: 90 * hygDay},
		{name: "AdminKey", key: hygKey("k1", []string{"admin"}, func(k *apikey.Key) {
			k.Class, k.CreatedAt, k.ExpiresAt = apikey.ClassAdmin, hygAgo(hygDay), hygNow.Add(364*hygDay)
		}), maxTTL: 90 * hygDay, listed: true, lifetime: 365 * hygDay},
		{name: "LongerThanAYear", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.CreatedAt, k.ExpiresAt = hygAgo(hygDay), hygNow.Add(365*hygDay) }),
			maxTTL: 365 * hygDay, listed: true, lifetime: 366 * hygDay},
		{name: "Suspended", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) {
			k.Status, k.CreatedAt, k.ExpiresAt = apikey.StatusSuspended, hygAgo(hygDay), hygNow.Add(365*hygDay)
		}), maxTTL: 90 * hygDay, listed: true, lifetime: 366 * hygDay},
		{name: "Replaced", key: hygKey("k1", []string{"chatbot"}, func(k *apikey.Key) { k.ExpiresAt, k.ReplacedBy = time.Time{}, "k2" }),
			maxTTL: 90 * hygDay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := anomaly.Hygiene(anomaly.HygieneInput{Keys: []apikey.Key{tt.key}, Now: hygNow}, policy(func(p *anomaly.HygienePolicy) { p.MaxTTL = tt.maxTTL }))
			var want []anomaly.LongLivedKey
			if tt.listed {
				k := tt.key
				want = []anomaly.LongLivedKey{{Key: k.ID, Name: k.Name, Principal: k.Principal, Class: k.Class, Status: k.Status,
					CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, Lifetime: tt.lifetime}}
			}
			if d := cmp.Diff(want, r.LongLived); d != "" {
				t.Errorf("LongLived (-want +got):\n%s", d)
			}
		})
	}
}

func TestHygieneSprawl(t *testing.T) {
	keys := func(principal string, n int, fn func(int, *apikey.Key)) []apikey.Key {
		var out []apikey.Key
		for i := range n {
			out = append(out, hygKey(fmt.Sprintf("%s-%d", principal, i), []string{"chatbot"}, func(k *apikey.Key) {
				k.Principal = apikey.PrincipalID(principal)
				if fn != nil {
					fn(i, k)
				}
			}))
		}
		return out
	}
	principals := []apikey.Principal{{ID: "alice", Team: "red"}, {ID: "bob", Team: "red"}, {ID: "carol", Team: "blue"}}
	tests := []struct {
		name string
		keys []apikey.Key
		want []anomaly.PrincipalSprawl
	}{
		{"AboveLimit", keys("alice", 4, nil), []anomaly.PrincipalSprawl{{Principal: "alice", Team: "red", ActiveKeys: 4}}},
		{"AtLimit", keys("alice", 3, nil), nil},
		// Admin keys count: they are credentials too.
		{"AdminKeysCount", keys("bob", 4, func(i int, k *apikey.Key) {
			if i == 0 {
				k.Class, k.Scopes = apikey.ClassAdmin, scope.MustParseSet("keys:self")
			}
		}), []anomaly.PrincipalSprawl{{Principal: "bob", Team: "red", ActiveKeys: 4}}},
		{"SuspendedDoNotCount", keys("carol", 4, func(i int, k *apikey.Key) {
			if i == 0 {
				k.Status = apikey.StatusSuspended
			}
		}), nil},
		{"ReplacedDoNotCount", keys("carol", 4, func(i int, k *apikey.Key) {
			if i == 0 {
				k.ReplacedBy = "carol-next"
			}
		}), nil},
		{"ExpiredDoNotCount", keys("carol", 4, func(i int, k *apikey.Key) {
			if i == 0 {
				k.ExpiresAt = hygAgo(time.Second)
			}
		}), nil},
		{"UnknownPrincipal", keys("mallory", 4, nil), []anomaly.PrincipalSprawl{{Principal: "mallory", ActiveKeys: 4}}},
		{"MostKeysFirst", append(keys("alice", 4, nil), keys("bob", 5, nil)...), []anomaly.PrincipalSprawl{
			{Principal: "bob", Team: "red", ActiveKeys: 5}, {Principal: "alice", Team: "red", ActiveKeys: 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := anomaly.Hygiene(anomaly.HygieneInput{Keys: tt.keys, Principals: principals, Now: hygNow}, policy(func(p *anomaly.HygienePolicy) { p.SprawlKeys = 3 }))
			if d := cmp.Diff(tt.want, r.Sprawl); d != "" {
				t.Errorf("Sprawl (-want +got):\n%s", d)
			}
		})
	}
}

// TestHygieneReport checks a whole report: what is judged, and the order
// of each section (worst first, ties by key id).
func TestHygieneReport(t *testing.T) {
	keys := []apikey.Key{
		hygKey("b-idle40", []string{"chatbot"}, func(k *apikey.Key) { k.LastUsedAt = hygAgo(40 * hygDay) }),
		hygKey("a-idle40", []string{"chatbot"}, func(k *apikey.Key) { k.LastUsedAt = hygAgo(40 * hygDay) }),
		hygKey("c-never", []string{"chatbot", "data-retrieval"}, nil),
		hygKey("d-busy", []string{"chatbot:gpt-4o"}, func(k *apikey.Key) { k.LastUsedAt = hygAgo(time.Hour) }),
		hygKey("e-forever", []string{"chatbot:gpt-4o"}, func(k *apikey.Key) { k.LastUsedAt, k.ExpiresAt = hygAgo(time.Hour), time.Time{} }),
		hygKey("f-revoked", []string{"chatbot"}, func(k *apikey.Key) { k.Status = apikey.StatusRevoked }),
	}
	rows := []usage.Row{hygRow("d-busy", "chatbot", "gpt-4o", 9), hygRow("e-forever", "chatbot", "gpt-4o", 1),
		hygRow("a-idle40", "chatbot", "gpt-4o", 1)}
	pol := anomaly.HygienePolicy{UnusedDays: 30, UnexercisedDays: 60, MaxTTL: 365 * hygDay, SprawlKeys: 4}
	got := anomaly.Hygiene(anomaly.HygieneInput{Keys: keys, Usage: rows, Now: hygNow,
		Principals: []apikey.Principal{{ID: "alice", Team: "red"}}}, pol)
	unused := func(id string, idle int, last time.Time) anomaly.UnusedKey {
		return anomaly.UnusedKey{Key: apikey.ID(id), Name: "n-" + id, Principal: "alice", Status: apikey.StatusActive,
			CreatedAt: hygAgo(100 * hygDay), LastUsedAt: last, IdleDays: idle}
	}
	unexercised := func(id string, held []string, idle []scope.Scope, suggested ...string) anomaly.UnexercisedKey {
		return anomaly.UnexercisedKey{Key: apikey.ID(id), Name: "n-" + id, Principal: "alice", Status: apikey.StatusActive,
			Scopes: scope.MustParseSet(held...), Unexercised: idle, Suggested: scope.MustParseSet(suggested...)}
	}
	want := anomaly.HygieneReport{
		Now: hygNow, Policy: pol, Checked: 5,
		Unused: []anomaly.UnusedKey{unused("c-never", 100, time.Time{}), unused("a-idle40", 40, hygAgo(40*hygDay)), unused("b-idle40", 40, hygAgo(40*hygDay))},
		Unexercised: []anomaly.UnexercisedKey{
			unexercised("c-never", []string{"chatbot", "data-retrieval"}, hygScopes("chatbot", "data-retrieval")),
			unexercised("b-idle40", []string{"chatbot"}, hygScopes("chatbot")),
			unexercised("a-idle40", []string{"chatbot"}, nil, "chatbot:gpt-4o"),
		},
		LongLived: []anomaly.LongLivedKey{{Key: "e-forever", Name: "n-e-forever", Principal: "alice", Class: apikey.ClassData,
			Status: apikey.StatusActive, CreatedAt: hygAgo(100 * hygDay)}},
		Sprawl: []anomaly.PrincipalSprawl{{Principal: "alice", Team: "red", ActiveKeys: 5}},
	}
	if d := cmp.Diff(want, got, cmp.Comparer(scope.Set.Equal)); d != "" {
		t.Errorf("Hygiene (-want +got):\n%s", d)
	}
}
