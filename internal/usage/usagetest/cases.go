package usagetest

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/usage"
)

// addTests check that Add sums exactly.
func addTests() []test {
	return []test{
		{"SumsAcrossAndWithinAdds", func(t *testing.T, s usage.Store) {
			r := fixture()[0]
			mustAdd(t, s, r)
			mustAdd(t, s, r, r) // one bucket twice in one batch
			wantRows(t, s, all(usage.ByKey), []usage.Row{
				with(sums(3, 30, 60, 3_000), func(r *usage.Row) { r.Key = keyA }),
			})
		}},
		{"LastAddSetsPrincipalAndTeam", func(t *testing.T, s usage.Store) {
			r := fixture()[0]
			mustAdd(t, s, r)
			r.Team = "blue" // alice moved team during the hour
			mustAdd(t, s, r)
			wantRows(t, s, all(usage.ByKey, usage.ByPrincipal, usage.ByTeam), []usage.Row{
				with(sums(2, 20, 40, 2_000), func(r *usage.Row) { r.Key, r.Principal, r.Team = keyA, "alice", "blue" }),
			})
		}},
		{"EmptyBatch", func(t *testing.T, s usage.Store) {
			mustAdd(t, s)
			wantRows(t, s, all(), nil)
		}},
		{"LargeCounts", func(t *testing.T, s usage.Store) {
			// All 64 bits of every count are kept.
			big := usage.Record{Hour: hour(0), Key: keyA, Principal: "alice", Requests: math.MaxInt64 - 1,
				InputTokens: math.MaxInt64 - 2, OutputTokens: math.MaxInt64 - 3, Cost: math.MaxInt64 - 4}
			mustAdd(t, s, big)
			mustAdd(t, s, usage.Record{Hour: hour(0), Key: keyA, Principal: "alice", Requests: 1, InputTokens: 2, OutputTokens: 3, Cost: 4})
			wantRows(t, s, all(), []usage.Row{sums(math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64)})
		}},
		{"OverflowFails", func(t *testing.T, s usage.Store) {
			// A sum past 64 bits is an error, never a wrapped or rounded
			// count, and the batch changes nothing.
			full := usage.Record{Hour: hour(0), Key: keyA, Principal: "alice", Cost: math.MaxInt64}
			mustAdd(t, s, full)
			other := usage.Record{Hour: hour(0), Key: keyB, Principal: "bob", Requests: 1}
			if err := s.Add(t.Context(), []usage.Record{other, {Hour: hour(0), Key: keyA, Principal: "alice", Cost: 1}}); err == nil {
				t.Error("Add past the largest cost = nil, want an error")
			}
			wantRows(t, s, all(usage.ByKey), []usage.Row{
				with(sums(0, 0, 0, math.MaxInt64), func(r *usage.Row) { r.Key = keyA }),
			})
		}},
		{"InvalidRecordRefusesBatch", func(t *testing.T, s usage.Store) {
			good := fixture()[0]
			for _, bad := range []usage.Record{
				{Hour: hour(0), Principal: "alice", Requests: 1},                   // no key
				{Key: keyA, Principal: "alice", Requests: 1},                       // no hour
				{Hour: hour(0), Key: keyA, Principal: "alice", Requests: -1},       // negative
				{Hour: hour(0), Key: keyA, Principal: "alice", Cost: -1},           // negative cost
				{Hour: hour(0), Key: keyA, Principal: "alice", OutputTokens: -100}, // negative tokens
			} {
				if err := s.Add(t.Context(), []usage.Record{good, bad}); err == nil {
					t.Errorf("Add(%+v) = nil, want an error", bad)
				}
			}
			wantRows(t, s, all(), nil)
		}},
		{"Concurrent", testConcurrentAdds},
	}
}

