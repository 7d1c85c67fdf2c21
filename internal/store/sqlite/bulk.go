package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/scopegate/scopegate/internal/apikey"
)

// CreateKeys stores keys in one transaction: all or none. It is for
// seeding a store with many keys ("scopegate bench seed"), where one
// transaction, and so one sync, per key would take hours for a million.
// Like CreateKey it returns ErrConflict for an existing id and ErrNotFound
// for a missing principal.
func (db *DB) CreateKeys(ctx context.Context, keys []apikey.Key) error {
	if len(keys) == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO api_keys (`+unqualified(keyColumns)+`)
			VALUES (`+placeholders(strings.Count(keyColumns, ",")+1)+`)`)
		if err != nil {
			return fmt.Errorf("create keys: %w", err)
		}
		defer stmt.Close()
		for i := range keys {
			args, err := keyArgs(&keys[i])
			if err == nil {
				_, err = stmt.ExecContext(ctx, args...)
			}
			if err != nil {
				return fmt.Errorf("create key %s: %w", keys[i].ID, translate(err))
			}
		}
		return nil
	})
}
