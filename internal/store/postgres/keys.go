package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/scopegate/scopegate/internal/apikey"
)

// keyColumns lists the columns in the order scanKey reads them and keyArgs
// writes them.
const keyColumns = `k.id, k.class, k.name, k.principal, k.scopes, k.env, k.not_before, k.expires_at, k.cidrs,
	k.requests_per_minute, k.tokens_per_minute, k.concurrent, k.tokens_per_day, k.tokens_per_month,
	k.cost_per_day, k.cost_per_month,
	k.status, k.hash, k.last4, k.rotated_from, k.replaced_by,
	k.last_used_at, k.created_at, k.updated_at, k.revoked_at, k.created_by, k.updated_by, k.revoked_by`

func scanKey(row pgx.Row) (apikey.Key, error) {
	var (
		k                         apikey.Key
		scopes                    string
		cidrs                     []string
		hash                      []byte
		notBefore, expires, used  pgtype.Timestamptz
		created, updated, revoked pgtype.Timestamptz
	)
	err := row.Scan(&k.ID, &k.Class, &k.Name, &k.Principal, &scopes, &k.Env, &notBefore, &expires, &cidrs,
		&k.Limits.RequestsPerMinute, &k.Limits.TokensPerMinute, &k.Limits.Concurrent,
		&k.Limits.TokensPerDay, &k.Limits.TokensPerMonth,
		&k.Limits.CostPerDay, &k.Limits.CostPerMonth,
		&k.Status, &hash, &k.Last4, &k.RotatedFrom, &k.ReplacedBy,
		&used, &created, &updated, &revoked, &k.CreatedBy, &k.UpdatedBy, &k.RevokedBy)
	if err != nil {
		return apikey.Key{}, translate(err)
	}
	if k.Scopes, err = scopesOf(scopes); err != nil {
		return apikey.Key{}, fmt.Errorf("key %s: %w", k.ID, err)
	}
	if k.CIDRs, err = cidrsOf(cidrs); err != nil {
		return apikey.Key{}, fmt.Errorf("key %s: %w", k.ID, err)
	}
	if k.Hash, err = hashOf(hash); err != nil {
		return apikey.Key{}, fmt.Errorf("key %s: %w", k.ID, err)
	}
	k.NotBefore, k.ExpiresAt, k.LastUsedAt = timeOf(notBefore), timeOf(expires), timeOf(used)
	k.CreatedAt, k.UpdatedAt, k.RevokedAt = timeOf(created), timeOf(updated), timeOf(revoked)
	return k, nil
}

// keyArgs returns k's column values in keyColumns order.
func keyArgs(k *apikey.Key) ([]any, error) {
	scopes, err := scopesValue(k.Scopes)
	if err != nil {
		return nil, err
	}
	return []any{string(k.ID), string(k.Class), k.Name, string(k.Principal), scopes, string(k.Env),
		timeValue(k.NotBefore), timeValue(k.ExpiresAt), cidrsValue(k.CIDRs),
		k.Limits.RequestsPerMinute, k.Limits.TokensPerMinute, k.Limits.Concurrent,
		k.Limits.TokensPerDay, k.Limits.TokensPerMonth,
		int64(k.Limits.CostPerDay), int64(k.Limits.CostPerMonth),
		string(k.Status), k.Hash[:], k.Last4, string(k.RotatedFrom), string(k.ReplacedBy),
		timeValue(k.LastUsedAt), timeValue(k.CreatedAt), timeValue(k.UpdatedAt), timeValue(k.RevokedAt),
		k.CreatedBy, k.UpdatedBy, k.RevokedBy}, nil
}

// normKey makes k what it will read back as.
func normKey(k *apikey.Key) {
	k.NotBefore, k.ExpiresAt, k.LastUsedAt = norm(k.NotBefore), norm(k.ExpiresAt), norm(k.LastUsedAt)
	k.CreatedAt, k.UpdatedAt, k.RevokedAt = norm(k.CreatedAt), norm(k.UpdatedAt), norm(k.RevokedAt)
	if len(k.CIDRs) == 0 {
		k.CIDRs = nil
	}
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// CreateKey stores k; ErrConflict if its id exists, ErrNotFound if its
// principal does not.
func (db *DB) CreateKey(ctx context.Context, k apikey.Key) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := insertKey(ctx, tx, &k); err != nil {
			return err
		}
		return notifyChange(ctx, tx, Change{Key: k.ID})
	})
	if err != nil {
		return fmt.Errorf("create key %s: %w", k.ID, err)
	}
	return nil
}

