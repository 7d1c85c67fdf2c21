package postgres

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scopegate/scopegate/internal/apikey"
)

// where builds the WHERE clause of a list query and numbers its arguments.
type where struct {
	conds []string
	args  []any
}

// add appends a condition; "?" in cond stands for arg.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.Replace(cond, "?", fmt.Sprintf("$%d", len(w.args)), 1))
}

// next returns the placeholder for one more argument, such as a LIMIT.
func (w *where) next(arg any) string {
	w.args = append(w.args, arg)
	return fmt.Sprintf("$%d", len(w.args))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// page makes a Page of items fetched with LIMIT limit+1: one row more than
// the page holds tells whether there is a next page without a second query.
func page[T any](items []T, limit int, id func(T) string) apikey.Page[T] {
	if len(items) <= limit {
		return apikey.Page[T]{Items: items}
	}
	items = items[:limit]
	return apikey.Page[T]{Items: items, Next: id(items[limit-1])}
}

// collect scans every row with scan and closes rows.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var items []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, rows.Err()
}

// unqualified turns a column list such as "p.id, p.kind" into "id, kind",
// for INSERT statements.
func unqualified(columns string) string {
	fields := strings.Split(columns, ",")
	for i, f := range fields {
		_, fields[i], _ = strings.Cut(strings.TrimSpace(f), ".")
	}
	return strings.Join(fields, ", ")
}

// assignments turns a column list into "kind = $2, audience = $3, …" for an
// UPDATE whose arguments are in column order, leaving out the first column,
// the id, which never changes and is $1 in the WHERE clause.
func assignments(columns string) string {
	fields := strings.Split(unqualified(columns), ", ")
	out := make([]string, 0, len(fields)-1)
	for i, f := range fields[1:] {
		out = append(out, fmt.Sprintf("%s = $%d", f, i+2))
	}
	return strings.Join(out, ", ")
}

// placeholders returns "$1, $2, …, $n".
func placeholders(n int) string {
	ps := make([]string, n)
	for i := range n {
		ps[i] = fmt.Sprintf("$%d", i+1)
	}
	return strings.Join(ps, ", ")
}
