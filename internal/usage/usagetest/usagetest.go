// Package usagetest is the conformance suite for [usage.Store]. Every store
// adapter runs it from its tests with a one-line [Run] call, so the SQLite
// and PostgreSQL stores answer the same reports, down to the order of rows
// and the last micro-dollar.
//
// # What it checks
//
//   - Add sums: across calls, within one call, and from many goroutines at
//     once, exactly; the last record sets a bucket's principal and team;
//   - an invalid record refuses its whole batch;
//   - grouping by each dimension and by combinations, in the order given,
//     with rows sorted by their group values (text in byte order, times
//     ascending, in UTC);
//   - filters alone and combined, and the half-open time range [From, To);
//   - day groups sum the hours of UTC days; no GroupBy answers totals;
//   - empty results, refused queries and the MaxRows cap;
//   - a usage.Recorder on the store, with calls and flushes racing, adds
//     every call exactly once.
//
// The package imports testing, so only tests may import it.
package usagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/usage"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call and close it when its test ends (with t.Cleanup); the suite's
// tests run in parallel, so open must be safe to call concurrently.
func Run(t *testing.T, open func(t *testing.T) usage.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Add", addTests()},
		{"GroupBy", groupTests()},
		{"Filter", filterTests()},
		{"Range", rangeTests()},
		{"Query", queryTests()},
		{"Recorder", recorderTests()},
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
	run  func(t *testing.T, s usage.Store)
}

// hour returns the start of the n-th hour of the fixture: hour 0 is
// 2026-03-14T22:00:00Z, so hours 0 and 1 fall on March 14 and hours 2 and
// 3 on March 15.
func hour(n int) time.Time {
	return time.Date(2026, time.March, 14, 22, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Hour)
}

func day(d int) time.Time { return time.Date(2026, time.March, d, 0, 0, 0, 0, time.UTC) }

// The fixture's keys, with their principals and teams.
const (
	keyA = "KeyA000000000000" // alice, red
	keyB = "KeyB000000000000" // bob, red
	keyC = "KeyC000000000000" // carol, blue
)

// fixture is six buckets over four hours, three keys, two features and
// two models, with counts that make every sum distinct. Hours are given
// inside the hour, so stores must truncate them.
func fixture() []usage.Record {
	inside := 59*time.Minute + 59*time.Second + 999*time.Millisecond
	return []usage.Record{
		{Hour: hour(0), Key: keyA, Principal: "alice", Team: "red", Feature: "chatbot", Model: "gpt-4o-mini",
			Requests: 1, InputTokens: 10, OutputTokens: 20, Cost: 1_000},
		{Hour: hour(0).Add(inside), Key: keyB, Principal: "bob", Team: "red", Feature: "chatbot", Model: "gpt-4o-mini",
			Requests: 2, InputTokens: 30, OutputTokens: 40, Cost: 2_000},
		{Hour: hour(1).Add(time.Minute), Key: keyA, Principal: "alice", Team: "red", Feature: "code-generation", Model: "claude-sonnet-4-5",
			Requests: 3, InputTokens: 50, OutputTokens: 60, Cost: 300_000},
		{Hour: hour(2), Key: keyC, Principal: "carol", Team: "blue", Feature: "chatbot", Model: "gpt-4o-mini",
			Requests: 4, InputTokens: 70, OutputTokens: 80, Cost: 4},
		// An instant given in another zone: 06:30+05:30 is hour 3, 01:00Z.
		{Hour: hour(3).In(time.FixedZone("IST", 5*3600+1800)), Key: keyA, Principal: "alice", Team: "red", Feature: "chatbot", Model: "gpt-4o-mini",
			Requests: 5, InputTokens: 90, OutputTokens: 100, Cost: 5_000_000},
		{Hour: hour(3).Add(inside), Key: keyC, Principal: "carol", Team: "blue", Feature: "code-generation", Model: "claude-sonnet-4-5",
			Requests: 6, InputTokens: 110, OutputTokens: 120, Cost: 6},
	}
}

// all is a query over every hour of the fixture.
func all(group ...usage.Dimension) usage.Query {
	return usage.Query{From: hour(0), To: hour(4), GroupBy: group}
}

// sums returns a row with only the sums set.
func sums(requests, in, out int64, cost int64) usage.Row {
	return usage.Row{Requests: requests, InputTokens: in, OutputTokens: out, Cost: apikey.Micros(cost)}
}

// with returns r with the group values set by fn.
func with(r usage.Row, fn func(*usage.Row)) usage.Row {
	fn(&r)
	return r
}

// mustAdd adds rs in one call or fails the test.
func mustAdd(t *testing.T, s usage.Store, rs ...usage.Record) {
	t.Helper()
	if err := s.Add(t.Context(), rs); err != nil {
		t.Fatalf("Add(%d records) = %v", len(rs), err)
	}
}

// mustQuery answers q or fails the test.
func mustQuery(t *testing.T, s usage.Store, q usage.Query) []usage.Row {
	t.Helper()
	rows, err := s.Query(t.Context(), q)
	if err != nil {
		t.Fatalf("Query(%+v) = %v", q, err)
	}
	return rows
}

// wantRows checks that q answers exactly want, in order, with times in
// UTC.
func wantRows(t *testing.T, s usage.Store, q usage.Query, want []usage.Row) {
	t.Helper()
	got := mustQuery(t, s, q)
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("Query(group by %v, key %q principal %q team %q feature %q model %q, [%s, %s)) (-want +got):\n%s",
			q.GroupBy, q.Key, q.Principal, q.Team, q.Feature, q.Model,
			q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), d)
	}
	for i, r := range got {
		for _, tm := range []time.Time{r.Day, r.Hour} {
			if !tm.IsZero() && tm.Location() != time.UTC {
				t.Errorf("row %d: time %v is in %v, want UTC", i, tm, tm.Location())
			}
		}
	}
}

// wantQueryError checks that err is a *usage.QueryError on field.
func wantQueryError(t *testing.T, err error, field string) {
	t.Helper()
	qe, ok := errors.AsType[*usage.QueryError](err)
	if !ok {
		t.Errorf("Query = %v, want a *usage.QueryError on %q", err, field)
		return
	}
	if qe.Field != field {
		t.Errorf("Query error on field %q (%v), want %q", qe.Field, qe, field)
	}
}
