// Package alerttest is the conformance suite for [anomaly.Store]. Every
// store adapter runs it from its tests with a one-line [Run] call, so the
// SQLite and PostgreSQL stores keep, filter, page and acknowledge alerts
// alike.
//
// # What it checks
//
//   - Insert assigns growing ids and keeps every field, times in UTC to the
//     microsecond; a new alert is not acknowledged, whatever it says;
//   - Touch counts, keeps the later LastAt, takes the latest figures, and
//     counts every one of many concurrent touches; an unknown id is
//     anomaly.ErrNotFound;
//   - List answers newest first, filters by id, rule, subject, principal,
//     team and ack state alone and combined, selects the groups active in
//     [Since, Until), and pages with Before and Limit;
//   - Ack records the first acknowledgement only, also when many race, and
//     an unknown id is anomaly.ErrNotFound.
//
// The package imports testing, so only tests may import it.
package alerttest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scopegate/scopegate/internal/anomaly"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call and close it when its test ends (with t.Cleanup); the suite's
// tests run in parallel, so open must be safe to call concurrently.
func Run(t *testing.T, open func(t *testing.T) anomaly.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Insert", insertTests()},
		{"Touch", touchTests()},
		{"List", listTests()},
		{"Ack", ackTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.run(t, open(t))
				})
			}
		})
	}
}

// test is one behaviour, checked against a fresh store.
type test struct {
	name string
	run  func(t *testing.T, s anomaly.Store)
}

// minute returns the n-th minute of the fixture, 2026-03-14T22:00:00Z plus
// n minutes.
func minute(n int) time.Time {
	return time.Date(2026, time.March, 14, 22, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
}

// The fixture's keys.
const (
	keyA = "KeyA000000000000" // alice, red
	keyC = "KeyC000000000000" // carol, blue
)

// fixture is five alert groups, in the order they are inserted (ids 1 to
// 5 in a new store, but the suite reads ids from Insert):
//
//	0 probing      key:A        alice red   minutes 0-2
//	1 credential   net:10.1/24  -           minutes 1-1
//	2 rate_spike   key:C        carol blue  minutes 3-9
//	3 probing      key:C        carol blue  minutes 5-5
//	4 budget       principal:a  alice red   minutes 8-20
func fixture() []anomaly.StoredAlert {
	return []anomaly.StoredAlert{
		{Rule: anomaly.RuleProbing, Subject: "key:" + keyA, Principal: "alice", Team: "red", Key: keyA,
			Figures: "denials=12 window=1m0s", FirstAt: minute(0), LastAt: minute(2), Count: 3},
		{Rule: anomaly.RuleCredentialBurst, Subject: "net:10.1.2.0/24",
			Figures: "invalid=40 window=1m0s", FirstAt: minute(1), LastAt: minute(1), Count: 1},
		{Rule: anomaly.RuleRateSpike, Subject: "key:" + keyC, Principal: "carol", Team: "blue", Key: keyC,
			Figures: "rpm=900 mean=12", FirstAt: minute(3), LastAt: minute(9), Count: 7},
		{Rule: anomaly.RuleProbing, Subject: "key:" + keyC, Principal: "carol", Team: "blue", Key: keyC,
			Figures: "denials=10 window=1m0s", FirstAt: minute(5), LastAt: minute(5), Count: 1},
		{Rule: anomaly.RuleBudget, Subject: "principal:alice", Principal: "alice", Team: "red",
			Figures: "kind=tokens_per_day threshold_pct=80", FirstAt: minute(8), LastAt: minute(20), Count: 2},
	}
}

// seed inserts the fixture and returns it with the ids the store gave.
func seed(t *testing.T, s anomaly.Store) []anomaly.StoredAlert {
	t.Helper()
	alerts := fixture()
	for i := range alerts {
		alerts[i].ID = mustInsert(t, s, alerts[i])
	}
	return alerts
}

func mustInsert(t *testing.T, s anomaly.Store, a anomaly.StoredAlert) int64 {
	t.Helper()
	id, err := s.Insert(t.Context(), a)
	if err != nil {
		t.Fatalf("Insert(%s %s) = %v", a.Rule, a.Subject, err)
	}
	return id
}

func mustList(t *testing.T, s anomaly.Store, f anomaly.AlertFilter) []anomaly.StoredAlert {
	t.Helper()
	got, err := s.List(t.Context(), f)
	if err != nil {
		t.Fatalf("List(%+v) = %v", f, err)
	}
	return got
}

// get returns alert id, failing the test if it is not found.
func get(t *testing.T, s anomaly.Store, id int64) anomaly.StoredAlert {
	t.Helper()
	got := mustList(t, s, anomaly.AlertFilter{ID: id})
	if len(got) != 1 {
		t.Fatalf("List(ID %d) = %d alerts, want 1", id, len(got))
	}
	return got[0]
}

// sameTime compares instants, whatever their location; wantUTC checks the
// location separately.
var sameTime = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

// wantAlerts checks that got are want, in order, with times in UTC.
func wantAlerts(t *testing.T, what string, got, want []anomaly.StoredAlert) {
	t.Helper()
	if d := cmp.Diff(want, got, sameTime, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
	for _, a := range got {
		for _, tm := range []time.Time{a.FirstAt, a.LastAt, a.AckedAt} {
			if !tm.IsZero() && tm.Location() != time.UTC {
				t.Errorf("%s: alert %d: time %v is in %v, want UTC", what, a.ID, tm, tm.Location())
			}
		}
	}
}

// ids returns the ids of the fixture alerts at the positions given.
func ids(alerts []anomaly.StoredAlert, positions ...int) []int64 {
	out := make([]int64, len(positions))
	for i, p := range positions {
		out[i] = alerts[p].ID
	}
	return out
}

func idsOf(alerts []anomaly.StoredAlert) []int64 {
	out := make([]int64, len(alerts))
	for i, a := range alerts {
		out[i] = a.ID
	}
	return out
}

func insertTests() []test {
	return []test{
		{"IDsGrow", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			for i := 1; i < len(alerts); i++ {
				if alerts[i].ID <= alerts[i-1].ID {
					t.Errorf("Insert ids %v do not grow", idsOf(alerts))
				}
			}
		}},
		{"KeepsFields", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			for _, a := range alerts {
				wantAlerts(t, "stored alert", []anomaly.StoredAlert{get(t, s, a.ID)}, []anomaly.StoredAlert{a})
			}
		}},
		{"TimesToTheMicrosecond", func(t *testing.T, s anomaly.Store) {
			ist := time.FixedZone("IST", 5*3600+1800)
			a := anomaly.StoredAlert{Rule: anomaly.RuleNewNetwork, Subject: "key:" + keyA, Principal: "alice", Key: keyA,
				FirstAt: minute(1).Add(1234567 * time.Nanosecond).In(ist), LastAt: minute(2).Add(999).In(ist), Count: 1}
			a.ID = mustInsert(t, s, a)
			want := a
			want.FirstAt, want.LastAt = minute(1).Add(1234*time.Microsecond), minute(2)
			wantAlerts(t, "stored alert", []anomaly.StoredAlert{get(t, s, a.ID)}, []anomaly.StoredAlert{want})
		}},
		{"NewIsNotAcked", func(t *testing.T, s anomaly.Store) {
			a := fixture()[0]
			a.AckedAt, a.AckedBy, a.Count = minute(3), "root", 0
			id := mustInsert(t, s, a)
			got := get(t, s, id)
			if got.Acked() || got.AckedBy != "" {
				t.Errorf("new alert acked at %v by %q, want not acked", got.AckedAt, got.AckedBy)
			}
			if got.Count != 1 {
				t.Errorf("alert inserted with Count 0 has Count %d, want 1", got.Count)
			}
		}},
	}
}

