package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/scopegate/scopegate/internal/apikey"
)

const idempotencyColumns = `actor, idem_key, fingerprint, result, sealed, created_at, expires_at`

func scanIdempotency(row pgx.Row) (apikey.Idempotency, error) {
	var (
		r                apikey.Idempotency
		created, expires pgtype.Timestamptz
	)
	if err := row.Scan(&r.Actor, &r.Key, &r.Fingerprint, &r.Result, &r.Sealed, &created, &expires); err != nil {
		return apikey.Idempotency{}, translate(err)
	}
	r.CreatedAt, r.ExpiresAt = timeOf(created), timeOf(expires)
	return r, nil
}

// Idempotency returns the record for actor and key, or ErrNotFound. A
// record past its ExpiresAt is not found.
func (db *DB) Idempotency(ctx context.Context, actor, key string) (apikey.Idempotency, error) {
	r, err := scanIdempotency(db.pool.QueryRow(ctx, `SELECT `+idempotencyColumns+`
		FROM idempotency_records
		WHERE actor = $1 AND idem_key = $2 AND (expires_at IS NULL OR expires_at > $3)`,
		actor, key, db.Now()))
	if err != nil {
		return apikey.Idempotency{}, fmt.Errorf("idempotency record: %w", err)
	}
	return r, nil
}

// idempotencyLockSpace is the first half of the two-part advisory lock
// keys that Rotate takes on idempotency keys ("sgid"). Two-part keys never
// collide with the one-part migrationLock.
const idempotencyLockSpace int32 = 0x73676964

// idempotencyLock returns the second half of the advisory lock key for an
// idempotency key. Two keys that hash alike only wait for each other.
func idempotencyLock(actor, key string) int32 {
	h := fnv.New32a()
	h.Write([]byte(actor))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return int32(h.Sum32())
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
	var existing, stored *apikey.Idempotency
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		now := db.Now()
		if idem != nil {
			// The lock makes a concurrent retry of the same request wait
			// here and then find this one's record, rather than race it to
			// the old key's row lock and fail there.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`,
				idempotencyLockSpace, idempotencyLock(idem.Actor, idem.Key)); err != nil {
				return fmt.Errorf("lock idempotency key: %w", err)
			}
			// Expired records are deleted here, lazily, rather than by a
			// background job; this one's key may be among them.
			if _, err := tx.Exec(ctx, `DELETE FROM idempotency_records WHERE expires_at <= $1`, now); err != nil {
				return fmt.Errorf("delete expired idempotency records: %w", err)
			}
			r, err := scanIdempotency(tx.QueryRow(ctx, `SELECT `+idempotencyColumns+`
				FROM idempotency_records WHERE actor = $1 AND idem_key = $2`, idem.Actor, idem.Key))
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
		if err := notifyChange(ctx, tx, Change{Key: next.ID}); err != nil {
			return err
		}
		if idem != nil {
			r := *idem
			r.CreatedAt, r.ExpiresAt = norm(r.CreatedAt), norm(r.ExpiresAt)
			_, err := tx.Exec(ctx, `INSERT INTO idempotency_records (`+idempotencyColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.Actor, r.Key, r.Fingerprint, string(r.Result), r.Sealed,
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
