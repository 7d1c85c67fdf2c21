package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/usage"
)

// UsageReader answers usage reports for GET /admin/v1/usage. The usage
// stores of the sqlite and postgres packages implement it (as part of
// usage.Store), so the report sums what every replica recorded.
//
// Query must behave as usage.Store.Query: a *usage.QueryError for a
// refused query, usage.ErrTooManyRows past usage.MaxRows groups, rows
// ordered by their group values. It must be safe for concurrent use.
type UsageReader interface {
	Query(ctx context.Context, q usage.Query) ([]usage.Row, error)
}

// The query parameters of the usage route, besides the filters key,
// principal, team, feature and model, named as the Query fields.
const (
	paramFrom    = "from"
	paramTo      = "to"
	paramGroupBy = "group_by"
	paramModel   = "model"
)

// defaultGroupBy is the grouping of a report that does not say: the
// question operators ask first is "which keys spent what".
func defaultGroupBy() []usage.Dimension { return []usage.Dimension{usage.ByKey} }

// UsageReport is the answer of GET /admin/v1/usage: the range counted
// (whole UTC hours, From ≤ hour < To), the dimensions of each row, the
// rows ordered by them, and their totals.
type UsageReport struct {
	From    time.Time   `json:"from"`
	To      time.Time   `json:"to"`
	GroupBy []string    `json:"group_by"`
	Rows    []UsageRow  `json:"rows"`
	Totals  UsageTotals `json:"totals"`
}

// UsageRow is one group of a report. A dimension's field is present
// exactly when the report groups by it, even when its value is empty (a
// principal without a team, a call without a model).
type UsageRow struct {
	Key       *string `json:"key,omitempty"`
	Principal *string `json:"principal,omitempty"`
	Team      *string `json:"team,omitempty"`
	Feature   *string `json:"feature,omitempty"`
	Model     *string `json:"model,omitempty"`
	// Day is the UTC date, such as "2026-11-28".
	Day *string `json:"day,omitempty"`
	// Hour is the start of the UTC hour.
	Hour         *time.Time    `json:"hour,omitempty"`
	Requests     int64         `json:"requests"`
	InputTokens  int64         `json:"input_tokens"`
	OutputTokens int64         `json:"output_tokens"`
	CostUSD      apikey.Micros `json:"cost_usd"`
}

// UsageTotals are the sums of every row of a report.
type UsageTotals struct {
	Requests     int64         `json:"requests"`
	InputTokens  int64         `json:"input_tokens"`
	OutputTokens int64         `json:"output_tokens"`
	CostUSD      apikey.Micros `json:"cost_usd"`
}

// handleUsage serves GET /admin/v1/usage: tokens, requests and cost over a
// range of hours, grouped and filtered as the query asks, within the
// caller's reach.
func handleUsage(logger *slog.Logger, reader UsageReader, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		// The role comes first, so a caller without one learns nothing
		// about how the server was built.
		if !a.IsAdmin() && !a.Roles.Has(apikey.RoleKeysTeam) && !a.Roles.Has(apikey.RoleKeysSelf) {
			writeError(w, r, logger, apikey.ErrForbidden)
			return
		}
		if reader == nil {
			writeError(w, r, logger, errNotImplemented)
			return
		}
		q, err := parseUsageQuery(r, now().UTC())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		var rows []usage.Row
		if scopeUsage(a, &q) {
			if rows, err = reader.Query(r.Context(), q); err != nil {
				writeError(w, r, logger, err)
				return
			}
		}
		report, err := toUsageReport(q, rows)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, report)
	})
}

// scopeUsage narrows q to what a may see, as the key lists are narrowed:
// an admin sees every tenant, a keys:team admin only rows recorded for its
// team, a keys:self admin only its own principal's. It reports false when
// nothing can match, such as a team admin asking for another team.
func scopeUsage(a apikey.Actor, q *usage.Query) bool {
	switch {
	case a.IsAdmin():
		return true
	case a.Roles.Has(apikey.RoleKeysTeam):
		if a.Team == "" || (q.Team != "" && q.Team != a.Team) {
			return false
		}
		q.Team = a.Team
		return true
	default: // keys:self; handleUsage refused callers without a role
		if q.Principal != "" && q.Principal != a.Principal {
			return false
		}
		q.Principal = a.Principal
		return true
	}
}

