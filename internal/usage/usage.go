package usage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Record is what calls consumed in one bucket: one UTC hour of one key,
// feature and model. It is both what the gateway reports for a finished
// call (Requests 1) and what a [Recorder] adds to a [Store] for many calls
// (their sums).
type Record struct {
	// Hour is the start of the UTC hour the calls finished in. Stores and
	// the Recorder truncate it, so any instant inside the hour will do.
	Hour time.Time
	Key  apikey.ID
	// Principal and Team are the key's principal and that principal's
	// team when the call was made; they are copied into the bucket so that
	// reports can group and filter by them.
	Principal apikey.PrincipalID
	Team      string
	// Feature is the configured feature that served the calls, and Model
	// the canonical model (or dataset) they named; either may be empty,
	// as for a model list.
	Feature, Model string
	Requests       int64
	InputTokens    int64
	OutputTokens   int64
	Cost           apikey.Micros
}

// bucket identifies the row a Record adds to.
type bucket struct {
	hour           int64 // Unix seconds of the start of the UTC hour
	key            apikey.ID
	feature, model string
}

func (r *Record) bucket() bucket {
	return bucket{hour: hourOf(r.Hour), key: r.Key, feature: r.Feature, model: r.Model}
}

func compareBuckets(a, b bucket) int {
	return cmp.Or(cmp.Compare(a.hour, b.hour), strings.Compare(string(a.key), string(b.key)),
		strings.Compare(a.feature, b.feature), strings.Compare(a.model, b.model))
}

// hourOf returns the Unix time of the start of t's UTC hour. Unix time has
// no leap seconds, so UTC hours and days are exact multiples of it.
func hourOf(t time.Time) int64 {
	s := t.Unix()
	return s - mod(s, 3600)
}

// mod is the remainder of a/b with the sign of b, so times before 1970
// round down too.
func mod(a, b int64) int64 { return ((a % b) + b) % b }

// TruncateHour returns the start of t's hour, in UTC.
func TruncateHour(t time.Time) time.Time {
	return time.Unix(hourOf(t), 0).UTC()
}

// validate refuses a record no store may hold. Its errors describe the
// record without the caller's context.
func (r *Record) validate() error {
	switch {
	case r.Hour.IsZero():
		return errors.New("usage record has no hour")
	case r.Key == "":
		return errors.New("usage record has no key")
	case r.Requests < 0 || r.InputTokens < 0 || r.OutputTokens < 0 || r.Cost < 0:
		return fmt.Errorf("usage record of key %s has a negative count", r.Key)
	}
	return nil
}

// counts are the sums of a bucket, and the principal and team of the last
// record added to it.
type counts struct {
	principal                           apikey.PrincipalID
	team                                string
	requests, inputTokens, outputTokens int64
	cost                                apikey.Micros
	// records is how many Records were summed, to count them if the
	// bucket is dropped.
	records int64
}

// add sums r into c. It reports false, and leaves c alone, if a sum would
// overflow: the caller keeps the bucket it has rather than a wrong one.
func (c *counts) add(r *Record, records int64) bool {
	next := counts{principal: r.Principal, team: r.Team,
		requests: c.requests + r.Requests, inputTokens: c.inputTokens + r.InputTokens,
		outputTokens: c.outputTokens + r.OutputTokens, cost: c.cost + r.Cost, records: c.records + records}
	// Every count is non-negative (validate), so a sum below either part
	// has wrapped around.
	if next.requests < c.requests || next.inputTokens < c.inputTokens ||
		next.outputTokens < c.outputTokens || next.cost < c.cost {
		return false
	}
	*c = next
	return true
}

func (c *counts) record(b bucket) Record {
	return Record{Hour: time.Unix(b.hour, 0).UTC(), Key: b.key, Principal: c.principal, Team: c.team,
		Feature: b.feature, Model: b.model, Requests: c.requests, InputTokens: c.inputTokens,
		OutputTokens: c.outputTokens, Cost: c.cost}
}

// sortedRecords returns the buckets of m as records, ordered by bucket.
func sortedRecords(m map[bucket]counts) []Record {
	keys := make([]bucket, 0, len(m))
	for b := range m {
		keys = append(keys, b)
	}
	slices.SortFunc(keys, compareBuckets)
	out := make([]Record, len(keys))
	for i, b := range keys {
		c := m[b]
		out[i] = c.record(b)
	}
	return out
}

// Merge returns one record per bucket with the counts of rs summed, Hour
// truncated to the UTC hour and Principal and Team those of the bucket's
// last record, ordered by bucket (hour, then key, feature and model in byte
// order). Stores call it so that a batch writes each row once, in an order
// that every replica shares, which keeps concurrent batches from
// deadlocking. It refuses, as a whole, a batch holding a record with no
// hour or key or with a negative count, or whose sums overflow.
func Merge(rs []Record) ([]Record, error) {
	m := make(map[bucket]counts, len(rs))
	for i := range rs {
		r := &rs[i]
		if err := r.validate(); err != nil {
			return nil, err
		}
		b := r.bucket()
		c := m[b]
		if !c.add(r, 1) {
			return nil, fmt.Errorf("usage of key %s in the hour of %s overflows", r.Key, TruncateHour(r.Hour).Format(time.RFC3339))
		}
		m[b] = c
	}
	return sortedRecords(m), nil
}

