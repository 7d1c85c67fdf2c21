package anomaly

import (
	"cmp"
	"container/heap"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
)

// The synthetic traces: a population of keys calling steadily, with
// normal jitter and the noise of real traffic, and attacks on top. Each
// source is a generator of records in time order, and a trace merges
// them, so a trace of hours of traffic costs no memory.

// traceStart is the start of every trace.
var traceStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// traceKey is a key of the population.
type traceKey struct {
	id, principal string
	perMin        float64  // mean calls a minute
	nets          []string // client networks, as address prefixes: "10.1.2.", "2001:db8:7:"
	truncated     bool     // its client addresses are recorded as networks
	sloppy        bool     // 2% of its calls are denied missing_scope
	batch         bool     // on for 15 minutes, off for 60, and so on
	phase         float64  // of its ±30% rate wave
	seed          uint64
}

// tracePopulation returns n keys of n/4 principals (4 keys each), calling
// 0.5 to 30 times a minute (log-uniform), from 1 to 3 networks of their
// principal, some of them IPv6; one principal in 3 has a sloppy key, and
// the last key is a batch job calling 150 times a minute when on. Key 6
// calls 12 times a minute: the rate-spike attack's victim.
func tracePopulation(seed uint64, n int) []traceKey {
	rng := rand.New(rand.NewPCG(seed, 1))
	keys := make([]traceKey, n)
	var nets []string
	for i := range keys {
		p := i / 4
		if i%4 == 0 {
			nets = nets[:0]
			for j := range 1 + rng.IntN(3) {
				if rng.IntN(5) == 0 {
					nets = append(nets, fmt.Sprintf("2001:db8:%x:", p*4+j))
				} else {
					nets = append(nets, fmt.Sprintf("10.%d.%d.", (p*4+j)/250, (p*4+j)%250))
				}
			}
		}
		keys[i] = traceKey{
			id:        fmt.Sprintf("key%04dxxxxxxxxx", i)[:16],
			principal: fmt.Sprintf("svc-%03d", p),
			perMin:    0.5 * math.Pow(60, rng.Float64()),
			nets:      slices.Clone(nets[:1+rng.IntN(len(nets))]),
			truncated: p%5 == 1,
			sloppy:    p%3 == 0 && i%4 == 1,
			phase:     rng.Float64() * 2 * math.Pi,
			seed:      rng.Uint64(),
		}
	}
	keys[n-1].batch, keys[n-1].perMin = true, 150
	keys[6].perMin = 12
	return keys
}

// clientIP returns an address of one of k's networks, as events record it.
func (k *traceKey) clientIP(rng *rand.Rand) string {
	net := k.nets[rng.IntN(len(k.nets))]
	v6 := net[len(net)-1] == ':'
	switch {
	case k.truncated && v6:
		return net + ":/48"
	case k.truncated:
		return net + "0/24"
	case v6:
		return fmt.Sprintf("%s%x::%x", net, rng.IntN(1<<16), 1+rng.IntN(1<<16-1))
	default:
		return fmt.Sprintf("%s%d", net, 1+rng.IntN(254))
	}
}

// rateAt returns k's rate, calls a minute, at t.
func (k *traceKey) rateAt(t time.Time) float64 {
	el := t.Sub(traceStart)
	if k.batch {
		if el%(75*time.Minute) >= 15*time.Minute {
			return 0
		}
		return k.perMin
	}
	return k.perMin * (1 + 0.3*math.Sin(2*math.Pi*el.Minutes()/40+k.phase))
}

