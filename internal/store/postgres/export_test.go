package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// QueryRowForTest runs a query on db's pool, for the external tests.
func QueryRowForTest(ctx context.Context, db *DB, sql string, args ...any) pgx.Row {
	return db.pool.QueryRow(ctx, sql, args...)
}

// AuditRecordForTest is a row of audit_records.
type AuditRecordForTest struct {
	Idx  int64
	TS   time.Time
	Line []byte
}

// AuditRecordsForTest returns every row of audit_records in idx order.
func AuditRecordsForTest(ctx context.Context, db *DB) ([]AuditRecordForTest, error) {
	rows, err := db.pool.Query(ctx, `SELECT idx, ts, line FROM audit_records ORDER BY idx`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[AuditRecordForTest])
}

// AuditCheckpointsForTest returns every stored checkpoint in size order.
func AuditCheckpointsForTest(ctx context.Context, db *DB) ([][]byte, error) {
	rows, err := db.pool.Query(ctx, `SELECT note FROM audit_checkpoints ORDER BY size`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[[]byte])
}
