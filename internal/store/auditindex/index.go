// Package auditindex keeps a query index over the audit log's records in its
// own SQLite file (index.db in the log directory): for each record, its
// position, time, event, key, principal, feature and decision, so the admin
// API can find matching records without scanning every segment.
//
// The index is derived data. It is built from the records and nothing
// else, it can be deleted at any time and is rebuilt on the next
// [Index.CatchUp], and it is never used for verification: proofs and
// "audit verify" read the segment files and the tree hashes only. A wrong
// or stale index can make a query miss or return records, never make a
// record look authentic.
//
// # Rebuilding
//
// [Open] drops a file that SQLite cannot read or that an older schema
// wrote, and starts empty. [Index.CatchUp] re-reads the last indexed record
// before going on; if the log no longer holds it (the log was replaced by a
// shorter one, or by another log), the index is emptied and rebuilt from
// position 0.
package auditindex

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// schemaVersion is stored in PRAGMA user_version. The index is derived, so
// there are no migrations: a file with another version is dropped and
// rebuilt.
const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS records (
	idx       INTEGER PRIMARY KEY,
	ts        TEXT, -- fixed-width UTC with nanoseconds (tsLayout), so text order is time order; NULL if unparsable
	event     TEXT NOT NULL,
	key       TEXT NOT NULL, -- the key id, or an admin event's target
	principal TEXT NOT NULL,
	feature   TEXT NOT NULL,
	decision  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_key ON records (key, idx);
CREATE INDEX IF NOT EXISTS records_principal ON records (principal, idx);
CREATE INDEX IF NOT EXISTS records_event ON records (event, idx);
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
`

// tsLayout is how times are stored and compared: fixed width, so that
// comparing the text compares the times.
const tsLayout = "2006-01-02T15:04:05.000000000Z"

// batchSize is how many records CatchUp commits at once, so a large catch
// up keeps its progress if it is interrupted.
const batchSize = 1000

// busyTimeout is how long a connection waits for another's lock.
const busyTimeout = 5 * time.Second

// Index is an open index file. It is safe for concurrent use; catch-ups
// run one at a time.
type Index struct {
	path string
	db   *sql.DB
	mu   sync.Mutex // held by CatchUp
}

// Open opens the index file at path, creating it if needed. A file that
// cannot be read as an index of this version is removed and created anew.
// The caller must Close the Index.
func Open(ctx context.Context, path string) (*Index, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open audit index %s: %w", path, err)
	}
	ix, err := open(ctx, abs)
	if err == nil {
		return ix, nil
	}
	// Derived data: whatever is wrong with the file, start again.
	if rmErr := remove(abs); rmErr != nil {
		return nil, fmt.Errorf("open audit index %s: %w (and removing it: %w)", path, err, rmErr)
	}
	if ix, err = open(ctx, abs); err != nil {
		return nil, fmt.Errorf("open audit index %s: %w", path, err)
	}
	return ix, nil
}

// open opens the file at abs and checks that it is an index of this
// schema version, creating the schema in an empty file.
func open(ctx context.Context, abs string) (*Index, error) {
	// The index holds key ids and principals: only scopegate's user may
	// read it. SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, err
	}
	ix := &Index{path: abs, db: db}
	if err := ix.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return ix, nil
}

func (ix *Index) init(ctx context.Context) error {
	var ok string
	if err := ix.db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&ok); err != nil {
		return err
	}
	if ok != "ok" {
		return fmt.Errorf("corrupt: %s", ok)
	}
	var version int
	if err := ix.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	switch version {
	case schemaVersion:
		return nil
	case 0:
		if _, err := ix.db.ExecContext(ctx, schema); err != nil {
			return err
		}
		_, err := ix.db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	default:
		return fmt.Errorf("schema version %d, want %d", version, schemaVersion)
	}
}

// remove removes the index file at abs and SQLite's files beside it.
func remove(abs string) error {
	var errs []error
	for _, p := range []string{abs, abs + "-wal", abs + "-shm", abs + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dsn returns the modernc.org/sqlite data source name for the file at abs,
// written as a file: URI so no character of the path reads as a parameter.
func dsn(abs string) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_txlock", "immediate")
	// In WAL mode NORMAL may lose the last commits on a power cut but
	// never corrupts the file; lost records are indexed again.
	q.Set("_synchronous", "NORMAL")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // a Windows drive path
	}
	return u.String()
}

// Close closes the index file. Calls in progress may fail.
func (ix *Index) Close() error {
	if err := ix.db.Close(); err != nil {
		return fmt.Errorf("close audit index %s: %w", ix.path, err)
	}
	return nil
}

// row is what the index keeps of a record.
type row struct {
	Idx       int64  `json:"idx"`
	TS        string `json:"ts"`
	Event     string `json:"event"`
	Key       string `json:"key"`
	Target    string `json:"target"`
	Principal string `json:"principal"`
	Feature   string `json:"feature"`
	Decision  string `json:"decision"`
}

// parseRow reads the indexed fields of a record line.
func parseRow(line []byte) (row, error) {
	var r row
	if err := json.Unmarshal(line, &r); err != nil {
		return row{}, fmt.Errorf("audit record is not JSON: %w", err)
	}
	if r.Key == "" {
		r.Key = r.Target // admin events name the key they act on, if any, as target
	}
	return r, nil
}

// tsValue is the stored form of a record's time, or nil when the record's
// time does not parse (a time filter then never matches it).
func tsValue(s string) any {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.UTC().Year() < 0 || t.UTC().Year() > 9999 {
		return nil
	}
	return t.UTC().Format(tsLayout)
}

// last returns the position and time of the last indexed record, and
// false if the index is empty.
func (ix *Index) last(ctx context.Context) (idx int64, ts sql.NullString, ok bool, err error) {
	err = ix.db.QueryRowContext(ctx, "SELECT idx, ts FROM records ORDER BY idx DESC LIMIT 1").Scan(&idx, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ts, false, nil
	}
	return idx, ts, err == nil, err
}

// errMismatch stops the re-read of the last indexed record when the log
// holds something else there.
var errMismatch = errors.New("the log does not hold the last indexed record")

// CatchUp indexes the records the index does not hold yet. read must call
// fn with each complete record line at position from or later, in order;
// it may return fn's errors as they are. CatchUp first re-reads the last
// indexed record: if the log does not hold it any more, the index is
// emptied and rebuilt from position 0. Records are committed in batches,
// so an interrupted CatchUp keeps what it indexed.
func (ix *Index) CatchUp(ctx context.Context, read func(from int64, fn func(line []byte) error) error) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	lastIdx, lastTS, ok, err := ix.last(ctx)
	if err != nil {
		return fmt.Errorf("audit index: %w", err)
	}
	from := int64(0)
	if ok {
		from = lastIdx
		held, err := ix.holdsLast(read, lastIdx, lastTS)
		if err != nil {
			return err
		}
		if !held {
			if _, err := ix.db.ExecContext(ctx, "DELETE FROM records"); err != nil {
				return fmt.Errorf("audit index: rebuild: %w", err)
			}
			from = 0
		} else {
			from = lastIdx + 1
		}
	}
	return ix.index(ctx, read, from)
}

// holdsLast reports whether the log still holds the last indexed record at
// idx with the time ts.
func (ix *Index) holdsLast(read func(int64, func([]byte) error) error, idx int64, ts sql.NullString) (bool, error) {
	held := false
	err := read(idx, func(line []byte) error {
		r, err := parseRow(line)
		if err != nil {
			return err
		}
		got, _ := tsValue(r.TS).(string)
		if r.Idx != idx || !ts.Valid || got != ts.String {
			return errMismatch
		}
		held = true
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) && !errors.Is(err, errMismatch) {
		return false, fmt.Errorf("audit index: read record %d: %w", idx, err)
	}
	return held, nil
}

// errStop ends a read early.
var errStop = errors.New("stop")

// index adds the records from position from on, in batches.
func (ix *Index) index(ctx context.Context, read func(int64, func([]byte) error) error, from int64) error {
	var (
		tx   *sql.Tx
		stmt *sql.Stmt
		n    int
	)
	defer func() {
		if tx != nil {
			tx.Rollback()
		}
	}()
	commit := func() error {
		if tx == nil {
			return nil
		}
		err := tx.Commit()
		tx, stmt, n = nil, nil, 0
		return err
	}
	next := from
	err := read(from, func(line []byte) error {
		r, err := parseRow(line)
		if err != nil {
			return err
		}
		if r.Idx < next {
			return nil // read may start before from
		}
		if r.Idx != next {
			return fmt.Errorf("record %d follows record %d: positions must be consecutive", r.Idx, next-1)
		}
		if tx == nil {
			if tx, err = ix.db.BeginTx(ctx, nil); err != nil {
				return err
			}
			if stmt, err = tx.PrepareContext(ctx, `INSERT INTO records (idx, ts, event, key, principal, feature, decision)
				VALUES (?, ?, ?, ?, ?, ?, ?)`); err != nil {
				return err
			}
		}
		if _, err := stmt.ExecContext(ctx, r.Idx, tsValue(r.TS), r.Event, r.Key, r.Principal, r.Feature, r.Decision); err != nil {
			return err
		}
		next++
		if n++; n == batchSize {
			return commit()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit index: index from %d: %w", from, err)
	}
	if err := commit(); err != nil {
		return fmt.Errorf("audit index: commit: %w", err)
	}
	return nil
}

// Filter selects records. Empty fields select everything; the others must
// all match.
type Filter struct {
	// Key matches a record's key id, or an admin event's target.
	Key, Principal, Event, Decision, Feature string
	// Since and Until bound the record time: Since ≤ ts < Until.
	Since, Until time.Time
	// After is the first position to list.
	After int64
	// Limit is the most positions to return, at least 1.
	Limit int
}

// Query returns the positions of the records matching f, in order, from
// f.After on and at most f.Limit of them, and next, the position of the
// following match or -1 if there is none. It answers from what the index
// holds: call CatchUp first to include the latest records.
func (ix *Index) Query(ctx context.Context, f Filter) (idxs []int64, next int64, err error) {
	if f.Limit < 1 {
		return nil, -1, fmt.Errorf("audit index: limit %d: must be at least 1", f.Limit)
	}
	where := []string{"idx >= ?"}
	args := []any{f.After}
	for _, c := range []struct{ col, val string }{
		{"key", f.Key}, {"principal", f.Principal}, {"event", f.Event},
		{"decision", f.Decision}, {"feature", f.Feature},
	} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "ts >= ?")
		args = append(args, f.Since.UTC().Format(tsLayout))
	}
	if !f.Until.IsZero() {
		where = append(where, "ts < ?")
		args = append(args, f.Until.UTC().Format(tsLayout))
	}
	args = append(args, f.Limit+1)
	q := "SELECT idx FROM records WHERE " + strings.Join(where, " AND ") + " ORDER BY idx LIMIT ?"
	rows, err := ix.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, -1, fmt.Errorf("audit index: query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		if err := rows.Scan(&idx); err != nil {
			return nil, -1, fmt.Errorf("audit index: query: %w", err)
		}
		idxs = append(idxs, idx)
	}
	if err := rows.Err(); err != nil {
		return nil, -1, fmt.Errorf("audit index: query: %w", err)
	}
	next = -1
	if len(idxs) > f.Limit {
		next, idxs = idxs[f.Limit], idxs[:f.Limit]
	}
	return idxs, next, nil
}
