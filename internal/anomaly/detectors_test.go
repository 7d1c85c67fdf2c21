package anomaly

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scopegate/scopegate/internal/audit"
)

// detT0 is the start of the hand-built sequences: a minute boundary.
var detT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func detAt(d time.Duration) time.Time { return detT0.Add(d) }

func detAllow(at time.Time, key, principal, ip string) audit.Record {
	return audit.Record{Time: at, Event: audit.Authz{KeyID: key, Principal: principal, Feature: "chatbot",
		Scope: "chatbot", Resource: "gpt-4o", ClientIP: ip, Decision: "allow", Reason: "allowed"}}
}

func detDeny(at time.Time, key, principal, ip, reason, scope string) audit.Record {
	return audit.Record{Time: at, Event: audit.Authz{KeyID: key, Principal: principal, Feature: "chatbot",
		Scope: scope, ClientIP: ip, Decision: "deny", Reason: reason, Status: 403}}
}

func detUsage(at time.Time, key string, in, out int64) audit.Record {
	return audit.Record{Time: at, Event: audit.Usage{KeyID: key, InputTokens: in, OutputTokens: out, UsageKnown: true, Outcome: "ok"}}
}

// detReplay feeds recs to d and returns the alerts, with the index of the
// record that raised each.
func detReplay(d *Detectors, recs []audit.Record) (alerts []Alert, at []int) {
	for i, r := range recs {
		for _, a := range d.Observe(r) {
			alerts = append(alerts, a)
			at = append(at, i)
		}
	}
	return alerts, at
}

// detEvery returns n records made by mk at start, start+step, ….
func detEvery(n int, start time.Time, step time.Duration, mk func(i int, at time.Time) audit.Record) []audit.Record {
	recs := make([]audit.Record, n)
	for i := range n {
		recs[i] = mk(i, start.Add(time.Duration(i)*step))
	}
	return recs
}

func detConcat(parts ...[]audit.Record) []audit.Record {
	var all []audit.Record
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// figuresOf parses space-separated name=value figures.
func figuresOf(t *testing.T, s string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for f := range strings.FieldsSeq(s) {
		name, value, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			t.Fatalf("figures %q: %q is not name=value", s, f)
		}
		if _, dup := m[name]; dup {
			t.Fatalf("figures %q: %s twice", s, name)
		}
		m[name] = value
	}
	return m
}

// checkFigures fails unless every figure of want is in got.
func checkFigures(t *testing.T, got string, want map[string]string) {
	t.Helper()
	have := figuresOf(t, got)
	for name, v := range want {
		if have[name] != v {
			t.Errorf("figures %q: %s=%q, want %q", got, name, have[name], v)
		}
	}
}

var ignoreFigures = cmpopts.IgnoreFields(Alert{}, "Figures")

