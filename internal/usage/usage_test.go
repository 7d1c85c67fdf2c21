package usage_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/usage"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func TestTruncateHour(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		in, want time.Time
	}{
		{t0, t0},
		{t0.Add(59*time.Minute + 59*time.Second + 999_999_999), t0},
		{t0.In(ist).Add(30 * time.Minute), t0},
		{time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got := usage.TruncateHour(tt.in)
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("TruncateHour(%v) = %v, want %v in UTC", tt.in, got, tt.want)
		}
	}
}

func TestMerge(t *testing.T) {
	in := []usage.Record{
		{Hour: t0.Add(time.Hour + time.Minute), Key: "b", Principal: "bob", Feature: "chat", Model: "m", Requests: 1, InputTokens: 2, OutputTokens: 3, Cost: 4},
		{Hour: t0.Add(5 * time.Minute), Key: "b", Principal: "bob", Team: "red", Feature: "chat", Model: "m", Requests: 1, InputTokens: 10},
		{Hour: t0, Key: "a", Principal: "alice", Feature: "chat", Model: "m", Requests: 1, Cost: 7},
		{Hour: t0.Add(59 * time.Minute), Key: "b", Principal: "bob", Team: "blue", Feature: "chat", Model: "m", Requests: 2, OutputTokens: 5, Cost: 1},
		{Hour: t0, Key: "b", Principal: "bob", Feature: "chat", Model: "", Requests: 1},
	}
	got, err := usage.Merge(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []usage.Record{
		{Hour: t0, Key: "a", Principal: "alice", Feature: "chat", Model: "m", Requests: 1, Cost: 7},
		{Hour: t0, Key: "b", Principal: "bob", Feature: "chat", Model: "", Requests: 1},
		// The last record's team wins.
		{Hour: t0, Key: "b", Principal: "bob", Team: "blue", Feature: "chat", Model: "m", Requests: 3, InputTokens: 10, OutputTokens: 5, Cost: 1},
		{Hour: t0.Add(time.Hour), Key: "b", Principal: "bob", Feature: "chat", Model: "m", Requests: 1, InputTokens: 2, OutputTokens: 3, Cost: 4},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Merge (-want +got):\n%s", d)
	}
	if got, err := usage.Merge(nil); err != nil || len(got) != 0 {
		t.Errorf("Merge(nil) = %v, %v; want nothing", got, err)
	}
}

func TestMergeRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   []usage.Record
		msg  string
	}{
		{"NoHour", []usage.Record{{Key: "a", Requests: 1}}, "no hour"},
		{"NoKey", []usage.Record{{Hour: t0, Requests: 1}}, "no key"},
		{"NegativeRequests", []usage.Record{{Hour: t0, Key: "a", Requests: -1}}, "negative"},
		{"NegativeCost", []usage.Record{{Hour: t0, Key: "a", Cost: -1}}, "negative"},
		{"Overflow", []usage.Record{{Hour: t0, Key: "a", InputTokens: math.MaxInt64}, {Hour: t0, Key: "a", InputTokens: 1}}, "overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := usage.Merge(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Merge = %v, %v; want an error containing %q", got, err, tt.msg)
			}
		})
	}
}

func TestQueryValidate(t *testing.T) {
	ok := usage.Query{From: t0, To: t0.Add(time.Hour)}
	tests := []struct {
		name  string
		edit  func(*usage.Query)
		field string
		msg   string
	}{
		{"OK", func(*usage.Query) {}, "", ""},
		{"AllDimensions", func(q *usage.Query) { q.GroupBy = usage.Dimensions() }, "", ""},
		{"LongestRange", func(q *usage.Query) { q.From = q.To.Add(-usage.MaxRange) }, "", ""},
		{"OffsetZoneOnTheHour", func(q *usage.Query) { q.From = t0.In(time.FixedZone("IST", 5*3600+1800)) }, "", ""},
		{"NoFrom", func(q *usage.Query) { q.From = time.Time{} }, "from", "required"},
		{"FromInsideHour", func(q *usage.Query) { q.From = t0.Add(time.Second) }, "from", "on the hour"},
		{"ToInsideHour", func(q *usage.Query) { q.To = t0.Add(90 * time.Minute) }, "to", "on the hour"},
		{"Empty", func(q *usage.Query) { q.To = q.From }, "to", "after from"},
		{"TooLong", func(q *usage.Query) { q.From = q.To.Add(-usage.MaxRange - time.Hour) }, "to", "400 days"},
		{"UnknownDimension", func(q *usage.Query) { q.GroupBy = []usage.Dimension{"week"} }, "group_by", `unknown dimension "week"; use key, principal, team, feature, model, day, hour`},
		{"Twice", func(q *usage.Query) { q.GroupBy = []usage.Dimension{usage.ByDay, usage.ByDay} }, "group_by", "twice"},
		{"LongFilter", func(q *usage.Query) { q.Model = strings.Repeat("m", 257) }, "model", "longer than 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := ok
			tt.edit(&q)
			err := q.Validate()
			if tt.field == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			qe, isQE := errors.AsType[*usage.QueryError](err)
			if !isQE || qe.Field != tt.field || !strings.Contains(qe.Message, tt.msg) {
				t.Errorf("Validate = %v, want a QueryError on %q containing %q", err, tt.field, tt.msg)
			}
		})
	}
}