// traffic returns k's records from start to end: its calls as a Poisson
// process of its rate, each an allowed authz event and, after a latency
// of 0.2 to 5 s, a usage event. Noise a gateway sees every day rides
// along: 2% of a sloppy key's calls are denied missing_scope, 5% of the
// calls of a busy key (over 20 a minute) are rate_limited, and now and
// then (0.1% of calls) its owner's typo sends 3 invalid keys.
func (k *traceKey) traffic(start, end time.Time) iter.Seq[audit.Record] {
	return func(yield func(audit.Record) bool) {
		rng := rand.New(rand.NewPCG(k.seed, 2))
		peak := k.perMin * 1.3
		var pending []audit.Record // usage events, in time order
		emit := func(r audit.Record) bool {
			r.Time = r.Time.Truncate(time.Millisecond)
			for len(pending) > 0 && !pending[0].Time.After(r.Time) {
				if !yield(pending[0]) {
					return false
				}
				pending = pending[1:]
			}
			return yield(r)
		}
		for t := start; ; {
			t = t.Add(time.Duration(rng.ExpFloat64() / peak * float64(time.Minute)))
			if !t.Before(end) {
				break
			}
			if rng.Float64()*peak >= k.rateAt(t) { // thinning
				continue
			}
			ip := k.clientIP(rng)
			a := audit.Authz{KeyID: k.id, Principal: k.principal, Feature: "chatbot", Scope: "chatbot:gpt-4o",
				Resource: "gpt-4o", ClientIP: ip, Decision: "allow", Reason: "allowed"}
			switch {
			case k.sloppy && rng.IntN(50) == 0:
				a.Decision, a.Reason, a.Scope, a.Status = "deny", "missing_scope", "code-generation", 403
			case k.perMin > 20 && rng.IntN(20) == 0:
				a.Decision, a.Reason, a.Status = "deny", "rate_limited", 429
			case rng.IntN(1000) == 0:
				for j := range 3 {
					typo := audit.Authz{KeyID: k.id[:15] + "Z", ClientIP: ip, Decision: "deny", Reason: "invalid_key", Status: 401}
					if !emit(audit.Record{Time: t.Add(time.Duration(j) * time.Second), Event: typo}) {
						return
					}
				}
				t = t.Add(3 * time.Second)
			}
			if !emit(audit.Record{Time: t, Event: a}) {
				return
			}
			if a.Decision != "allow" {
				continue
			}
			u := audit.Usage{KeyID: k.id, Status: 200, InputTokens: 200 + int64(rng.ExpFloat64()*600),
				OutputTokens: 50 + int64(rng.ExpFloat64()*300), UsageKnown: true, Outcome: "ok"}
			at := t.Add(200*time.Millisecond + time.Duration(rng.Float64()*float64(4800*time.Millisecond))).Truncate(time.Millisecond)
			i, _ := slices.BinarySearchFunc(pending, at, func(r audit.Record, at time.Time) int { return r.Time.Compare(at) })
			pending = slices.Insert(pending, i, audit.Record{Time: at, Event: u})
		}
		for _, r := range pending {
			if r.Time.Before(end) && !yield(r) {
				return
			}
		}
	}
}