func insertKey(ctx context.Context, ex execer, k *apikey.Key) error {
	args, err := keyArgs(k)
	if err != nil {
		return err
	}
	_, err = ex.Exec(ctx, `INSERT INTO api_keys (`+unqualified(keyColumns)+`)
		VALUES (`+placeholders(len(args))+`)`, args...)
	return translate(err)
}

// Key returns the key with id, or ErrNotFound.
func (db *DB) Key(ctx context.Context, id apikey.ID) (apikey.Key, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys k WHERE k.id = $1`, string(id)))
	if err != nil {
		return apikey.Key{}, fmt.Errorf("key %s: %w", id, err)
	}
	return k, nil
}

// Keys returns a page of keys ordered by id.
func (db *DB) Keys(ctx context.Context, f apikey.KeyFilter) (apikey.Page[apikey.Key], error) {
	from := ` FROM api_keys k`
	var w where
	if f.After != "" {
		w.add("k.id > ?", string(f.After))
	}
	if f.Principal != "" {
		w.add("k.principal = ?", string(f.Principal))
	}
	if f.Team != "" {
		from += ` JOIN principals p ON p.id = k.principal`
		w.add("p.team = ?", f.Team)
	}
	if f.Status != "" {
		w.add("k.status = ?", string(f.Status))
	}
	limit := apikey.PageSize(f.Limit)
	q := `SELECT ` + keyColumns + from + w.sql() + ` ORDER BY k.id LIMIT ` + w.next(limit+1)
	rows, err := db.pool.Query(ctx, q, w.args...)
	if err != nil {
		return apikey.Page[apikey.Key]{}, fmt.Errorf("list keys: %w", err)
	}
	items, err := collect(rows, scanKey)
	if err != nil {
		return apikey.Page[apikey.Key]{}, fmt.Errorf("list keys: %w", err)
	}
	return page(items, limit, func(k apikey.Key) string { return string(k.ID) }), nil
}

// UpdateKey reads the key, calls fn on it, and stores the result, all in
// one transaction that holds the row's lock; fn's error is returned as is.
// A change of id or hash by fn is refused.
func (db *DB) UpdateKey(ctx context.Context, id apikey.ID, fn func(*apikey.Key) error) (apikey.Key, error) {
	var k apikey.Key
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		k, err = updateKey(ctx, tx, id, fn)
		return err
	})
	if err != nil {
		return apikey.Key{}, err
	}
	return k, nil
}

// updateKey is UpdateKey inside tx; Rotate uses it to retire the old key.
// It announces the change on ChangesChannel, in tx.
func updateKey(ctx context.Context, tx pgx.Tx, id apikey.ID, fn func(*apikey.Key) error) (apikey.Key, error) {
	k, err := scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys k WHERE k.id = $1 FOR UPDATE`, string(id)))
	if err != nil {
		return apikey.Key{}, fmt.Errorf("update key %s: %w", id, err)
	}
	hash := k.Hash
	if err := fn(&k); err != nil {
		return apikey.Key{}, err
	}
	if k.ID != id || k.Hash != hash {
		return apikey.Key{}, fmt.Errorf("update key %s: the id and hash cannot change", id)
	}
	normKey(&k)
	args, err := keyArgs(&k)
	if err != nil {
		return apikey.Key{}, fmt.Errorf("update key %s: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE api_keys SET `+assignments(keyColumns)+` WHERE id = $1`, args...); err != nil {
		return apikey.Key{}, fmt.Errorf("update key %s: %w", id, translate(err))
	}
	if err := notifyChange(ctx, tx, Change{Key: id}); err != nil {
		return apikey.Key{}, fmt.Errorf("update key %s: %w", id, err)
	}
	return k, nil
}

// TouchKeys sets last_used_at for many keys in one transaction and one
// round trip, never moving it backwards. Unknown ids are ignored. Rows are
// updated in id order so that concurrent batches lock them in the same
// order and cannot deadlock.
func (db *DB) TouchKeys(ctx context.Context, used map[apikey.ID]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, id := range slices.Sorted(maps.Keys(used)) {
		t := used[id]
		if t.IsZero() {
			continue // "never used" cannot be newer than anything
		}
		b.Queue(`UPDATE api_keys SET last_used_at = $2
			WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, string(id), t)
	}
	if b.Len() == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("touch %d keys: %w", len(used), err)
	}
	return nil
}