func touchTests() []test {
	return []test{
		{"Counts", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			a := alerts[1]
			if err := s.Touch(t.Context(), a.ID, minute(4), "invalid=55 window=1m0s"); err != nil {
				t.Fatalf("Touch = %v", err)
			}
			want := a
			want.Count, want.LastAt, want.Figures = 2, minute(4), "invalid=55 window=1m0s"
			wantAlerts(t, "touched alert", []anomaly.StoredAlert{get(t, s, a.ID)}, []anomaly.StoredAlert{want})
			// The others are untouched.
			wantAlerts(t, "other alert", []anomaly.StoredAlert{get(t, s, alerts[0].ID)}, alerts[:1])
		}},
		{"KeepsLaterLastAt", func(t *testing.T, s anomaly.Store) {
			a := seed(t, s)[2] // last at minute 9
			if err := s.Touch(t.Context(), a.ID, minute(4), "late=1"); err != nil {
				t.Fatalf("Touch = %v", err)
			}
			got := get(t, s, a.ID)
			if !got.LastAt.Equal(minute(9)) || got.Count != 8 || got.Figures != "late=1" {
				t.Errorf("after an earlier Touch: LastAt %v Count %d Figures %q, want %v 8 %q", got.LastAt, got.Count, got.Figures, minute(9), "late=1")
			}
		}},
		{"Concurrent", func(t *testing.T, s anomaly.Store) {
			a := seed(t, s)[0]
			const n = 40
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() { errs <- s.Touch(t.Context(), a.ID, minute(10+i), "n=1") })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("Touch = %v", err)
				}
			}
			got := get(t, s, a.ID)
			if got.Count != a.Count+n || !got.LastAt.Equal(minute(10+n-1)) {
				t.Errorf("after %d concurrent Touches: Count %d LastAt %v, want %d %v", n, got.Count, got.LastAt, a.Count+n, minute(10+n-1))
			}
		}},
		{"ErrNotFound", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			missing := alerts[len(alerts)-1].ID + 1000
			if err := s.Touch(t.Context(), missing, minute(1), "x=1"); !errors.Is(err, anomaly.ErrNotFound) {
				t.Errorf("Touch(unknown id) = %v, want anomaly.ErrNotFound", err)
			}
		}},
	}
}