// testConcurrentAdds adds from several goroutines at once, each to a bucket
// all of them share and to one of its own: every count must arrive.
func testConcurrentAdds(t *testing.T, s usage.Store) {
	const goroutines, adds = 8, 25
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			own := apikey.ID(fmt.Sprintf("Own%013d", g))
			for range adds {
				err := s.Add(t.Context(), []usage.Record{
					{Hour: hour(0), Key: keyA, Principal: "alice", Feature: "chatbot", Model: "gpt-4o-mini",
						Requests: 1, InputTokens: 3, OutputTokens: 5, Cost: 7},
					{Hour: hour(0), Key: own, Principal: "bob", Feature: "chatbot", Model: "gpt-4o-mini",
						Requests: 1, InputTokens: 1, OutputTokens: 1, Cost: 1},
				})
				if err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Add: %v", err)
	}
	want := []usage.Row{with(sums(goroutines*adds, 3*goroutines*adds, 5*goroutines*adds, 7*goroutines*adds),
		func(r *usage.Row) { r.Key = keyA })}
	for g := range goroutines {
		want = append(want, with(sums(adds, adds, adds, adds),
			func(r *usage.Row) { r.Key = apikey.ID(fmt.Sprintf("Own%013d", g)) }))
	}
	wantRows(t, s, all(usage.ByKey), want)
}

