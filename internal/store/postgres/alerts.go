package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
)

var _ anomaly.Store = (*AlertStore)(nil)

// AlertStore keeps alert groups in the alerts table of a DB, which every
// replica writes to. It implements [anomaly.Store].
type AlertStore struct {
	db *DB
}

// NewAlertStore returns the alert store of db. It shares db's pool, so it
// works until db is closed, and needs no Close of its own.
func NewAlertStore(db *DB) *AlertStore {
	return &AlertStore{db: db}
}

const alertColumns = `id, rule, subject, principal, team, key_id, figures, first_at, last_at, count, acked_at, acked_by`

// Insert stores a new, unacknowledged group; the id comes from an identity
// column.
func (s *AlertStore) Insert(ctx context.Context, a anomaly.StoredAlert) (int64, error) {
	var id int64
	err := s.db.pool.QueryRow(ctx, `INSERT INTO alerts
		(rule, subject, principal, team, key_id, figures, first_at, last_at, count)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		a.Rule, a.Subject, string(a.Principal), a.Team, string(a.Key), a.Figures,
		norm(a.FirstAt), norm(a.LastAt), max(a.Count, 1)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert %s alert: %w", a.Rule, err)
	}
	return id, nil
}

// Touch adds one alert to group id in one statement; concurrent Touches
// of a row queue on its lock, so each counts.
func (s *AlertStore) Touch(ctx context.Context, id int64, at time.Time, figures string) error {
	tag, err := s.db.pool.Exec(ctx, `UPDATE alerts SET count = count + 1, last_at = GREATEST(last_at, $1), figures = $2
		WHERE id = $3`, norm(at), figures, id)
	if err != nil {
		return fmt.Errorf("touch alert %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("touch alert %d: %w", id, anomaly.ErrNotFound)
	}
	return nil
}

// List answers f with one SELECT.
func (s *AlertStore) List(ctx context.Context, f anomaly.AlertFilter) ([]anomaly.StoredAlert, error) {
	var w where
	if f.ID != 0 {
		w.add("id = ?", f.ID)
	}
	if f.Before != 0 {
		w.add("id < ?", f.Before)
	}
	for _, c := range []struct{ column, value string }{
		{"rule", f.Rule}, {"subject", f.Subject}, {"principal", string(f.Principal)}, {"team", f.Team},
	} {
		if c.value != "" {
			w.add(c.column+" = ?", c.value)
		}
	}
	switch f.Acked {
	case anomaly.AckYes:
		w.conds = append(w.conds, "acked_at IS NOT NULL")
	case anomaly.AckNo:
		w.conds = append(w.conds, "acked_at IS NULL")
	}
	if !f.Since.IsZero() {
		w.add("last_at >= ?", norm(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("first_at < ?", norm(f.Until))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = anomaly.MaxPageSize
	}
	query := `SELECT ` + alertColumns + ` FROM alerts` + w.sql() + ` ORDER BY id DESC LIMIT ` + w.next(limit)
	rows, err := s.db.pool.Query(ctx, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	out, err := collect(rows, scanAlert)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}

// Ack records the first acknowledgement of alert id and returns the row.
// The UPDATE's row lock makes a racing Ack wait, and then find the row
// acknowledged.
func (s *AlertStore) Ack(ctx context.Context, id int64, by string, at time.Time) (anomaly.StoredAlert, error) {
	var a anomaly.StoredAlert
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE alerts SET acked_at = $1, acked_by = $2 WHERE id = $3 AND acked_at IS NULL`,
			norm(at), by, id)
		if err != nil {
			return err
		}
		a, err = scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return anomaly.StoredAlert{}, fmt.Errorf("ack alert %d: %w", id, anomaly.ErrNotFound)
	}
	if err != nil {
		return anomaly.StoredAlert{}, fmt.Errorf("ack alert %d: %w", id, err)
	}
	return a, nil
}

func scanAlert(row pgx.Row) (anomaly.StoredAlert, error) {
	var (
		a               anomaly.StoredAlert
		principal, key  string
		firstAt, lastAt time.Time
		ackedAt         pgtype.Timestamptz
	)
	err := row.Scan(&a.ID, &a.Rule, &a.Subject, &principal, &a.Team, &key, &a.Figures, &firstAt, &lastAt, &a.Count,
		&ackedAt, &a.AckedBy)
	if err != nil {
		return anomaly.StoredAlert{}, err
	}
	a.Principal, a.Key = apikey.PrincipalID(principal), apikey.ID(key)
	a.FirstAt, a.LastAt, a.AckedAt = firstAt.UTC(), lastAt.UTC(), timeOf(ackedAt)
	return a, nil
}
