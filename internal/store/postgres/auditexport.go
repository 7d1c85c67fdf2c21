package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"
)

// segmentRecords is how many records a segment file of the embedded
// layout holds (internal/audit's doc.go: a stable format).
const segmentRecords = 1_000_000

// ExportAudit writes the cluster audit log, as one consistent snapshot, to
// dir in the embedded log's layout (internal/audit's doc.go, "Files"):
// segments/<first idx, 12 digits>.jsonl, hashes, checkpoints/<size, 12
// digits>.note and checkpoint, the latest. auditverify.Verify, and so
// "scopegate audit verify", check the result exactly as an embedded log.
// dir must not exist or be empty. The verifier key is not written: an
// auditor brings the one they trust.
func (db *DB) ExportAudit(ctx context.Context, dir string) error {
	if err := makeEmptyDir(dir); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		records, err := exportRecords(ctx, tx, dir)
		if err != nil {
			return err
		}
		if err := exportHashes(ctx, tx, dir, records); err != nil {
			return err
		}
		return exportCheckpoints(ctx, tx, dir, records)
	})
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	return nil
}

// makeEmptyDir creates dir, or accepts it if it exists and is empty.
func makeEmptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	for _, sub := range []string{"segments", "checkpoints"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// exportRecords writes every record's line to its segment and returns how
// many there are.
func exportRecords(ctx context.Context, tx pgx.Tx, dir string) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT idx, line FROM audit_records ORDER BY idx`)
	if err != nil {
		return 0, fmt.Errorf("read records: %w", err)
	}
	var (
		next int64
		seg  *fileWriter
		idx  int64
		line []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&idx, &line}, func() error {
		if idx != next {
			return fmt.Errorf("record %d is missing (found %d)", next, idx)
		}
		if next%segmentRecords == 0 {
			if err := seg.close(); err != nil {
				return err
			}
			var err error
			if seg, err = createFile(filepath.Join(dir, "segments", fmt.Sprintf("%012d.jsonl", next))); err != nil {
				return err
			}
		}
		next++
		seg.w.Write(line)
		return seg.w.WriteByte('\n')
	})
	if cerr := seg.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("export records: %w", err)
	}
	return next, nil
}

// exportHashes writes the stored hashes of the first records records to
// the hashes file, 32 bytes each at their index.
func exportHashes(ctx context.Context, tx pgx.Tx, dir string, records int64) error {
	want := tlog.StoredHashCount(records)
	rows, err := tx.Query(ctx, `SELECT n, hash FROM audit_tree WHERE n < $1 ORDER BY n`, want)
	if err != nil {
		return fmt.Errorf("read hashes: %w", err)
	}
	f, err := createFile(filepath.Join(dir, "hashes"))
	if err != nil {
		return err
	}
	var next, n int64
	var h []byte
	_, err = pgx.ForEachRow(rows, []any{&n, &h}, func() error {
		if n != next || len(h) != tlog.HashSize {
			return fmt.Errorf("stored hash %d is missing or malformed", next)
		}
		next++
		_, err := f.w.Write(h)
		return err
	})
	if err == nil && next != want {
		err = fmt.Errorf("%d stored hashes for %d records, want %d", next, records, want)
	}
	if cerr := f.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export hashes: %w", err)
	}
	return nil
}

// exportCheckpoints writes every checkpoint to checkpoints/ and the latest
// to checkpoint.
func exportCheckpoints(ctx context.Context, tx pgx.Tx, dir string, records int64) error {
	rows, err := tx.Query(ctx, `SELECT size, note FROM audit_checkpoints WHERE size <= $1 ORDER BY size`, records)
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	var size int64
	var msg, latest []byte
	_, err = pgx.ForEachRow(rows, []any{&size, &msg}, func() error {
		latest = msg
		return writeFile(filepath.Join(dir, "checkpoints", fmt.Sprintf("%012d.note", size)), msg)
	})
	if err == nil && latest != nil {
		err = writeFile(filepath.Join(dir, "checkpoint"), latest)
	}
	if err != nil {
		return fmt.Errorf("export checkpoints: %w", err)
	}
	return nil
}

// fileWriter is a new file being written through a buffer.
type fileWriter struct {
	f *os.File
	w *bufio.Writer
}

func createFile(path string) (*fileWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &fileWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// close flushes, syncs and closes the file; a nil fileWriter is a no-op.
func (fw *fileWriter) close() error {
	if fw == nil {
		return nil
	}
	err := fw.w.Flush()
	if err == nil {
		err = fw.f.Sync()
	}
	return errors.Join(err, fw.f.Close())
}

// writeFile creates path with data.
func writeFile(path string, data []byte) error {
	f, err := createFile(path)
	if err != nil {
		return err
	}
	f.w.Write(data)
	return f.close()
}