func listTests() []test {
	return []test{
		{"NewestFirst", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			want := []anomaly.StoredAlert{alerts[4], alerts[3], alerts[2], alerts[1], alerts[0]}
			wantAlerts(t, "List(all)", mustList(t, s, anomaly.AlertFilter{}), want)
		}},
		{"Empty", func(t *testing.T, s anomaly.Store) {
			if got := mustList(t, s, anomaly.AlertFilter{}); len(got) != 0 {
				t.Errorf("List(empty store) = %d alerts, want none", len(got))
			}
		}},
		{"Filters", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			for _, tt := range []struct {
				name string
				f    anomaly.AlertFilter
				want []int
			}{
				{"ID", anomaly.AlertFilter{ID: alerts[2].ID}, []int{2}},
				{"UnknownID", anomaly.AlertFilter{ID: alerts[4].ID + 1000}, nil},
				{"Rule", anomaly.AlertFilter{Rule: anomaly.RuleProbing}, []int{3, 0}},
				{"Subject", anomaly.AlertFilter{Subject: "key:" + keyC}, []int{3, 2}},
				{"Principal", anomaly.AlertFilter{Principal: "alice"}, []int{4, 0}},
				{"Team", anomaly.AlertFilter{Team: "blue"}, []int{3, 2}},
				{"UnknownTeam", anomaly.AlertFilter{Team: "green"}, nil},
				{"RuleAndTeam", anomaly.AlertFilter{Rule: anomaly.RuleProbing, Team: "red"}, []int{0}},
				{"SubjectAndPrincipal", anomaly.AlertFilter{Subject: "key:" + keyC, Principal: "alice"}, nil},
				{"IDOutsideFilter", anomaly.AlertFilter{ID: alerts[2].ID, Team: "red"}, nil},
				// The groups active in [Since, Until): last at or after
				// Since, first before Until.
				{"Since", anomaly.AlertFilter{Since: minute(5)}, []int{4, 3, 2}},
				{"SinceInside", anomaly.AlertFilter{Since: minute(2)}, []int{4, 3, 2, 0}},
				{"Until", anomaly.AlertFilter{Until: minute(3)}, []int{1, 0}},
				{"SinceUntil", anomaly.AlertFilter{Since: minute(6), Until: minute(8)}, []int{2}},
				{"SinceUntilInOtherZone", anomaly.AlertFilter{Since: minute(6).In(time.FixedZone("X", -7*3600)), Until: minute(9)}, []int{4, 2}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					got := idsOf(mustList(t, s, tt.f))
					if d := cmp.Diff(ids(alerts, tt.want...), got, cmpopts.EquateEmpty()); d != "" {
						t.Errorf("List(%+v) ids (-want +got):\n%s", tt.f, d)
					}
				})
			}
		}},
		{"AckState", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			for _, p := range []int{1, 3} {
				if _, err := s.Ack(t.Context(), alerts[p].ID, "root", minute(30)); err != nil {
					t.Fatalf("Ack = %v", err)
				}
			}
			for _, tt := range []struct {
				state anomaly.AckState
				want  []int
			}{
				{anomaly.AckAny, []int{4, 3, 2, 1, 0}},
				{anomaly.AckYes, []int{3, 1}},
				{anomaly.AckNo, []int{4, 2, 0}},
			} {
				got := idsOf(mustList(t, s, anomaly.AlertFilter{Acked: tt.state}))
				if d := cmp.Diff(ids(alerts, tt.want...), got); d != "" {
					t.Errorf("List(Acked %q) ids (-want +got):\n%s", tt.state, d)
				}
			}
		}},
		{"Pages", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			var got []int64
			before := int64(0)
			for range len(alerts) {
				page := mustList(t, s, anomaly.AlertFilter{Before: before, Limit: 2})
				if len(page) > 2 {
					t.Fatalf("List(Limit 2) = %d alerts", len(page))
				}
				if len(page) == 0 {
					break
				}
				got = append(got, idsOf(page)...)
				before = page[len(page)-1].ID
			}
			if d := cmp.Diff(ids(alerts, 4, 3, 2, 1, 0), got); d != "" {
				t.Errorf("pages of 2 ids (-want +got):\n%s", d)
			}
			// A cursor combines with filters.
			red := idsOf(mustList(t, s, anomaly.AlertFilter{Team: "red", Before: alerts[4].ID}))
			if d := cmp.Diff(ids(alerts, 0), red); d != "" {
				t.Errorf("List(team red, before the newest) ids (-want +got):\n%s", d)
			}
		}},
		{"LimitZeroIsMaxPageSize", func(t *testing.T, s anomaly.Store) {
			for i := range anomaly.MaxPageSize + 2 {
				a := fixture()[1]
				a.FirstAt, a.LastAt = minute(i), minute(i)
				mustInsert(t, s, a)
			}
			if got := mustList(t, s, anomaly.AlertFilter{}); len(got) != anomaly.MaxPageSize {
				t.Errorf("List(Limit 0) = %d alerts, want %d", len(got), anomaly.MaxPageSize)
			}
			if got := mustList(t, s, anomaly.AlertFilter{Limit: anomaly.MaxPageSize + 1}); len(got) != anomaly.MaxPageSize+1 {
				t.Errorf("List(Limit %d) = %d alerts, want %d", anomaly.MaxPageSize+1, len(got), anomaly.MaxPageSize+1)
			}
		}},
	}
}

