package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/usage"
)

var _ usage.Store = (*UsageStore)(nil)

// UsageStore keeps hourly usage buckets in the usage_hourly table of a DB.
// It implements [usage.Store].
type UsageStore struct {
	db *DB
}

// NewUsageStore returns the usage store of db. It shares db's connections,
// so it works until db is closed, and needs no Close of its own.
func NewUsageStore(db *DB) *UsageStore {
	return &UsageStore{db: db}
}

// upsertUsage adds one bucket's counts to its row, creating it at zero.
const upsertUsage = `INSERT INTO usage_hourly
	(hour, key_id, feature, model, principal, team, requests, input_tokens, output_tokens, cost)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (hour, key_id, feature, model) DO UPDATE SET
		principal     = excluded.principal,
		team          = excluded.team,
		requests      = usage_hourly.requests + excluded.requests,
		input_tokens  = usage_hourly.input_tokens + excluded.input_tokens,
		output_tokens = usage_hourly.output_tokens + excluded.output_tokens,
		cost          = usage_hourly.cost + excluded.cost`

// Add adds the records' counts to their buckets in one transaction. A sum
// past the range of a 64-bit integer fails the transaction rather than
// wrap or turn into a float.
func (s *UsageStore) Add(ctx context.Context, records []usage.Record) error {
	merged, err := usage.Merge(records)
	if err != nil {
		return fmt.Errorf("add usage: %w", err)
	}
	if len(merged) == 0 {
		return nil
	}
	err = s.db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, upsertUsage)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range merged {
			_, err := stmt.ExecContext(ctx, r.Hour.UnixMicro(), string(r.Key), r.Feature, r.Model,
				string(r.Principal), r.Team, r.Requests, r.InputTokens, r.OutputTokens, int64(r.Cost))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add %d usage buckets: %w", len(merged), err)
	}
	return nil
}

// microsPerDay is one UTC day in the hour column's unit.
const microsPerDay = int64(24 * time.Hour / time.Microsecond)

// usageExpr returns the expression a dimension groups by. Day is the hour
// rounded down to a multiple of a day: Unix time counts no leap seconds, so
// that is midnight UTC (the modulo is made non-negative, so hours before
// 1970 round down too).
func usageExpr(d usage.Dimension) string {
	switch d {
	case usage.ByKey:
		return "key_id"
	case usage.ByDay:
		return fmt.Sprintf("hour - ((hour %% %[1]d) + %[1]d) %% %[1]d", microsPerDay)
	}
	// principal, team, feature, model and hour are columns of their name;
	// Validate refuses any other dimension.
	return string(d)
}

// Query answers q with one SELECT … GROUP BY on the read pool.
func (s *UsageStore) Query(ctx context.Context, q usage.Query) ([]usage.Row, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var w where
	w.add("hour >= ?", q.From.UnixMicro())
	w.add("hour < ?", q.To.UnixMicro())
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
	sel := append(exprs, "sum(requests)", "sum(input_tokens)", "sum(output_tokens)", "sum(cost)")
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
	query += ` LIMIT ?`
	rows, err := s.db.read.QueryContext(ctx, query, append(w.args, usage.MaxRows+1)...)
	if err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (usage.Row, error) { return scanUsageRow(sc, q.GroupBy) })
	if err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	if len(out) > usage.MaxRows {
		return nil, usage.ErrTooManyRows
	}
	return out, nil
}

// scanUsageRow reads the group values of group and the four sums.
func scanUsageRow(sc scanner, group []usage.Dimension) (usage.Row, error) {
	var (
		r         usage.Row
		day, hour int64 // Unix microseconds
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
	if err := sc.Scan(dest...); err != nil {
		return usage.Row{}, err
	}
	if slices.Contains(group, usage.ByDay) {
		r.Day = time.UnixMicro(day).UTC()
	}
	if slices.Contains(group, usage.ByHour) {
		r.Hour = time.UnixMicro(hour).UTC()
	}
	return r, nil
}
