package postgres

import (
	"context"
	"fmt"

	"github.com/scopegate/scopegate/internal/audit"
)

// The cluster audit log keeps the embedded log's records, tree and
// checkpoints in four tables (migration 5) instead of files:
//
//	audit_pending      bodies committed by every replica, not yet numbered
//	audit_records      the log: idx, ts and the line, exactly as audit.Encode writes it
//	audit_tree         the tree's stored hashes by stored-hash index (the hashes file)
//	audit_checkpoints  every signed checkpoint, by size
//
// Writing an event is one INSERT into audit_pending ([AuditAppender]); its
// commit is the durability point (no record, no call). One replica at a
// time, the holder of an advisory lock, numbers pending bodies into
// records, extends the tree and signs checkpoints ([AuditSequencer]).
// [DB.ExportAudit] writes the log in the embedded layout, so that
// auditverify.Verify checks both modes alike.

// AuditAppender writes audit events into the cluster log's pending table.
// It is safe for concurrent use by any number of replicas.
type AuditAppender struct {
	db *DB
}

// NewAuditAppender returns an appender that writes through db's pool.
func NewAuditAppender(db *DB) *AuditAppender {
	return &AuditAppender{db: db}
}

// Append encodes e (audit.EncodeBody) and inserts it into audit_pending in
// a transaction of its own, returning once that has committed: the event
// is then durable and will be sequenced, whichever replica sequences.
// Events appended one after another by one caller are sequenced in that
// order. An error means the event may or may not have been recorded (the
// commit's answer can be lost), so the caller must fail closed; a
// recorded event without its call is harmless, the reverse is not.
//
// Append does not return the record's index: it is assigned later, by the
// sequencer.
func (a *AuditAppender) Append(ctx context.Context, e audit.Event) error {
	body, err := audit.EncodeBody(e)
	if err != nil {
		return err
	}
	// A single statement outside a transaction block is its own
	// transaction: it has committed when Exec returns.
	if _, err := a.db.pool.Exec(ctx, `INSERT INTO audit_pending (body) VALUES ($1)`, body); err != nil {
		return fmt.Errorf("append audit event %s: %w", e.EventName(), err)
	}
	return nil
}
