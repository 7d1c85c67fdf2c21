package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
)

var _ anomaly.Store = (*AlertStore)(nil)

// AlertStore keeps alert groups in the alerts table of a DB. It implements
// [anomaly.Store].
type AlertStore struct {
	db *DB
}

// NewAlertStore returns the alert store of db. It shares db's connections,
// so it works until db is closed, and needs no Close of its own.
func NewAlertStore(db *DB) *AlertStore {
	return &AlertStore{db: db}
}

const alertColumns = `id, rule, subject, principal, team, key_id, figures, first_at, last_at, count, acked_at, acked_by`

// Insert stores a new, unacknowledged group. The id comes from
// AUTOINCREMENT, so it is never reused, even after rows are deleted.
func (s *AlertStore) Insert(ctx context.Context, a anomaly.StoredAlert) (int64, error) {
	var id int64
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO alerts
			(rule, subject, principal, team, key_id, figures, first_at, last_at, count)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			a.Rule, a.Subject, string(a.Principal), a.Team, string(a.Key), a.Figures,
			norm(a.FirstAt).UnixMicro(), norm(a.LastAt).UnixMicro(), max(a.Count, 1)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("insert %s alert: %w", a.Rule, err)
	}
	return id, nil
}

// Touch adds one alert to group id.
func (s *AlertStore) Touch(ctx context.Context, id int64, at time.Time, figures string) error {
	var n int64
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alerts SET count = count + 1, last_at = max(last_at, ?), figures = ?
			WHERE id = ?`, norm(at).UnixMicro(), figures, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("touch alert %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("touch alert %d: %w", id, anomaly.ErrNotFound)
	}
	return nil
}

// List answers f with one SELECT on the read pool.
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
		w.add("last_at >= ?", norm(f.Since).UnixMicro())
	}
	if !f.Until.IsZero() {
		w.add("first_at < ?", norm(f.Until).UnixMicro())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = anomaly.MaxPageSize
	}
	query := `SELECT ` + alertColumns + ` FROM alerts` + w.sql() + ` ORDER BY id DESC LIMIT ?`
	rows, err := s.db.read.QueryContext(ctx, query, append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	out, err := collect(rows, scanAlert)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}

// Ack records the first acknowledgement of alert id and returns the row,
// in one transaction.
func (s *AlertStore) Ack(ctx context.Context, id int64, by string, at time.Time) (anomaly.StoredAlert, error) {
	var a anomaly.StoredAlert
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ? AND acked_at IS NULL`,
			norm(at).UnixMicro(), by, id)
		if err != nil {
			return err
		}
		a, err = scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return anomaly.StoredAlert{}, fmt.Errorf("ack alert %d: %w", id, anomaly.ErrNotFound)
	}
	if err != nil {
		return anomaly.StoredAlert{}, fmt.Errorf("ack alert %d: %w", id, err)
	}
	return a, nil
}

func scanAlert(sc scanner) (anomaly.StoredAlert, error) {
	var (
		a               anomaly.StoredAlert
		principal, key  string
		firstAt, lastAt int64
		ackedAt         sql.NullInt64
	)
	err := sc.Scan(&a.ID, &a.Rule, &a.Subject, &principal, &a.Team, &key, &a.Figures, &firstAt, &lastAt, &a.Count,
		&ackedAt, &a.AckedBy)
	if err != nil {
		return anomaly.StoredAlert{}, err
	}
	a.Principal, a.Key = apikey.PrincipalID(principal), apikey.ID(key)
	a.FirstAt, a.LastAt = time.UnixMicro(firstAt).UTC(), time.UnixMicro(lastAt).UTC()
	a.AckedAt = timeOf(ackedAt)
	return a, nil
}
