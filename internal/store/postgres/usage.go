package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/scopegate/scopegate/internal/usage"
)

var _ usage.Store = (*UsageStore)(nil)

// UsageStore keeps hourly usage buckets in the usage_hourly table of a DB,
// which every replica adds to. It implements [usage.Store].
type UsageStore struct {
	db *DB
}

// NewUsageStore returns the usage store of db. It shares db's pool, so it
// works until db is closed, and needs no Close of its own.
func NewUsageStore(db *DB) *UsageStore {
	return &UsageStore{db: db}
}

// upsertUsage adds a batch of buckets, given as parallel arrays, in one
// statement and one round trip. The rows are inserted in the order of the
// arrays (WITH ORDINALITY … ORDER BY n), which usage.Merge sorted by
// bucket: replicas flushing overlapping batches lock the rows they share
// in the same order, so they queue instead of deadlocking. Each bucket
// appears once per batch, which ON CONFLICT DO UPDATE requires.
const upsertUsage = `INSERT INTO usage_hourly AS u
	(hour, key_id, feature, model, principal, team, requests, input_tokens, output_tokens, cost)
	SELECT hour, key_id, feature, model, principal, team, requests, input_tokens, output_tokens, cost
	FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[]) WITH ORDINALITY
		AS b (hour, key_id, feature, model, principal, team, requests, input_tokens, output_tokens, cost, n)
	ORDER BY n
	ON CONFLICT (hour, key_id, feature, model) DO UPDATE SET
		principal     = excluded.principal,
		team          = excluded.team,
		requests      = u.requests + excluded.requests,
		input_tokens  = u.input_tokens + excluded.input_tokens,
		output_tokens = u.output_tokens + excluded.output_tokens,
		cost          = u.cost + excluded.cost`

// Add adds the records' counts to their buckets in one statement, which is
// atomic on its own. A sum past the range of bigint fails it.
func (s *UsageStore) Add(ctx context.Context, records []usage.Record) error {
	merged, err := usage.Merge(records)
	if err != nil {
		return fmt.Errorf("add usage: %w", err)
	}
	if len(merged) == 0 {
		return nil
	}
	n := len(merged)
	var (
		hours                              = make([]time.Time, n)
		keys, features, models, principals = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		teams                              = make([]string, n)
		requests, inputs, outputs, costs   = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	)
	for i, r := range merged {
		hours[i], keys[i], features[i], models[i] = r.Hour, string(r.Key), r.Feature, r.Model
		principals[i], teams[i] = string(r.Principal), r.Team
		requests[i], inputs[i], outputs[i], costs[i] = r.Requests, r.InputTokens, r.OutputTokens, int64(r.Cost)
	}
	_, err = s.db.pool.Exec(ctx, upsertUsage, hours, keys, features, models, principals, teams,
		requests, inputs, outputs, costs)
	if err != nil {
		return fmt.Errorf("add %d usage buckets: %w", n, err)
	}
	return nil
}

// usageExpr returns the expression a dimension groups by.
func usageExpr(d usage.Dimension) string {
	switch d {
	case usage.ByKey:
		return "key_id"
	case usage.ByDay:
		return "date_trunc('day', hour, 'UTC')"
	}
	// principal, team, feature, model and hour are columns of their name;
	// Validate refuses any other dimension.
	return string(d)
}

// Query answers q with one SELECT … GROUP BY. The sums are cast back to
// bigint (sum of bigint is numeric), so a total past 64 bits is an error
// rather than a number the Row cannot hold.
func (s *UsageStore) Query(ctx context.Context, q usage.Query) ([]usage.Row, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var w where
	w.add("hour >= ?", q.From)
	w.add("hour < ?", q.To)
	for _, f := range []struct {
		column, value string
	}{
		{"key_id", string(q.Key)}, {"principal", string(q.Principal)}, {"team", q.Team},
		{"feature", q.Feature}, {"model", q.Model},
	} {
		if f.value != "" {
			w.add(f.column+" = ?", f.value)
		}
	}
	var exprs, ordinals []string
	for i, d := range q.GroupBy {
		exprs = append(exprs, usageExpr(d))
		ordinals = append(ordinals, fmt.Sprint(i+1))
	}
	sel := append(exprs, "sum(requests)::bigint", "sum(input_tokens)::bigint", "sum(output_tokens)::bigint", "sum(cost)::bigint")
	query := `SELECT ` + strings.Join(sel, ", ") + ` FROM usage_hourly` + w.sql()
	if len(ordinals) > 0 {
		query += ` GROUP BY ` + strings.Join(ordinals, ", ")
	}
	// Without GROUP BY, an aggregate answers one row even over no rows;
	// HAVING drops it, so "nothing" is no row, as with groups.
	query += ` HAVING count(*) > 0`
	if len(ordinals) > 0 {
		query += ` ORDER BY ` + strings.Join(ordinals, ", ")
	}
	query += ` LIMIT ` + w.next(usage.MaxRows+1)
	rows, err := s.db.pool.Query(ctx, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	out, err := collect(rows, func(row pgx.Row) (usage.Row, error) { return scanUsageRow(row, q.GroupBy) })
	if err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	if len(out) > usage.MaxRows {
		return nil, usage.ErrTooManyRows
	}
	return out, nil
}

// scanUsageRow reads the group values of group and the four sums.
func scanUsageRow(row pgx.Row, group []usage.Dimension) (usage.Row, error) {
	var (
		r         usage.Row
		day, hour pgtype.Timestamptz
	)
	dest := make([]any, 0, len(group)+4)
	for _, d := range group {
		switch d {
		case usage.ByKey:
			dest = append(dest, &r.Key)
		case usage.ByPrincipal:
			dest = append(dest, &r.Principal)
		case usage.ByTeam:
			dest = append(dest, &r.Team)
		case usage.ByFeature:
			dest = append(dest, &r.Feature)
		case usage.ByModel:
			dest = append(dest, &r.Model)
		case usage.ByDay:
			dest = append(dest, &day)
		case usage.ByHour:
			dest = append(dest, &hour)
		}
	}
	dest = append(dest, &r.Requests, &r.InputTokens, &r.OutputTokens, &r.Cost)
	if err := row.Scan(dest...); err != nil {
		return usage.Row{}, err
	}
	if slices.Contains(group, usage.ByDay) {
		r.Day = timeOf(day)
	}
	if slices.Contains(group, usage.ByHour) {
		r.Hour = timeOf(hour)
	}
	return r, nil
}