// groupTests check grouping, one dimension and several, on the fixture.
func groupTests() []test {
	key := func(k apikey.ID) func(*usage.Row) { return func(r *usage.Row) { r.Key = k } }
	tests := []struct {
		name  string
		group []usage.Dimension
		want  []usage.Row
	}{
		{"Totals", nil, []usage.Row{sums(21, 360, 420, 5_303_010)}},
		{"Key", []usage.Dimension{usage.ByKey}, []usage.Row{
			with(sums(9, 150, 180, 5_301_000), key(keyA)),
			with(sums(2, 30, 40, 2_000), key(keyB)),
			with(sums(10, 180, 200, 10), key(keyC)),
		}},
		{"Principal", []usage.Dimension{usage.ByPrincipal}, []usage.Row{
			with(sums(9, 150, 180, 5_301_000), func(r *usage.Row) { r.Principal = "alice" }),
			with(sums(2, 30, 40, 2_000), func(r *usage.Row) { r.Principal = "bob" }),
			with(sums(10, 180, 200, 10), func(r *usage.Row) { r.Principal = "carol" }),
		}},
		{"Team", []usage.Dimension{usage.ByTeam}, []usage.Row{
			with(sums(10, 180, 200, 10), func(r *usage.Row) { r.Team = "blue" }),
			with(sums(11, 180, 220, 5_303_000), func(r *usage.Row) { r.Team = "red" }),
		}},
		{"Feature", []usage.Dimension{usage.ByFeature}, []usage.Row{
			with(sums(12, 200, 240, 5_003_004), func(r *usage.Row) { r.Feature = "chatbot" }),
			with(sums(9, 160, 180, 300_006), func(r *usage.Row) { r.Feature = "code-generation" }),
		}},
		{"Model", []usage.Dimension{usage.ByModel}, []usage.Row{
			with(sums(9, 160, 180, 300_006), func(r *usage.Row) { r.Model = "claude-sonnet-4-5" }),
			with(sums(12, 200, 240, 5_003_004), func(r *usage.Row) { r.Model = "gpt-4o-mini" }),
		}},
		{"Day", []usage.Dimension{usage.ByDay}, []usage.Row{
			with(sums(6, 90, 120, 303_000), func(r *usage.Row) { r.Day = day(14) }),
			with(sums(15, 270, 300, 5_000_010), func(r *usage.Row) { r.Day = day(15) }),
		}},
		{"Hour", []usage.Dimension{usage.ByHour}, []usage.Row{
			with(sums(3, 40, 60, 3_000), func(r *usage.Row) { r.Hour = hour(0) }),
			with(sums(3, 50, 60, 300_000), func(r *usage.Row) { r.Hour = hour(1) }),
			with(sums(4, 70, 80, 4), func(r *usage.Row) { r.Hour = hour(2) }),
			with(sums(11, 200, 220, 5_000_006), func(r *usage.Row) { r.Hour = hour(3) }),
		}},
		{"KeyModel", []usage.Dimension{usage.ByKey, usage.ByModel}, []usage.Row{
			with(sums(3, 50, 60, 300_000), func(r *usage.Row) { r.Key, r.Model = keyA, "claude-sonnet-4-5" }),
			with(sums(6, 100, 120, 5_001_000), func(r *usage.Row) { r.Key, r.Model = keyA, "gpt-4o-mini" }),
			with(sums(2, 30, 40, 2_000), func(r *usage.Row) { r.Key, r.Model = keyB, "gpt-4o-mini" }),
			with(sums(6, 110, 120, 6), func(r *usage.Row) { r.Key, r.Model = keyC, "claude-sonnet-4-5" }),
			with(sums(4, 70, 80, 4), func(r *usage.Row) { r.Key, r.Model = keyC, "gpt-4o-mini" }),
		}},
		// The order of GroupBy is the order rows sort in.
		{"ModelKey", []usage.Dimension{usage.ByModel, usage.ByKey}, []usage.Row{
			with(sums(3, 50, 60, 300_000), func(r *usage.Row) { r.Key, r.Model = keyA, "claude-sonnet-4-5" }),
			with(sums(6, 110, 120, 6), func(r *usage.Row) { r.Key, r.Model = keyC, "claude-sonnet-4-5" }),
			with(sums(6, 100, 120, 5_001_000), func(r *usage.Row) { r.Key, r.Model = keyA, "gpt-4o-mini" }),
			with(sums(2, 30, 40, 2_000), func(r *usage.Row) { r.Key, r.Model = keyB, "gpt-4o-mini" }),
			with(sums(4, 70, 80, 4), func(r *usage.Row) { r.Key, r.Model = keyC, "gpt-4o-mini" }),
		}},
		{"TeamDay", []usage.Dimension{usage.ByTeam, usage.ByDay}, []usage.Row{
			with(sums(10, 180, 200, 10), func(r *usage.Row) { r.Team, r.Day = "blue", day(15) }),
			with(sums(6, 90, 120, 303_000), func(r *usage.Row) { r.Team, r.Day = "red", day(14) }),
			with(sums(5, 90, 100, 5_000_000), func(r *usage.Row) { r.Team, r.Day = "red", day(15) }),
		}},
		{"DayFeaturePrincipal", []usage.Dimension{usage.ByDay, usage.ByFeature, usage.ByPrincipal}, []usage.Row{
			with(sums(1, 10, 20, 1_000), func(r *usage.Row) { r.Day, r.Feature, r.Principal = day(14), "chatbot", "alice" }),
			with(sums(2, 30, 40, 2_000), func(r *usage.Row) { r.Day, r.Feature, r.Principal = day(14), "chatbot", "bob" }),
			with(sums(3, 50, 60, 300_000), func(r *usage.Row) { r.Day, r.Feature, r.Principal = day(14), "code-generation", "alice" }),
			with(sums(5, 90, 100, 5_000_000), func(r *usage.Row) { r.Day, r.Feature, r.Principal = day(15), "chatbot", "alice" }),
			with(sums(4, 70, 80, 4), func(r *usage.Row) { r.Day, r.Feature, r.Principal = day(15), "chatbot", "carol" }),
			with(sums(6, 110, 120, 6), func(r *usage.Row) { r.Day, r.Feature, r.Principal = day(15), "code-generation", "carol" }),
		}},
		{"HourDay", []usage.Dimension{usage.ByHour, usage.ByDay}, []usage.Row{
			with(sums(3, 40, 60, 3_000), func(r *usage.Row) { r.Hour, r.Day = hour(0), day(14) }),
			with(sums(3, 50, 60, 300_000), func(r *usage.Row) { r.Hour, r.Day = hour(1), day(14) }),
			with(sums(4, 70, 80, 4), func(r *usage.Row) { r.Hour, r.Day = hour(2), day(15) }),
			with(sums(11, 200, 220, 5_000_006), func(r *usage.Row) { r.Hour, r.Day = hour(3), day(15) }),
		}},
	}
	out := make([]test, 0, len(tests)+1)
	for _, tt := range tests {
		out = append(out, test{tt.name, func(t *testing.T, s usage.Store) {
			mustAdd(t, s, fixture()...)
			wantRows(t, s, all(tt.group...), tt.want)
		}})
	}
	out = append(out, test{"ByteOrder", func(t *testing.T, s usage.Store) {
		// Text sorts by bytes, as Go compares strings, whatever the
		// database's locale: upper case before lower, "é" after "z".
		for _, k := range []apikey.ID{"b", "é", "a", "B", "z"} {
			mustAdd(t, s, usage.Record{Hour: hour(0), Key: k, Principal: "p", Requests: 1})
		}
		var want []usage.Row
		for _, k := range []apikey.ID{"B", "a", "b", "z", "é"} {
			want = append(want, with(sums(1, 0, 0, 0), key(k)))
		}
		wantRows(t, s, all(usage.ByKey), want)
	}})
	return out
}