// parseUsageQuery reads the query of a usage request. Absent times default
// to the current UTC month so far: from the start of the month to the end
// of the current hour. Times inside an hour are widened to whole hours
// (from down, to up), since buckets are hours; the answer says what range
// was counted. The query is validated, so its errors are 400s.
func parseUsageQuery(r *http.Request, now time.Time) (usage.Query, error) {
	values, err := strictQuery(r, paramFrom, paramTo, paramGroupBy,
		paramKey, paramPrincipal, paramTeam, paramFeature, paramModel)
	if err != nil {
		return usage.Query{}, err
	}
	q := usage.Query{
		From:      time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC),
		To:        usage.TruncateHour(now).Add(time.Hour),
		GroupBy:   defaultGroupBy(),
		Key:       apikey.ID(values.Get(paramKey)),
		Principal: apikey.PrincipalID(values.Get(paramPrincipal)),
		Team:      values.Get(paramTeam),
		Feature:   values.Get(paramFeature),
		Model:     values.Get(paramModel),
	}
	if s := values.Get(paramFrom); s != "" {
		t, err := parseRFC3339(paramFrom, s)
		if err != nil {
			return usage.Query{}, err
		}
		q.From = usage.TruncateHour(t)
	}
	if s := values.Get(paramTo); s != "" {
		t, err := parseRFC3339(paramTo, s)
		if err != nil {
			return usage.Query{}, err
		}
		q.To = roundUpHour(t)
	}
	if values.Has(paramGroupBy) {
		q.GroupBy = parseGroupBy(values.Get(paramGroupBy))
	}
	if err := q.Validate(); err != nil {
		return usage.Query{}, err
	}
	return q, nil
}

// parseRFC3339 parses a time parameter.
func parseRFC3339(param, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, badRequest(param, "must be an RFC 3339 time such as 2026-11-01T00:00:00Z")
	}
	return t, nil
}

// roundUpHour returns the first start of an hour at or after t, in UTC.
func roundUpHour(t time.Time) time.Time {
	h := usage.TruncateHour(t)
	if h.Equal(t) {
		return h
	}
	return h.Add(time.Hour)
}

// parseGroupBy splits "key,model" into dimensions; an empty value is no
// dimension (one row of totals). Unknown names are left for Validate to
// refuse with the list of known ones.
func parseGroupBy(s string) []usage.Dimension {
	if strings.TrimSpace(s) == "" {
		return []usage.Dimension{}
	}
	parts := strings.Split(s, ",")
	out := make([]usage.Dimension, len(parts))
	for i, p := range parts {
		out[i] = usage.Dimension(strings.TrimSpace(p))
	}
	return out
}

// errUsageOverflow is a report whose totals do not fit 64 bits: a bug or
// corrupt data, answered 500.
var errUsageOverflow = errors.New("usage totals overflow")

// toUsageReport builds the answer from q, as scoped, and its rows.
func toUsageReport(q usage.Query, rows []usage.Row) (UsageReport, error) {
	report := UsageReport{From: q.From.UTC(), To: q.To.UTC(), GroupBy: make([]string, len(q.GroupBy)),
		Rows: make([]UsageRow, 0, len(rows))}
	for i, d := range q.GroupBy {
		report.GroupBy[i] = string(d)
	}
	t := &report.Totals
	for _, row := range rows {
		w := UsageRow{Requests: row.Requests, InputTokens: row.InputTokens, OutputTokens: row.OutputTokens, CostUSD: row.Cost}
		for _, d := range q.GroupBy {
			switch d {
			case usage.ByKey:
				w.Key = new(string(row.Key))
			case usage.ByPrincipal:
				w.Principal = new(string(row.Principal))
			case usage.ByTeam:
				w.Team = new(row.Team)
			case usage.ByFeature:
				w.Feature = new(row.Feature)
			case usage.ByModel:
				w.Model = new(row.Model)
			case usage.ByDay:
				w.Day = new(row.Day.UTC().Format(time.DateOnly))
			case usage.ByHour:
				w.Hour = new(row.Hour.UTC())
			}
		}
		report.Rows = append(report.Rows, w)
		next := UsageTotals{Requests: t.Requests + row.Requests, InputTokens: t.InputTokens + row.InputTokens,
			OutputTokens: t.OutputTokens + row.OutputTokens, CostUSD: t.CostUSD + row.Cost}
		// Counts are never negative, so a smaller sum has wrapped.
		if next.Requests < t.Requests || next.InputTokens < t.InputTokens ||
			next.OutputTokens < t.OutputTokens || next.CostUSD < t.CostUSD {
			return UsageReport{}, errUsageOverflow
		}
		*t = next
	}
	return report, nil
}