func TestProbing(t *testing.T) {
	missing := func(key, principal string) func(int, time.Time) audit.Record {
		return func(i int, at time.Time) audit.Record {
			return detDeny(at, key, principal, "10.0.0.1", "missing_scope", fmt.Sprintf("chatbot:model-%d", i%3))
		}
	}
	tests := []struct {
		name    string
		recs    []audit.Record
		want    []Alert
		figures []map[string]string
	}{
		{
			name: "NineDoNotFire",
			recs: detEvery(9, detT0, time.Second, missing("k1", "alice")),
		},
		{
			name: "TenFire",
			recs: detEvery(10, detT0, time.Second, missing("k1", "alice")),
			want: []Alert{{Rule: RuleProbing, Subject: "key:k1", Principal: "alice", Key: "k1", At: detAt(9 * time.Second)}},
			figures: []map[string]string{{"denials": "10", "window": "1m0s", "span": "9s", "scopes": "3",
				"scope": "chatbot:model-0"}},
		},
		{
			name: "TenSpanningTheWholeWindowDoNotFire", // the window is (t-1m, t]
			recs: detConcat(detEvery(9, detT0, time.Second, missing("k1", "alice")),
				[]audit.Record{missing("k1", "alice")(9, detAt(time.Minute))}),
		},
		{
			name: "TenJustInsideTheWindowFire",
			recs: detConcat(detEvery(9, detT0, time.Second, missing("k1", "alice")),
				[]audit.Record{missing("k1", "alice")(9, detAt(59999*time.Millisecond))}),
			want: []Alert{{Rule: RuleProbing, Subject: "key:k1", Principal: "alice", Key: "k1", At: detAt(59999 * time.Millisecond)}},
		},
		{
			name: "SustainedProbingFiresOnce", // 20 a minute for 10 minutes
			recs: detEvery(200, detT0, 3*time.Second, missing("k1", "alice")),
			want: []Alert{{Rule: RuleProbing, Subject: "key:k1", Principal: "alice", Key: "k1", At: detAt(27 * time.Second)}},
		},
		{
			name: "RearmsAfterAQuietWindow",
			recs: detConcat(detEvery(10, detT0, time.Second, missing("k1", "alice")),
				detEvery(10, detAt(9*time.Second+time.Minute), time.Second, missing("k1", "alice"))),
			want: []Alert{
				{Rule: RuleProbing, Subject: "key:k1", Principal: "alice", Key: "k1", At: detAt(9 * time.Second)},
				{Rule: RuleProbing, Subject: "key:k1", Principal: "alice", Key: "k1", At: detAt(18*time.Second + time.Minute)},
			},
		},
		{
			// The second ten come 50 s after the first: the rule holds at
			// each of them, so the episode goes on.
			name: "StaysInTheEpisodeWhileItHolds",
			recs: detConcat(detEvery(10, detT0, time.Second, missing("k1", "alice")),
				detEvery(10, detAt(50*time.Second), time.Second, missing("k1", "alice"))),
			want: []Alert{{Rule: RuleProbing, Subject: "key:k1", Principal: "alice", Key: "k1", At: detAt(9 * time.Second)}},
		},
		{
			name: "SpreadAcrossAPrincipalsKeys",
			recs: detEvery(12, detT0, 5*time.Second, func(i int, at time.Time) audit.Record {
				return missing(fmt.Sprintf("k%d", i%4), "bob")(i, at)
			}),
			want: []Alert{{Rule: RuleProbing, Subject: "principal:bob", Principal: "bob", At: detAt(45 * time.Second)}},
			figures: []map[string]string{{"denials": "10", "window": "1m0s", "span": "45s", "keys": "4",
				"key": "k1", "scope": "chatbot:model-0"}},
		},
		{
			name: "SpreadUnevenly", // 7 and 3: neither key trips, the principal does
			recs: detEvery(10, detT0, 5*time.Second, func(i int, at time.Time) audit.Record {
				return missing([]string{"k0", "k1"}[min(i%4, 1)], "bob")(i, at)
			}),
			want:    []Alert{{Rule: RuleProbing, Subject: "principal:bob", Principal: "bob", At: detAt(45 * time.Second)}},
			figures: []map[string]string{{"keys": "2"}},
		},
		{
			name: "AProbingKeysStrayNeighbourIsNotAPrincipalAlert",
			// k1 probes (20 a minute) and trips at 27s; then k2, of the
			// same principal, has a denial now and then. k1's alert covers
			// its denials, which no longer count for the principal.
			recs: detConcat(
				detEvery(40, detT0, 3*time.Second, missing("k1", "alice")),
				detEvery(6, detAt(30500*time.Millisecond), 15*time.Second, missing("k2", "alice"))),
			want: []Alert{{Rule: RuleProbing, Subject: "key:k1", Principal: "alice", Key: "k1", At: detAt(27 * time.Second)}},
		},
		{
			name: "OtherDenialsDoNotCount",
			recs: detEvery(30, detT0, time.Second, func(i int, at time.Time) audit.Record {
				return detDeny(at, "k1", "alice", "10.0.0.1", "rate_limited", "chatbot")
			}),
		},
		{
			name: "KeysAndPrincipalsCountApart",
			recs: detEvery(18, detT0, time.Second, func(i int, at time.Time) audit.Record {
				return missing(fmt.Sprintf("k%d", i%2), fmt.Sprintf("p%d", i%2))(i, at)
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sortRecords(tt.recs)
			got, _ := detReplay(NewDetectors(Thresholds{}), tt.recs)
			if diff := cmp.Diff(tt.want, got, ignoreFigures, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("alerts (-want +got):\n%s", diff)
			}
			for i, f := range tt.figures {
				checkFigures(t, got[i].Figures, f)
			}
		})
	}
}

func TestCredentialBurst(t *testing.T) {
	fail := func(reason, ip, key string) func(int, time.Time) audit.Record {
		return func(_ int, at time.Time) audit.Record { return detDeny(at, key, "", ip, reason, "") }
	}
	net24 := "net:203.0.113.0/24"
	tests := []struct {
		name    string
		recs    []audit.Record
		want    []Alert
		figures []map[string]string
	}{
		{name: "NineteenDoNotFire", recs: detEvery(19, detT0, time.Second, fail("invalid_key", "203.0.113.9", "x"))},
		{
			name: "TwentyFire",
			recs: detEvery(20, detT0, time.Second, func(i int, at time.Time) audit.Record {
				reason := []string{"invalid_key", "malformed_key", "key_revoked", "key_expired"}[i%4]
				key := fmt.Sprintf("id%d", i%5)
				if reason == "malformed_key" {
					key = ""
				}
				return fail(reason, fmt.Sprintf("203.0.113.%d", i), key)(i, at)
			}),
			want: []Alert{{Rule: RuleCredentialBurst, Subject: net24, At: detAt(19 * time.Second)}},
			figures: []map[string]string{{"failures": "20", "window": "1m0s", "span": "19s", "keys": "5",
				"invalid_key": "5", "malformed_key": "5", "key_revoked": "5", "key_expired": "5", "key": "id4"}},
		},
		{
			name: "EveryAddressFormOfOneNetwork",
			recs: detEvery(20, detT0, time.Second, func(i int, at time.Time) audit.Record {
				ip := []string{"203.0.113.7", "203.0.113.0/24", "::ffff:203.0.113.200", "203.0.113.9/32",
					"::ffff:203.0.113.0/120"}[i%5]
				return fail("invalid_key", ip, "k")(i, at)
			}),
			want: []Alert{{Rule: RuleCredentialBurst, Subject: net24, At: detAt(19 * time.Second)}},
		},
		{
			name: "IPv6By48",
			recs: detEvery(20, detT0, time.Second, func(i int, at time.Time) audit.Record {
				ip := []string{"2001:db8:1:2::5", "2001:db8:1::/48", "2001:db8:1:ffff::1", "fe80::1%eth0"}[i%4]
				if i%4 == 3 {
					ip = "2001:db8:1::9%eth0"
				}
				return fail("key_revoked", ip, "k")(i, at)
			}),
			want: []Alert{{Rule: RuleCredentialBurst, Subject: "net:2001:db8:1::/48", At: detAt(19 * time.Second)}},
		},
		{
			name: "NetworksCountApart",
			recs: detEvery(38, detT0, time.Second, func(i int, at time.Time) audit.Record {
				return fail("invalid_key", fmt.Sprintf("203.0.%d.1", 113+i%2), "k")(i, at)
			}),
		},
		{
			name: "UnusableAddressesCountNowhere",
			recs: detEvery(100, detT0, 100*time.Millisecond, func(i int, at time.Time) audit.Record {
				ip := []string{"", "garbage", "203.0.113.7:443", "10.0.0.0/8", "2001:db8::/32", "1.2.3.4.5"}[i%6]
				return fail("invalid_key", ip, "k")(i, at)
			}),
		},
		{
			name: "OtherReasonsDoNotCount",
			recs: detEvery(100, detT0, 100*time.Millisecond, func(i int, at time.Time) audit.Record {
				reason := []string{"key_suspended", "missing_key", "principal_disabled", "rate_limited", "key_not_yet_valid"}[i%5]
				return fail(reason, "203.0.113.7", "k")(i, at)
			}),
		},
		{
			name: "LeakedRevokedKeyFiresOnceAndRearms",
			recs: detConcat(
				detEvery(60, detT0, 2*time.Second, fail("key_revoked", "198.51.100.7", "leaked")), // 30 a minute for 2m
				detEvery(20, detAt(118*time.Second+2*time.Minute), time.Second, fail("key_revoked", "198.51.100.7", "leaked"))),
			want: []Alert{
				{Rule: RuleCredentialBurst, Subject: "net:198.51.100.0/24", At: detAt(38 * time.Second)},
				{Rule: RuleCredentialBurst, Subject: "net:198.51.100.0/24", At: detAt(137*time.Second + 2*time.Minute)},
			},
			figures: []map[string]string{{"failures": "20", "keys": "1", "key_revoked": "20", "key": "leaked", "span": "38s"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := detReplay(NewDetectors(Thresholds{}), tt.recs)
			if diff := cmp.Diff(tt.want, got, ignoreFigures, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("alerts (-want +got):\n%s", diff)
			}
			for i, f := range tt.figures {
				checkFigures(t, got[i].Figures, f)
			}
		})
	}
}

// detSteady returns minutes of perMin allowed calls of key, evenly spread
// in each minute from start, each with a usage event of tokens.
func detSteady(key string, start time.Time, minutes, perMin int, tokens int64) []audit.Record {
	var recs []audit.Record
	step := time.Minute / time.Duration(perMin)
	for m := range minutes {
		for i := range perMin {
			at := start.Add(time.Duration(m)*time.Minute + time.Duration(i)*step)
			recs = append(recs, detAllow(at, key, "alice", "10.0.0.1"))
			if tokens > 0 {
				recs = append(recs, detUsage(at, key, tokens/2, tokens-tokens/2))
			}
		}
	}
	return recs
}

func TestRateSpike(t *testing.T) {
	// 20 minutes of exactly 10 calls (and 10×100 tokens) a minute: mean 10,
	// variance 0, peak 10. The 21st minute trips above max(10+5·0, 5·10,
	// 2·10, MinPerMinute-1).
	base := detSteady("k1", detT0, 20, 10, 100)
	minute21 := detAt(20 * time.Minute)
	burst := func(n int, start time.Time) []audit.Record {
		return detEvery(n, start, 100*time.Millisecond, func(_ int, at time.Time) audit.Record {
			return detAllow(at, "k1", "alice", "10.0.0.1")
		})
	}
	spike := Alert{Rule: RuleRateSpike, Subject: "key:k1", Principal: "alice", Key: "k1"}
	spikeAt := func(at time.Time) Alert { a := spike; a.At = at; return a }
	minPerMinute1 := func(t *Thresholds) { t.RateSpike.MinPerMinute = 1 }
	tests := []struct {
		name    string
		edit    func(*Thresholds)
		recs    []audit.Record
		want    []Alert
		figures []map[string]string
	}{
		{name: "SteadyDoesNotFire", recs: detSteady("k1", detT0, 120, 10, 100)},
		{name: "AtTheMinimumMinusOne", recs: detConcat(base, burst(59, minute21))},
		{
			name:    "AtTheMinimum",
			recs:    detConcat(base, burst(60, minute21)),
			want:    []Alert{spikeAt(minute21.Add(5900 * time.Millisecond))},
			figures: []map[string]string{{"requests_per_minute": "60", "threshold": "59", "mean": "10.0", "stddev": "0.0", "peak": "10.0", "factor": "5.0"}},
		},
		{name: "AtFactorTimesMean", edit: minPerMinute1, recs: detConcat(base, burst(50, minute21))},
		{
			name:    "AboveFactorTimesMean",
			edit:    minPerMinute1,
			recs:    detConcat(base, burst(51, minute21)),
			want:    []Alert{spikeAt(minute21.Add(5 * time.Second))},
			figures: []map[string]string{{"requests_per_minute": "51", "threshold": "50"}},
		},
		{
			name: "NotDuringWarmup", // 14 closed minutes, then 200 calls
			recs: detConcat(detSteady("k1", detT0, 14, 10, 0), burst(200, detAt(14*time.Minute))),
		},
		{
			name: "SustainedSpikeFiresOnce",
			recs: detConcat(base, detSteady("k1", minute21, 10, 300, 0)),
			want: []Alert{spikeAt(minute21.Add(59 * 200 * time.Millisecond))}, // the 60th call
		},
		{
			name: "RearmsAfterACalmMinute",
			recs: detConcat(base, burst(100, minute21),
				detSteady("k1", minute21.Add(time.Minute), 1, 10, 0),
				burst(200, minute21.Add(2*time.Minute))),
			// The second limit is higher: the 100 calls raised the mean to
			// 14.275 and the stddev to 19.14, so it is 109.
			want: []Alert{spikeAt(minute21.Add(5900 * time.Millisecond)), spikeAt(minute21.Add(2*time.Minute + 10900*time.Millisecond))},
		},
		{
			name: "Tokens",
			recs: detConcat(base, []audit.Record{
				detUsage(minute21, "k1", 100_000, 50_000),
				detUsage(minute21.Add(time.Second), "k1", 30_000, 20_000),
				detUsage(minute21.Add(2*time.Second), "k1", 30_000, 20_000),
			}),
			want:    []Alert{spikeAt(minute21.Add(time.Second))},
			figures: []map[string]string{{"tokens_per_minute": "200000", "threshold": "199999", "mean": "1000.0"}},
		},
		{
			name: "AfterALongGap",
			// 1000 idle minutes decay the mean and variance to ~0, the peak
			// (10) only to 10·2^(-1001/10080): the limit is MinPerMinute-1.
			recs:    detConcat(base, burst(60, detAt(1020*time.Minute))),
			want:    []Alert{spikeAt(detAt(1020*time.Minute + 5900*time.Millisecond))},
			figures: []map[string]string{{"threshold": "59", "mean": "0.0", "peak": "9.3"}},
		},
		{
			name: "PeakGuardKeepsASleepingKeysUsualRate",
			// 300 a minute for 20 minutes, 16 idle hours, then 300 a minute
			// again: the mean is ~0 but the peak is 300·2^(-960/10080).
			recs: detConcat(detSteady("k1", detT0, 20, 300, 0), detSteady("k1", detAt(980*time.Minute), 5, 300, 0)),
		},
		{
			name: "BackwardsTimeCountsAtTheLatest",
			recs: detConcat(base, burst(59, minute21), []audit.Record{detAllow(detT0, "k1", "alice", "10.0.0.1")}),
			want: []Alert{spikeAt(detT0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := Thresholds{}
			if tt.edit != nil {
				tt.edit(&th)
			}
			got, _ := detReplay(NewDetectors(th), tt.recs)
			if diff := cmp.Diff(tt.want, got, ignoreFigures, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("alerts (-want +got):\n%s", diff)
			}
			for i, f := range tt.figures {
				checkFigures(t, got[i].Figures, f)
			}
		})
	}
}

func TestNewNetwork(t *testing.T) {
	day := 24 * time.Hour
	call := func(d time.Duration, ip string) audit.Record { return detAllow(detAt(d), "k1", "alice", ip) }
	learned := []audit.Record{
		call(0, "10.1.2.3"),
		call(time.Hour, "2001:db8:5::1"),
		call(23*time.Hour, "192.0.2.0/24"), // already truncated
	}
	alert := func(d time.Duration) Alert {
		return Alert{Rule: RuleNewNetwork, Subject: "key:k1", Principal: "alice", Key: "k1", At: detAt(d)}
	}
	tests := []struct {
		name    string
		edit    func(*Thresholds)
		recs    []audit.Record
		want    []Alert
		figures []map[string]string
	}{
		{name: "LearnedNetworksInEveryForm", recs: detConcat(learned, []audit.Record{
			call(day+time.Minute, "10.1.2.200"), call(day+2*time.Minute, "::ffff:10.1.2.9"),
			call(day+3*time.Minute, "10.1.2.0/24"), call(day+4*time.Minute, "2001:db8:5:77::1"),
			call(day+5*time.Minute, "2001:db8:5::/48"), call(day+6*time.Minute, "192.0.2.44"),
		})},
		{
			name:    "NewNetworkAfterLearning",
			recs:    detConcat(learned, []audit.Record{call(day, "198.51.100.4"), call(day+time.Second, "198.51.100.4")}),
			want:    []Alert{alert(day)},
			figures: []map[string]string{{"network": "198.51.100.0/24", "known": "3", "key_age": "24h0m0s", "learning": "24h0m0s"}},
		},
		{
			name: "JustBeforeTheEndOfLearning",
			recs: detConcat(learned, []audit.Record{call(day-time.Millisecond, "198.51.100.4"), call(day+time.Hour, "198.51.100.4")}),
		},
		{
			name: "OnlyAllowedCallsCount",
			recs: detConcat(learned, []audit.Record{
				detDeny(detAt(day), "k1", "alice", "198.51.100.4", "missing_scope", "x"),
				detDeny(detAt(day), "k1", "alice", "198.51.100.4", "rate_limited", "x"),
			}),
		},
		{
			name: "NewNetworksWithinHoldAreOneEpisode",
			recs: detConcat(learned, []audit.Record{
				call(day, "198.51.100.4"),
				call(day+50*time.Minute, "198.51.101.4"),
				call(day+100*time.Minute, "198.51.102.4"),                  // 50m after the last new network
				call(day+100*time.Minute+time.Hour, "198.51.102.4"),        // known now
				call(day+100*time.Minute+time.Hour, "2001:db8:9::1"),       // a new episode
				call(day+100*time.Minute+time.Hour+time.Second, "garbage"), // skipped
			}),
			want: []Alert{alert(day), alert(day + 100*time.Minute + time.Hour)},
			figures: []map[string]string{{"network": "198.51.100.0/24", "known": "3"},
				{"network": "2001:db8:9::/48", "known": "6"}},
		},
		{
			name: "MaxNetworksKeepsTheMostRecent",
			edit: func(t *Thresholds) { t.NewNetwork.MaxNetworks = 2 },
			// 10.1.2.0/24 is the least recently used of three: forgotten.
			recs: detConcat(learned, []audit.Record{call(day, "2001:db8:5::1"), call(day+time.Minute, "192.0.2.1"),
				call(day+2*time.Minute, "10.1.2.3")}),
			want:    []Alert{alert(day + 2*time.Minute)},
			figures: []map[string]string{{"network": "10.1.2.0/24", "known": "2"}},
		},
		{
			name: "LearningStartsAtTheKeysFirstEvent",
			edit: func(t *Thresholds) { t.NewNetwork.Learning = time.Hour },
			recs: []audit.Record{detUsage(detAt(0), "k1", 1, 1), call(30*time.Minute, "10.1.2.3"), call(time.Hour, "10.9.9.9")},
			want: []Alert{alert(time.Hour)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := Thresholds{}
			if tt.edit != nil {
				tt.edit(&th)
			}
			got, _ := detReplay(NewDetectors(th), tt.recs)
			if diff := cmp.Diff(tt.want, got, ignoreFigures, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("alerts (-want +got):\n%s", diff)
			}
			for i, f := range tt.figures {
				checkFigures(t, got[i].Figures, f)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	// One trace that trips every rule.
	recs := detConcat(
		detEvery(10, detT0, time.Second, func(i int, at time.Time) audit.Record {
			return detDeny(at, "k2", "bob", "10.0.0.1", "missing_scope", "x")
		}),
		detEvery(20, detT0, time.Second, func(i int, at time.Time) audit.Record {
			return detDeny(at, "", "", "203.0.113.1", "malformed_key", "")
		}),
		detSteady("k1", detAt(time.Minute), 20, 10, 0),
		detEvery(100, detAt(21*time.Minute), 10*time.Millisecond, func(i int, at time.Time) audit.Record {
			return detAllow(at, "k1", "alice", "10.0.0.1")
		}),
		[]audit.Record{detAllow(detAt(25*time.Hour), "k1", "alice", "10.99.0.1")},
	)
	sortRecords(recs)
	all := []string{RuleProbing, RuleCredentialBurst, RuleRateSpike, RuleNewNetwork}
	for _, off := range append([]string{""}, all...) {
		t.Run("Off="+off, func(t *testing.T) {
			var th Thresholds
			if off != "" {
				th.Disabled = []string{off}
			}
			d := NewDetectors(th)
			got, _ := detReplay(d, recs)
			var rules []string
			for _, a := range got {
				rules = append(rules, a.Rule)
			}
			var want []string
			for _, r := range all {
				if r != off {
					want = append(want, r)
				}
			}
			if diff := cmp.Diff(want, rules, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("rules that fired (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObserveIgnoresOtherEvents(t *testing.T) {
	d := NewDetectors(Thresholds{})
	events := []audit.Event{
		audit.Alert{Rule: "probing", Subject: "key:k1"},
		audit.Override{Reason: audit.ReasonTruncated},
		audit.Admin{Action: "key.revoke", Target: "k1"},
		nil,
		(*audit.Authz)(nil),
		(*audit.Usage)(nil),
	}
	for i, e := range events {
		if got := d.Observe(audit.Record{Index: uint64(i), Time: detT0, Event: e}); got != nil {
			t.Errorf("Observe(%T) = %v, want nil", e, got)
		}
	}
	if n := d.Len(); n != 0 {
		t.Errorf("Len() = %d after ignored events, want 0", n)
	}
	// Pointers to events work like values.
	for i := range 10 {
		at := detAt(time.Duration(i) * time.Second)
		a := audit.Authz{KeyID: "k", Principal: "p", Decision: "deny", Reason: "missing_scope", Scope: "x"}
		if got := d.Observe(audit.Record{Time: at, Event: &a}); (len(got) == 1) != (i == 9) {
			t.Errorf("denial %d: alerts %v", i+1, got)
		}
	}
}

// TestIdleStateIsForgotten checks that burst state goes once its window
// has passed, and key state after KeyIdle.
func TestIdleStateIsForgotten(t *testing.T) {
	th := Thresholds{}
	th.State.KeyIdle = time.Hour
	d := NewDetectors(th)
	for i := range 100 {
		at := detAt(time.Duration(i) * time.Millisecond)
		d.Observe(detDeny(at, fmt.Sprintf("k%d", i), fmt.Sprintf("p%d", i), "10.0.0.1", "missing_scope", "x"))
		d.Observe(detDeny(at, "", "", fmt.Sprintf("10.%d.0.1", i), "invalid_key", ""))
		d.Observe(detAllow(at, fmt.Sprintf("a%d", i), "p", fmt.Sprintf("10.%d.0.1", i)))
	}
	want := DetectorStats{Keys: 100, KeyNetworks: 100, ProbingKeys: 100, ProbingPrincipals: 100, Networks: 100}
	if got := d.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	d.Observe(audit.Record{Time: detAt(time.Minute + 99*time.Millisecond)})
	want = DetectorStats{Keys: 100, KeyNetworks: 100}
	if got := d.Stats(); got != want {
		t.Fatalf("after a minute: Stats() = %+v, want %+v", got, want)
	}
	d.Observe(audit.Record{Time: detAt(time.Hour + 98*time.Millisecond)})
	if got := d.Stats(); got.Keys != 1 || got.KeyNetworks != 1 {
		t.Fatalf("an hour after the first key: Stats() = %+v, want 1 key left", got)
	}
	if n := d.Len(); n != 1 {
		t.Fatalf("Len() = %d, want 1", n)
	}
}

// TestCapsEvictTheLeastRecentlyUsed checks the caps: a full table forgets
// its least recently active subject, and a hot subject survives a flood
// (80 new networks a second, which fill the table in 2.5 s, longer than
// the second an entry may stay in place when it is touched).
func TestCapsEvictTheLeastRecentlyUsed(t *testing.T) {
	th := Thresholds{}
	th.State.MaxSubjects = 200
	th.State.MaxKeys = 50
	d := NewDetectors(th)
	var got []Alert
	for i := range 1000 {
		at := detAt(time.Duration(i) * 10 * time.Millisecond)
		// A flood of networks, each failing once, and a hot one failing
		// every 5th event: it stays the most recent and is never evicted.
		ip := fmt.Sprintf("10.%d.%d.1", i/256, i%256)
		if i%5 == 0 {
			ip = "203.0.113.5"
		}
		got = append(got, d.Observe(detDeny(at, "", "", ip, "invalid_key", ""))...)
		d.Observe(detAllow(at, fmt.Sprintf("key%d", i), "p", "10.0.0.1"))
	}
	s := d.Stats()
	if s.Networks != 200 || s.Keys != 50 {
		t.Errorf("Stats() = %+v, want 200 networks and 50 keys", s)
	}
	if want := uint64(1000 - 50 + 801 - 200); s.Displaced != want {
		t.Errorf("Displaced = %d, want %d", s.Displaced, want)
	}
	if len(got) != 1 || got[0].Subject != "net:203.0.113.0/24" {
		t.Errorf("alerts = %v, want one about the hot network", got)
	}
}

func TestThresholdsValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Thresholds)
		err  string // a substring; "" for valid
	}{
		{name: "Zero", edit: func(*Thresholds) {}},
		{name: "Defaults", edit: func(t *Thresholds) { *t = DefaultThresholds() }},
		{name: "NegativeDenials", edit: func(t *Thresholds) { t.Probing.Denials = -1 }, err: "probing.denials"},
		{name: "TooManyFailures", edit: func(t *Thresholds) { t.CredentialBurst.Failures = MaxBurstCount + 1 }, err: "credential_burst.failures"},
		{name: "LongWindow", edit: func(t *Thresholds) { t.Probing.Window = 25 * time.Hour }, err: "probing.window"},
		{name: "EmptyReason", edit: func(t *Thresholds) { t.CredentialBurst.Reasons = []string{""} }, err: "reasons"},
		{name: "FactorBelowOne", edit: func(t *Thresholds) { t.RateSpike.Factor = 0.5 }, err: "rate_spike.factor"},
		{name: "AlphaAboveOne", edit: func(t *Thresholds) { t.RateSpike.Alpha = 1.5 }, err: "rate_spike.alpha"},
		{name: "TinyAlpha", edit: func(t *Thresholds) { t.RateSpike.Alpha = 1e-6 }, err: "rate_spike.alpha"},
		{name: "NegativeLearning", edit: func(t *Thresholds) { t.NewNetwork.Learning = -time.Hour }, err: "new_network.learning"},
		{name: "UnknownRule", edit: func(t *Thresholds) { t.Disabled = []string{"probe"} }, err: `unknown rule "probe"`},
		{name: "BudgetIsNotADetector", edit: func(t *Thresholds) { t.Disabled = []string{RuleBudget} }, err: "unknown rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var th Thresholds
			tt.edit(&th)
			err := th.Validate()
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("Validate() = %v, want an error about %s", err, tt.err)
			}
			// NewDetectors takes anything.
			NewDetectors(th)
		})
	}
}

func TestThresholdsDefaults(t *testing.T) {
	got := NewDetectors(Thresholds{}).Thresholds()
	if diff := cmp.Diff(DefaultThresholds(), got); diff != "" {
		t.Errorf("thresholds of NewDetectors(Thresholds{}) (-want +got):\n%s", diff)
	}
	var odd Thresholds
	odd.Probing.Denials = 5000
	odd.RateSpike.Alpha = 7
	got = NewDetectors(odd).Thresholds()
	if got.Probing.Denials != MaxBurstCount || got.RateSpike.Alpha != DefaultThresholds().RateSpike.Alpha {
		t.Errorf("out of range: Denials %d, Alpha %v; want %d, the default", got.Probing.Denials, got.RateSpike.Alpha, MaxBurstCount)
	}
}