// filterTests check the exact-match filters, alone and together.
func filterTests() []test {
	tests := []struct {
		name string
		q    usage.Query
		want []usage.Row
	}{
		{"Key", usage.Query{Key: keyA}, []usage.Row{sums(9, 150, 180, 5_301_000)}},
		{"Principal", usage.Query{Principal: "carol", GroupBy: []usage.Dimension{usage.ByFeature}}, []usage.Row{
			with(sums(4, 70, 80, 4), func(r *usage.Row) { r.Feature = "chatbot" }),
			with(sums(6, 110, 120, 6), func(r *usage.Row) { r.Feature = "code-generation" }),
		}},
		{"TeamAndModel", usage.Query{Team: "red", Model: "gpt-4o-mini", GroupBy: []usage.Dimension{usage.ByKey}}, []usage.Row{
			with(sums(6, 100, 120, 5_001_000), func(r *usage.Row) { r.Key = keyA }),
			with(sums(2, 30, 40, 2_000), func(r *usage.Row) { r.Key = keyB }),
		}},
		{"Feature", usage.Query{Feature: "code-generation", GroupBy: []usage.Dimension{usage.ByHour}}, []usage.Row{
			with(sums(3, 50, 60, 300_000), func(r *usage.Row) { r.Hour = hour(1) }),
			with(sums(6, 110, 120, 6), func(r *usage.Row) { r.Hour = hour(3) }),
		}},
		{"AllFive", usage.Query{Key: keyC, Principal: "carol", Team: "blue", Feature: "chatbot", Model: "gpt-4o-mini"},
			[]usage.Row{sums(4, 70, 80, 4)}},
		{"NoMatch", usage.Query{Key: "Nobody0000000000", GroupBy: []usage.Dimension{usage.ByKey}}, nil},
		{"ConflictingFilters", usage.Query{Key: keyA, Principal: "bob"}, nil},
		{"CaseMatters", usage.Query{Team: "Red"}, nil},
	}
	out := make([]test, 0, len(tests))
	for _, tt := range tests {
		out = append(out, test{tt.name, func(t *testing.T, s usage.Store) {
			mustAdd(t, s, fixture()...)
			q := tt.q
			q.From, q.To = hour(0), hour(4)
			wantRows(t, s, q, tt.want)
		}})
	}
	return out
}