// Store keeps usage buckets. The sqlite and postgres packages implement it,
// and usagetest.Run checks that they behave alike. Every method is safe for
// concurrent use, also by many processes sharing one database.
type Store interface {
	// Add adds each record's counts to its bucket (Hour, Key, Feature,
	// Model), creating the bucket at zero if it does not exist, and sets
	// the bucket's Principal and Team to the record's: an upsert that
	// sums. Records in one call may share a bucket. All of them are added
	// in one transaction, so an error means none was; a batch with an
	// invalid record (see [Merge]) is refused whole. Concurrent Adds to one
	// bucket sum exactly. Add does not retry; a failed commit whose
	// outcome the database could not report may have been applied.
	Add(ctx context.Context, records []Record) error
	// Query answers q. An invalid q is refused with a *QueryError, and a
	// query with more than MaxRows groups with ErrTooManyRows. Rows are
	// ordered by their values of q.GroupBy, in that order of dimensions
	// (times ascending, text in byte order). With no GroupBy the answer is
	// one row of totals, or no row when no bucket matches.
	Query(ctx context.Context, q Query) ([]Row, error)
}

// Dimension is what a report groups by.
type Dimension string

// The dimensions. Day and hour are UTC.
const (
	ByKey       Dimension = "key"
	ByPrincipal Dimension = "principal"
	ByTeam      Dimension = "team"
	ByFeature   Dimension = "feature"
	ByModel     Dimension = "model"
	ByDay       Dimension = "day"
	ByHour      Dimension = "hour"
)

// Dimensions returns every dimension, in the order reports list them.
func Dimensions() []Dimension {
	return []Dimension{ByKey, ByPrincipal, ByTeam, ByFeature, ByModel, ByDay, ByHour}
}

// Limits of a query, which keep a report's cost to the database and its
// size bounded.
const (
	// MaxRange is the longest time range of a query: a little over a year,
	// so that this year and the last can be compared month by month.
	MaxRange = 400 * 24 * time.Hour
	// MaxRows is the most groups a query answers.
	MaxRows = 10_000
	// maxFilter is the longest filter value; longer ones match nothing a
	// store holds.
	maxFilter = 256
)

// ErrTooManyRows is the error of a query that would answer more than
// MaxRows groups; a narrower range or fewer dimensions answer it.
var ErrTooManyRows = fmt.Errorf("the report has more than %d rows; narrow the time range, add a filter or group by fewer dimensions", MaxRows)

// Query selects usage and says how to group it. Empty filters match
// everything; the others must all match exactly.
type Query struct {
	// From and To bound the hours counted: From ≤ hour < To. Both must be
	// on the hour, since buckets are whole hours.
	From, To time.Time
	// GroupBy lists the dimensions of each row, in the order rows are
	// sorted; none answers one row of totals.
	GroupBy   []Dimension
	Key       apikey.ID
	Principal apikey.PrincipalID
	Team      string
	Feature   string
	Model     string
}

// QueryError is a refused query: a field with a bad value. Field is the
// name of the query parameter of the admin API ("from", "group_by", …),
// which answers it with 400.
type QueryError struct {
	Field   string
	Message string
}

func (e *QueryError) Error() string { return e.Field + ": " + e.Message }

// Validate checks q, returning a *QueryError for the first problem.
func (q *Query) Validate() error {
	for _, t := range []struct {
		field string
		v     time.Time
	}{{"from", q.From}, {"to", q.To}} {
		if t.v.IsZero() {
			return &QueryError{t.field, "required"}
		}
		if !TruncateHour(t.v).Equal(t.v) {
			return &QueryError{t.field, "must be on the hour, such as 2026-11-28T10:00:00Z: usage is kept in hourly buckets"}
		}
	}
	if !q.From.Before(q.To) {
		return &QueryError{"to", "must be after from"}
	}
	if q.To.Sub(q.From) > MaxRange {
		return &QueryError{"to", fmt.Sprintf("the range is longer than %d days", MaxRange/(24*time.Hour))}
	}
	seen := make(map[Dimension]bool, len(q.GroupBy))
	for _, d := range q.GroupBy {
		if !slices.Contains(Dimensions(), d) {
			return &QueryError{"group_by", fmt.Sprintf("unknown dimension %q; use %s", d, dimensionList())}
		}
		if seen[d] {
			return &QueryError{"group_by", fmt.Sprintf("dimension %q given twice", d)}
		}
		seen[d] = true
	}
	for _, f := range []struct{ field, v string }{
		{"key", string(q.Key)}, {"principal", string(q.Principal)}, {"team", q.Team},
		{"feature", q.Feature}, {"model", q.Model},
	} {
		if len(f.v) > maxFilter {
			return &QueryError{f.field, fmt.Sprintf("longer than %d characters", maxFilter)}
		}
	}
	return nil
}

func dimensionList() string {
	ds := Dimensions()
	ss := make([]string, len(ds))
	for i, d := range ds {
		ss[i] = string(d)
	}
	return strings.Join(ss, ", ")
}

// Row is one group of a report: the values of the query's GroupBy
// dimensions (the others are zero) and the sums of its buckets.
type Row struct {
	Key       apikey.ID
	Principal apikey.PrincipalID
	Team      string
	Feature   string
	Model     string
	// Day is midnight UTC of the day, and Hour the start of the hour, when
	// grouped by them.
	Day, Hour    time.Time
	Requests     int64
	InputTokens  int64
	OutputTokens int64
	Cost         apikey.Micros
}
