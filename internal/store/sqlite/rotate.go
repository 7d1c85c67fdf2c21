package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scopegate/scopegate/internal/apikey"
)

const idempotencyColumns = `actor, idem_key, fingerprint, result, sealed, created_at, expires_at`

func scanIdempotency(row scanner) (apikey.Idempotency, error) {
	var (
		r                apikey.Idempotency
		created, expires sql.NullInt64
	)
	if err := row.Scan(&r.Actor, &r.Key, &r.Fingerprint, &r.Result, &r.Sealed, &created, &expires); err != nil {
		return apikey.Idempotency{}, translate(err)
	}
	r.CreatedAt, r.ExpiresAt = timeOf(created), timeOf(expires)
	return r, nil
}

// live is the condition for an idempotency record that has not expired at
// the time bound to its placeholder.
const live = `(expires_at IS NULL OR expires_at > ?)`

// Idempotency returns the record for actor and key, or ErrNotFound. A
// record past its ExpiresAt is not found.
func (db *DB) Idempotency(ctx context.Context, actor, key string) (apikey.Idempotency, error) {
	r, err := scanIdempotency(db.read.QueryRowContext(ctx, `SELECT `+idempotencyColumns+`
		FROM idempotency_records WHERE actor = ? AND idem_key = ? AND `+live,
		actor, key, db.Now().UnixMicro()))
	if err != nil {
		return apikey.Idempotency{}, fmt.Errorf("idempotency record: %w", err)
	}
	return r, nil
}

// Rotate atomically applies retire to the key next replaces, stores next,
// and records idem when it is not nil. If an unexpired record with idem's
// Actor and Key exists, it changes nothing and returns that record with
// ErrConflict. retire's error is returned as is, and any error leaves the
// store unchanged.
func (db *DB) Rotate(ctx context.Context, next apikey.Key, retire func(*apikey.Key) error, idem *apikey.Idempotency) (*apikey.Idempotency, error) {
	if next.RotatedFrom == "" {
		return nil, fmt.Errorf("rotate to key %s: it does not name the key it replaces", next.ID)
	}
	var existing *apikey.Idempotency
	var stored *apikey.Idempotency
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		now := db.Now()
		if idem != nil {
			// Expired records are deleted here, lazily, rather than by a
			// background job; this one's key may be among them.
			if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_records WHERE expires_at <= ?`, now.UnixMicro()); err != nil {
				return fmt.Errorf("delete expired idempotency records: %w", err)
			}
			r, err := scanIdempotency(tx.QueryRowContext(ctx, `SELECT `+idempotencyColumns+`
				FROM idempotency_records WHERE actor = ? AND idem_key = ?`, idem.Actor, idem.Key))
			switch {
			case err == nil:
				existing = &r
				return apikey.ErrConflict
			case !errors.Is(err, apikey.ErrNotFound):
				return fmt.Errorf("read idempotency record: %w", err)
			}
		}
		if _, err := updateKey(ctx, tx, next.RotatedFrom, retire); err != nil {
			return err
		}
		normKey(&next)
		if err := insertKey(ctx, tx, &next); err != nil {
			return fmt.Errorf("create key %s: %w", next.ID, err)
		}
		if idem != nil {
			r := *idem
			r.CreatedAt, r.ExpiresAt = norm(r.CreatedAt), norm(r.ExpiresAt)
			_, err := tx.ExecContext(ctx, `INSERT INTO idempotency_records (`+idempotencyColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, r.Actor, r.Key, r.Fingerprint, string(r.Result), r.Sealed,
				timeValue(r.CreatedAt), timeValue(r.ExpiresAt))
			if err != nil {
				return fmt.Errorf("record idempotency key: %w", translate(err))
			}
			stored = &r
		}
		return nil
	})
	if existing != nil {
		return existing, fmt.Errorf("rotate key %s: idempotency key already used: %w", next.RotatedFrom, apikey.ErrConflict)
	}
	if err != nil {
		return nil, err
	}
	return stored, nil
}