// rangeTests check the half-open range [From, To).
func rangeTests() []test {
	tests := []struct {
		name     string
		from, to time.Time
		group    []usage.Dimension
		want     []usage.Row
	}{
		{"FromIncludedToExcluded", hour(1), hour(3), []usage.Dimension{usage.ByHour}, []usage.Row{
			with(sums(3, 50, 60, 300_000), func(r *usage.Row) { r.Hour = hour(1) }),
			with(sums(4, 70, 80, 4), func(r *usage.Row) { r.Hour = hour(2) }),
		}},
		{"OneHour", hour(3), hour(4), []usage.Dimension{usage.ByKey}, []usage.Row{
			with(sums(5, 90, 100, 5_000_000), func(r *usage.Row) { r.Key = keyA }),
			with(sums(6, 110, 120, 6), func(r *usage.Row) { r.Key = keyC }),
		}},
		// Days are summed from the hours inside the range only.
		{"PartialDays", hour(1), hour(3), []usage.Dimension{usage.ByDay}, []usage.Row{
			with(sums(3, 50, 60, 300_000), func(r *usage.Row) { r.Day = day(14) }),
			with(sums(4, 70, 80, 4), func(r *usage.Row) { r.Day = day(15) }),
		}},
		{"Before", hour(-48), hour(0), []usage.Dimension{usage.ByKey}, nil},
		{"After", hour(4), hour(400), nil, nil},
		{"Longest", hour(4).Add(-usage.MaxRange), hour(4), nil, []usage.Row{sums(21, 360, 420, 5_303_010)}},
	}
	out := make([]test, 0, len(tests))
	for _, tt := range tests {
		out = append(out, test{tt.name, func(t *testing.T, s usage.Store) {
			mustAdd(t, s, fixture()...)
			wantRows(t, s, usage.Query{From: tt.from, To: tt.to, GroupBy: tt.group}, tt.want)
		}})
	}
	return out
}

// queryTests check refused queries and the row cap.
func queryTests() []test {
	tests := []struct {
		name  string
		q     usage.Query
		field string
	}{
		{"NoFrom", usage.Query{To: hour(1)}, "from"},
		{"NoTo", usage.Query{From: hour(0)}, "to"},
		{"FromNotOnTheHour", usage.Query{From: hour(0).Add(time.Minute), To: hour(2)}, "from"},
		{"ToNotOnTheHour", usage.Query{From: hour(0), To: hour(2).Add(-time.Nanosecond)}, "to"},
		{"Empty", usage.Query{From: hour(1), To: hour(1)}, "to"},
		{"Backwards", usage.Query{From: hour(2), To: hour(1)}, "to"},
		{"TooLong", usage.Query{From: hour(0), To: hour(0).Add(usage.MaxRange + time.Hour)}, "to"},
		{"UnknownDimension", usage.Query{From: hour(0), To: hour(1), GroupBy: []usage.Dimension{"week"}}, "group_by"},
		{"DimensionTwice", usage.Query{From: hour(0), To: hour(1), GroupBy: []usage.Dimension{usage.ByKey, usage.ByModel, usage.ByKey}}, "group_by"},
	}
	out := make([]test, 0, len(tests)+1)
	for _, tt := range tests {
		out = append(out, test{"Refuses" + tt.name, func(t *testing.T, s usage.Store) {
			mustAdd(t, s, fixture()...)
			rows, err := s.Query(t.Context(), tt.q)
			wantQueryError(t, err, tt.field)
			if len(rows) != 0 {
				t.Errorf("refused Query answered %d rows", len(rows))
			}
		}})
	}
	out = append(out, test{"TooManyRows", func(t *testing.T, s usage.Store) {
		batch := make([]usage.Record, usage.MaxRows+1)
		for i := range batch {
			batch[i] = usage.Record{Hour: hour(0), Key: apikey.ID(fmt.Sprintf("Key%013d", i)), Principal: "p", Requests: 1}
		}
		mustAdd(t, s, batch...)
		if rows, err := s.Query(t.Context(), all(usage.ByKey)); !errors.Is(err, usage.ErrTooManyRows) {
			t.Errorf("Query of %d groups = %d rows, %v; want ErrTooManyRows", len(batch), len(rows), err)
		}
		// The same buckets summed up are one row.
		wantRows(t, s, all(), []usage.Row{sums(usage.MaxRows+1, 0, 0, 0)})
	}})
	return out
}