// internetNoise returns what the internet sends a public gateway: a
// scanner's request every 3 s on average from anywhere, without a key
// (missing_key), with a malformed one, or with a made-up id.
func internetNoise(seed uint64, start, end time.Time) iter.Seq[audit.Record] {
	return func(yield func(audit.Record) bool) {
		rng := rand.New(rand.NewPCG(seed, 3))
		for t := start; ; {
			t = t.Add(time.Duration(rng.ExpFloat64() * float64(3*time.Second))).Truncate(time.Millisecond)
			if !t.Before(end) {
				return
			}
			ip := fmt.Sprintf("%d.%d.%d.%d", 100+rng.IntN(100), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
			a := audit.Authz{ClientIP: ip, Decision: "deny", Status: 401}
			switch rng.IntN(3) {
			case 0:
				a.Reason = "missing_key"
			case 1:
				a.Reason = "malformed_key"
			default:
				a.Reason, a.KeyID = "invalid_key", fmt.Sprintf("%016x", rng.Uint64())
			}
			if !yield(audit.Record{Time: t, Event: a}) {
				return
			}
		}
	}
}

// expiredCron returns the calls of a forgotten cron job whose key has
// expired: one every 5 minutes, from its owner's network.
func expiredCron(ip string, start, end time.Time) iter.Seq[audit.Record] {
	return func(yield func(audit.Record) bool) {
		for t := start.Add(17 * time.Second); t.Before(end); t = t.Add(5 * time.Minute) {
			a := audit.Authz{KeyID: "expiredcronkey01", ClientIP: ip, Decision: "deny", Reason: "key_expired", Status: 401}
			if !yield(audit.Record{Time: t, Event: a}) {
				return
			}
		}
	}
}

// steadyTraffic returns the sources of a population's day-to-day traffic
// from start to end.
func steadyTraffic(seed uint64, keys []traceKey, start, end time.Time) []iter.Seq[audit.Record] {
	srcs := []iter.Seq[audit.Record]{internetNoise(seed, start, end), expiredCron("10.0.0.77", start, end)}
	for i := range keys {
		srcs = append(srcs, keys[i].traffic(start, end))
	}
	return srcs
}

// mergeTraces merges sources, each in time order, into one trace in time
// order (ties by source), numbering the records.
func mergeTraces(srcs ...iter.Seq[audit.Record]) iter.Seq[audit.Record] {
	return func(yield func(audit.Record) bool) {
		var h traceHeap
		for i, s := range srcs {
			next, stop := iter.Pull(s)
			defer stop()
			if r, ok := next(); ok {
				h = append(h, traceHead{r, i, next})
			}
		}
		heap.Init(&h)
		for idx := uint64(0); len(h) > 0; idx++ {
			r := h[0].rec
			r.Index = idx
			if !yield(r) {
				return
			}
			if nr, ok := h[0].next(); ok {
				h[0].rec = nr
				heap.Fix(&h, 0)
			} else {
				heap.Pop(&h)
			}
		}
	}
}

type traceHead struct {
	rec  audit.Record
	src  int
	next func() (audit.Record, bool)
}

type traceHeap []traceHead

func (h traceHeap) Len() int { return len(h) }
func (h traceHeap) Less(i, j int) bool {
	if c := h[i].rec.Time.Compare(h[j].rec.Time); c != 0 {
		return c < 0
	}
	return h[i].src < h[j].src
}
func (h traceHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *traceHeap) Push(x any)   { *h = append(*h, x.(traceHead)) }
func (h *traceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// sortRecords sorts records by time, stably, and numbers them.
func sortRecords(recs []audit.Record) {
	slices.SortStableFunc(recs, func(a, b audit.Record) int { return a.Time.Compare(b.Time) })
	for i := range recs {
		recs[i].Index = uint64(i)
	}
}

// recordsOf returns a source of recs, sorted.
func recordsOf(recs []audit.Record) iter.Seq[audit.Record] {
	sortRecords(recs)
	return slices.Values(recs)
}

// replayTrace feeds a trace to d and returns its alerts and how many
// records it had.
func replayTrace(d *Detectors, trace iter.Seq[audit.Record]) (alerts []Alert, n int) {
	for r := range trace {
		alerts = append(alerts, d.Observe(r)...)
		n++
	}
	return alerts, n
}

// TestSteadyTrafficRaisesNoAlert replays hours of ordinary traffic: no
// rule may fire. The long trace runs past the learning period, so the
// new-network rule is judging in its last 2 hours.
func TestSteadyTrafficRaisesNoAlert(t *testing.T) {
	tests := []struct {
		name string
		keys int
		dur  time.Duration
	}{
		{name: "ManyKeys2Hours", keys: 400, dur: 2 * time.Hour},
		{name: "FewKeys26Hours", keys: 24, dur: 26 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.dur > 2*time.Hour {
				t.Skip("long trace; skipped under -short")
			}
			seeds := []uint64{1, 2, 3}
			if detRaceEnabled {
				seeds = seeds[:1] // the race detector makes each trace 10 times slower
			}
			for _, seed := range seeds {
				keys := tracePopulation(seed, tt.keys)
				d := NewDetectors(Thresholds{})
				alerts, n := replayTrace(d, mergeTraces(steadyTraffic(seed, keys, traceStart, traceStart.Add(tt.dur))...))
				if len(alerts) > 0 {
					t.Errorf("seed %d: %d records raised %d alerts, want none; the first: %+v", seed, n, len(alerts), alerts[0])
				}
				t.Logf("seed %d: %d records, state %+v", seed, n, d.Stats())
			}
		})
	}
}

// traceAttack is an attack on a population, from start on.
type traceAttack struct {
	name    string
	long    bool // needs a trace past the learning period
	records func(keys []traceKey, start time.Time) []audit.Record
	want    func(keys []traceKey) Alert // At is ignored
	figures map[string]string
}

func attackEvery(n int, start time.Time, step time.Duration, mk func(i int) audit.Authz) []audit.Record {
	recs := make([]audit.Record, n)
	for i := range n {
		recs[i] = audit.Record{Time: start.Add(time.Duration(i) * step), Event: mk(i)}
	}
	return recs
}

var traceAttacks = []traceAttack{
	{
		name: "ProbingByAKey",
		// Key 5 asks for a scope it lacks every 3 s for 2 minutes, across
		// 6 models.
		records: func(keys []traceKey, start time.Time) []audit.Record {
			k := keys[5]
			return attackEvery(40, start, 3*time.Second, func(i int) audit.Authz {
				return audit.Authz{KeyID: k.id, Principal: k.principal, Feature: "data-retrieval",
					Scope: fmt.Sprintf("data-retrieval:hr-docs-%d", i%6), ClientIP: k.nets[0] + "9",
					Decision: "deny", Reason: "missing_scope", Status: 403}
			})
		},
		want: func(keys []traceKey) Alert {
			return Alert{Rule: RuleProbing, Subject: "key:" + keys[5].id, Principal: "svc-001", Key: keys[5].Key()}
		},
		figures: map[string]string{"denials": "10", "window": "1m0s", "span": "27s", "scopes": "6"},
	},
	{
		name: "ProbingSpreadAcrossAPrincipalsKeys",
		// Each of principal 2's 4 keys is denied every 20 s (3 a minute,
		// under the key threshold): 12 a minute for the principal.
		records: func(keys []traceKey, start time.Time) []audit.Record {
			return attackEvery(40, start, 5*time.Second, func(i int) audit.Authz {
				k := keys[8+i%4]
				return audit.Authz{KeyID: k.id, Principal: k.principal, Feature: "code-generation",
					Scope: "code-generation:claude-opus-4", ClientIP: "198.51.100.23",
					Decision: "deny", Reason: "missing_scope", Status: 403}
			})
		},
		want: func(keys []traceKey) Alert {
			return Alert{Rule: RuleProbing, Subject: "principal:svc-002", Principal: "svc-002"}
		},
		figures: map[string]string{"denials": "10", "span": "45s", "keys": "4", "scope": "code-generation:claude-opus-4"},
	},
	{
		name: "CredentialStuffingFromOne24",
		// 30 a minute for 3 minutes from hosts of 203.0.113.0/24: made-up
		// ids, and one in 4 malformed.
		records: func(_ []traceKey, start time.Time) []audit.Record {
			return attackEvery(90, start, 2*time.Second, func(i int) audit.Authz {
				a := audit.Authz{KeyID: fmt.Sprintf("stuffed%09d", i), ClientIP: fmt.Sprintf("203.0.113.%d", 10+i%40),
					Decision: "deny", Reason: "invalid_key", Status: 401}
				if i%4 == 3 {
					a.KeyID, a.Reason = "", "malformed_key"
				}
				return a
			})
		},
		want: func([]traceKey) Alert { return Alert{Rule: RuleCredentialBurst, Subject: "net:203.0.113.0/24"} },
		figures: map[string]string{"failures": "20", "window": "1m0s", "span": "38s", "keys": "15",
			"invalid_key": "15", "malformed_key": "5"},
	},
	{
		name: "LeakedRevokedKeyFromOneIP",
		// A revoked key, still in someone's script: every 2.5 s for 10
		// minutes from one address.
		records: func(_ []traceKey, start time.Time) []audit.Record {
			return attackEvery(240, start, 2500*time.Millisecond, func(int) audit.Authz {
				return audit.Authz{KeyID: "revokedleakedkey", ClientIP: "198.51.100.7",
					Decision: "deny", Reason: "key_revoked", Status: 401}
			})
		},
		want: func([]traceKey) Alert { return Alert{Rule: RuleCredentialBurst, Subject: "net:198.51.100.0/24"} },
		figures: map[string]string{"failures": "20", "keys": "1", "key_revoked": "20", "key": "revokedleakedkey",
			"span": "47.5s"},
	},
	{
		name: "RateSpike20x",
		// Key 6 calls 20 times its rate for 5 minutes, from its own
		// networks (a runaway loop, or a stolen key behind a proxy).
		records: func(keys []traceKey, start time.Time) []audit.Record {
			k := keys[6]
			perMin := 19 * k.perMin
			n := int(5 * perMin)
			rng := rand.New(rand.NewPCG(9, 9))
			step := time.Duration(float64(time.Minute) / perMin)
			var recs []audit.Record
			for i := range n {
				at := start.Add(time.Duration(i) * step)
				recs = append(recs,
					audit.Record{Time: at, Event: audit.Authz{KeyID: k.id, Principal: k.principal, Feature: "chatbot",
						Scope: "chatbot:gpt-4o", Resource: "gpt-4o", ClientIP: k.clientIP(rng), Decision: "allow", Reason: "allowed"}},
					audit.Record{Time: at.Add(time.Second), Event: audit.Usage{KeyID: k.id, InputTokens: 500, OutputTokens: 200}})
			}
			return recs
		},
		want: func(keys []traceKey) Alert {
			return Alert{Rule: RuleRateSpike, Subject: "key:" + keys[6].id, Principal: "svc-001", Key: keys[6].Key()}
		},
		figures: map[string]string{"factor": "5.0"},
	},
	{
		name: "NewNetworkAfterLearning",
		long: true,
		// Key 7, a day into its life, is used from a network it never
		// used: twice a minute for 10 minutes.
		records: func(keys []traceKey, start time.Time) []audit.Record {
			k := keys[7]
			return attackEvery(20, start, 30*time.Second, func(i int) audit.Authz {
				return audit.Authz{KeyID: k.id, Principal: k.principal, Feature: "chatbot", Scope: "chatbot:gpt-4o",
					Resource: "gpt-4o", ClientIP: fmt.Sprintf("192.0.2.%d", 1+i%3), Decision: "allow", Reason: "allowed"}
			})
		},
		want: func(keys []traceKey) Alert {
			return Alert{Rule: RuleNewNetwork, Subject: "key:" + keys[7].id, Principal: "svc-001", Key: keys[7].Key()}
		},
		figures: map[string]string{"network": "192.0.2.0/24", "learning": "24h0m0s"},
	},
}

// Key returns k's id as an apikey.ID, for Alert.Key.
func (k traceKey) Key() apikey.ID { return apikey.ID(k.id) }

// TestAttacksRaiseTheirAlert replays each attack on top of steady traffic:
// it must raise exactly its alert, once, with the right subject and
// figures, within 60 s of its start.
func TestAttacksRaiseTheirAlert(t *testing.T) {
	for _, at := range traceAttacks {
		t.Run(at.name, func(t *testing.T) {
			if testing.Short() && at.long {
				t.Skip("long trace; skipped under -short")
			}
			const seed = 7
			keys := tracePopulation(seed, 40)
			start := traceStart.Add(70*time.Minute + 13*time.Second + 250*time.Millisecond)
			end := traceStart.Add(90 * time.Minute)
			if at.long {
				start, end = traceStart.Add(25*time.Hour+13*time.Second), traceStart.Add(25*time.Hour+20*time.Minute)
			}
			srcs := append(steadyTraffic(seed, keys, traceStart, end), recordsOf(at.records(keys, start)))
			d := NewDetectors(Thresholds{})
			alerts, n := replayTrace(d, mergeTraces(srcs...))
			if len(alerts) != 1 {
				t.Fatalf("%d records raised %d alerts, want 1:\n%+v", n, len(alerts), alerts)
			}
			got := alerts[0]
			if diff := gocmp.Diff(at.want(keys), got, cmpopts.IgnoreFields(Alert{}, "Figures", "At")); diff != "" {
				t.Errorf("alert (-want +got):\n%s", diff)
			}
			if delay := got.At.Sub(start); delay < 0 || delay > time.Minute {
				t.Errorf("alert at %v, %v after the attack started; want within 1m0s", got.At, delay)
			}
			checkFigures(t, got.Figures, at.figures)
			t.Logf("%d records; alert %v after the start: %s %s %q", n, got.At.Sub(start), got.Rule, got.Subject, got.Figures)
		})
	}
}

// TestTraceIsDeterministic checks that a trace replays to the same alerts.
func TestTraceIsDeterministic(t *testing.T) {
	run := func() []Alert {
		keys := tracePopulation(11, 40)
		end := traceStart.Add(30 * time.Minute)
		srcs := steadyTraffic(11, keys, traceStart, end)
		for _, a := range traceAttacks[:5] {
			srcs = append(srcs, recordsOf(a.records(keys, traceStart.Add(20*time.Minute))))
		}
		alerts, _ := replayTrace(NewDetectors(Thresholds{}), mergeTraces(srcs...))
		slices.SortFunc(alerts, func(a, b Alert) int { return cmp.Compare(a.Subject, b.Subject) })
		return alerts
	}
	a, b := run(), run()
	if len(a) < 4 {
		t.Fatalf("%d alerts, want at least 4: %+v", len(a), a)
	}
	if diff := gocmp.Diff(a, b); diff != "" {
		t.Errorf("two replays differ (-first +second):\n%s", diff)
	}
}