func ackTests() []test {
	return []test{
		{"Records", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			at := minute(30).Add(1500 * time.Nanosecond) // stored to the microsecond
			got, err := s.Ack(t.Context(), alerts[2].ID, "root/KeyR000000000000", at)
			if err != nil {
				t.Fatalf("Ack = %v", err)
			}
			want := alerts[2]
			want.AckedAt, want.AckedBy = minute(30).Add(time.Microsecond), "root/KeyR000000000000"
			wantAlerts(t, "Ack answer", []anomaly.StoredAlert{got}, []anomaly.StoredAlert{want})
			wantAlerts(t, "acked alert", []anomaly.StoredAlert{get(t, s, want.ID)}, []anomaly.StoredAlert{want})
			// The others are not acked.
			if n := len(mustList(t, s, anomaly.AlertFilter{Acked: anomaly.AckYes})); n != 1 {
				t.Errorf("after one Ack, %d alerts are acked", n)
			}
		}},
		{"FirstAckWins", func(t *testing.T, s anomaly.Store) {
			a := seed(t, s)[0]
			if _, err := s.Ack(t.Context(), a.ID, "bob", minute(30)); err != nil {
				t.Fatalf("Ack = %v", err)
			}
			got, err := s.Ack(t.Context(), a.ID, "carol", minute(31))
			if err != nil {
				t.Fatalf("second Ack = %v", err)
			}
			if got.AckedBy != "bob" || !got.AckedAt.Equal(minute(30)) {
				t.Errorf("second Ack answered acked at %v by %q, want the first: %v by bob", got.AckedAt, got.AckedBy, minute(30))
			}
		}},
		{"TouchKeepsAck", func(t *testing.T, s anomaly.Store) {
			a := seed(t, s)[0]
			if _, err := s.Ack(t.Context(), a.ID, "bob", minute(30)); err != nil {
				t.Fatalf("Ack = %v", err)
			}
			if err := s.Touch(t.Context(), a.ID, minute(31), "denials=30"); err != nil {
				t.Fatalf("Touch = %v", err)
			}
			if got := get(t, s, a.ID); got.AckedBy != "bob" || got.Count != a.Count+1 {
				t.Errorf("after Ack and Touch: acked by %q, Count %d; want bob, %d", got.AckedBy, got.Count, a.Count+1)
			}
		}},
		{"Concurrent", func(t *testing.T, s anomaly.Store) {
			a := seed(t, s)[1]
			const n = 10
			answers := make([]anomaly.StoredAlert, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					answers[i], errs[i] = s.Ack(t.Context(), a.ID, string(rune('a'+i)), minute(30+i))
				})
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("Ack = %v", errs[i])
				}
			}
			stored := get(t, s, a.ID)
			for i, got := range answers {
				if got.AckedBy != stored.AckedBy || !got.AckedAt.Equal(stored.AckedAt) {
					t.Errorf("Ack %d answered acked at %v by %q; stored is %v by %q", i, got.AckedAt, got.AckedBy, stored.AckedAt, stored.AckedBy)
				}
			}
		}},
		{"ErrNotFound", func(t *testing.T, s anomaly.Store) {
			alerts := seed(t, s)
			_, err := s.Ack(t.Context(), alerts[len(alerts)-1].ID+1000, "root", minute(30))
			if !errors.Is(err, anomaly.ErrNotFound) {
				t.Errorf("Ack(unknown id) = %v, want anomaly.ErrNotFound", err)
			}
		}},
	}
}
