package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scopegate/scopegate/internal/apikey"
)

// ChangesChannel is the LISTEN/NOTIFY channel on which every committed key
// and principal change is announced, so that each replica can drop what
// it caches of the changed record. The channel is database-wide: replicas
// of two deployments in one database (different schemas) see each other's
// notifications, which costs them cache misses and nothing else.
const ChangesChannel = "scopegate_changes"

// Change names the record a notification on [ChangesChannel] is about:
// exactly one of Key and Principal is set. Its JSON form, the payload,
// is {"key":"<id>"} or {"principal":"<id>"}; it never carries more than
// ids, which are not secret.
type Change struct {
	Key       apikey.ID          `json:"key,omitempty"`
	Principal apikey.PrincipalID `json:"principal,omitempty"`
}

// notifyChange announces c inside tx. PostgreSQL delivers the notification
// only when tx commits, and not at all if it rolls back, so a listener
// never hears of a change that did not happen, nor misses one that did
// while its connection was up.
func notifyChange(ctx context.Context, tx pgx.Tx, c Change) error {
	payload, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ChangesChannel, string(payload)); err != nil {
		return fmt.Errorf("notify change: %w", err)
	}
	return nil
}

// parseChange decodes a notification's payload.
func parseChange(payload string) (Change, error) {
	var c Change
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		return Change{}, fmt.Errorf("change notification %q: %w", payload, err)
	}
	if (c.Key == "") == (c.Principal == "") {
		return Change{}, fmt.Errorf("change notification %q: want exactly one of key and principal", payload)
	}
	return c, nil
}
