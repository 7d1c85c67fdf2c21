package sqlite

import (
	"database/sql"
	"strings"

	"github.com/scopegate/scopegate/internal/apikey"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// where builds the WHERE clause of a list query from its conditions.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, arg)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
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

// page makes a Page of items fetched with LIMIT limit+1: one row more than
// the page holds tells whether there is a next page without a second query.
func page[T any](items []T, limit int, id func(T) string) apikey.Page[T] {
	if len(items) <= limit {
		return apikey.Page[T]{Items: items}
	}
	items = items[:limit]
	return apikey.Page[T]{Items: items, Next: id(items[limit-1])}
}

// unqualified turns a column list such as "p.id, p.kind" into "id, kind",
// for INSERT statements.
func unqualified(columns string) string {
	fields := strings.Split(columns, ",")
	for i, f := range fields {
		f = strings.TrimSpace(f)
		_, f, _ = strings.Cut(f, ".")
		fields[i] = f
	}
	return strings.Join(fields, ", ")
}

// assignments turns a column list into "kind = ?, audience = ?, …" for an
// UPDATE, leaving out the first column, the id, which never changes.
func assignments(columns string) string {
	fields := strings.Split(unqualified(columns), ", ")[1:]
	for i, f := range fields {
		fields[i] = f + " = ?"
	}
	return strings.Join(fields, ", ")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
