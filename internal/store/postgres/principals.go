package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/scopegate/scopegate/internal/apikey"
)

// principalColumns lists the columns in the order scanPrincipal reads them
// and principalArgs writes them.
const principalColumns = `p.id, p.kind, p.audience, p.team, p.ceiling, p.status,
	p.requests_per_minute, p.tokens_per_minute, p.concurrent, p.tokens_per_day, p.tokens_per_month,
	p.cost_per_day, p.cost_per_month,
	p.created_at, p.updated_at, p.created_by, p.updated_by`

func scanPrincipal(row pgx.Row) (apikey.Principal, error) {
	var (
		p                apikey.Principal
		ceiling          string
		created, updated pgtype.Timestamptz
	)
	err := row.Scan(&p.ID, &p.Kind, &p.Audience, &p.Team, &ceiling, &p.Status,
		&p.Limits.RequestsPerMinute, &p.Limits.TokensPerMinute, &p.Limits.Concurrent,
		&p.Limits.TokensPerDay, &p.Limits.TokensPerMonth,
		&p.Limits.CostPerDay, &p.Limits.CostPerMonth,
		&created, &updated, &p.CreatedBy, &p.UpdatedBy)
	if err != nil {
		return apikey.Principal{}, translate(err)
	}
	if p.Ceiling, err = scopesOf(ceiling); err != nil {
		return apikey.Principal{}, fmt.Errorf("principal %s: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt = timeOf(created), timeOf(updated)
	return p, nil
}

// principalArgs returns p's column values in principalColumns order.
func principalArgs(p *apikey.Principal) ([]any, error) {
	ceiling, err := scopesValue(p.Ceiling)
	if err != nil {
		return nil, err
	}
	return []any{string(p.ID), string(p.Kind), string(p.Audience), p.Team, ceiling, string(p.Status),
		p.Limits.RequestsPerMinute, p.Limits.TokensPerMinute, p.Limits.Concurrent,
		p.Limits.TokensPerDay, p.Limits.TokensPerMonth,
		int64(p.Limits.CostPerDay), int64(p.Limits.CostPerMonth),
		timeValue(p.CreatedAt), timeValue(p.UpdatedAt), p.CreatedBy, p.UpdatedBy}, nil
}

func normPrincipal(p *apikey.Principal) {
	p.CreatedAt, p.UpdatedAt = norm(p.CreatedAt), norm(p.UpdatedAt)
}

// CreatePrincipal stores p; ErrConflict if its id exists.
func (db *DB) CreatePrincipal(ctx context.Context, p apikey.Principal) error {
	args, err := principalArgs(&p)
	if err != nil {
		return fmt.Errorf("create principal %s: %w", p.ID, err)
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO principals (`+unqualified(principalColumns)+`)
			VALUES (`+placeholders(len(args))+`)`, args...)
		if err != nil {
			return err
		}
		return notifyChange(ctx, tx, Change{Principal: p.ID})
	})
	if err != nil {
		return fmt.Errorf("create principal %s: %w", p.ID, translate(err))
	}
	return nil
}

// Principal returns the principal with id, or ErrNotFound.
func (db *DB) Principal(ctx context.Context, id apikey.PrincipalID) (apikey.Principal, error) {
	p, err := scanPrincipal(db.pool.QueryRow(ctx,
		`SELECT `+principalColumns+` FROM principals p WHERE p.id = $1`, string(id)))
	if err != nil {
		return apikey.Principal{}, fmt.Errorf("principal %s: %w", id, err)
	}
	return p, nil
}

// Principals returns a page of principals ordered by id.
func (db *DB) Principals(ctx context.Context, f apikey.PrincipalFilter) (apikey.Page[apikey.Principal], error) {
	var w where
	if f.After != "" {
		w.add("p.id > ?", string(f.After))
	}
	if f.Team != "" {
		w.add("p.team = ?", f.Team)
	}
	if f.Status != "" {
		w.add("p.status = ?", string(f.Status))
	}
	limit := apikey.PageSize(f.Limit)
	q := `SELECT ` + principalColumns + ` FROM principals p` + w.sql() + ` ORDER BY p.id LIMIT ` + w.next(limit+1)
	rows, err := db.pool.Query(ctx, q, w.args...)
	if err != nil {
		return apikey.Page[apikey.Principal]{}, fmt.Errorf("list principals: %w", err)
	}
	items, err := collect(rows, scanPrincipal)
	if err != nil {
		return apikey.Page[apikey.Principal]{}, fmt.Errorf("list principals: %w", err)
	}
	return page(items, limit, func(p apikey.Principal) string { return string(p.ID) }), nil
}

// UpdatePrincipal reads the principal, calls fn on it, and stores the
// result, all in one transaction that holds the row's lock; fn's error is
// returned as is. fn may not change the id.
func (db *DB) UpdatePrincipal(ctx context.Context, id apikey.PrincipalID, fn func(*apikey.Principal) error) (apikey.Principal, error) {
	var p apikey.Principal
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		p, err = scanPrincipal(tx.QueryRow(ctx,
			`SELECT `+principalColumns+` FROM principals p WHERE p.id = $1 FOR UPDATE`, string(id)))
		if err != nil {
			return fmt.Errorf("update principal %s: %w", id, err)
		}
		if err := fn(&p); err != nil {
			return err
		}
		if p.ID != id {
			return fmt.Errorf("update principal %s: the id cannot change (to %s)", id, p.ID)
		}
		normPrincipal(&p)
		args, err := principalArgs(&p)
		if err != nil {
			return fmt.Errorf("update principal %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE principals SET `+assignments(principalColumns)+` WHERE id = $1`, args...); err != nil {
			return fmt.Errorf("update principal %s: %w", id, translate(err))
		}
		return notifyChange(ctx, tx, Change{Principal: id})
	})
	if err != nil {
		return apikey.Principal{}, err
	}
	return p, nil
}
