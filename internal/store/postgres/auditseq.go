package postgres

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scopegate/scopegate/internal/audit"
)

// AuditSequencer defaults.
const (
	// DefaultSequencerPoll is how often a sequencer looks for pending
	// events when it leads, and tries to take the lead when it does not.
	DefaultSequencerPoll = 200 * time.Millisecond
	// DefaultCheckpointInterval is the least time between two checkpoints,
	// as in the embedded log.
	DefaultCheckpointInterval = time.Second
	// defaultSequencerBatch is the most pending events moved per
	// transaction.
	defaultSequencerBatch = 1000
	// roundTimeout bounds one round's transaction, so that a connection
	// that hangs is given up rather than waited on forever.
	roundTimeout = 30 * time.Second
)

// auditLockClass is the high half of the sequencer's advisory lock key
// ("audt"); the low half is the oid of the audit_records table, so that
// logs in different schemas of one database each have a sequencer.
const auditLockClass int64 = 0x61756474

// sqlAuditLock is the key of the sequencer's advisory lock, $1 being
// auditLockClass. Advisory locks are database-wide; the table's oid ties
// this one to the schema that search_path selects.
const sqlAuditLock = `(($1::bigint << 32) | 'audit_records'::regclass::oid::bigint)`

// AuditSequencerOptions are an AuditSequencer's optional settings.
type AuditSequencerOptions struct {
	// Logger receives lead changes and failures; nil discards.
	Logger *slog.Logger
	// Poll is DefaultSequencerPoll if zero.
	Poll time.Duration
	// CheckpointInterval is DefaultCheckpointInterval if zero.
	CheckpointInterval time.Duration
	// BatchSize is the most events sequenced per transaction (default
	// 1000).
	BatchSize int
	// Now is the clock of the records' ts (default time.Now). Each batch
	// reads it once; a ts earlier than the log's last is raised to it.
	Now func() time.Time
	// Tap, if set, is given every record this sequencer sequenced, in
	// index order, after its round committed: on the leader only. Like
	// audit.LogOptions.Tap it must not block.
	Tap func(audit.Record)
}

// AuditSequencer turns the events every replica commits to audit_pending
// into the numbered, hashed and signed cluster audit log. Every replica
// runs one; only the holder of a session advisory lock (on a connection of
// its own, not from the pool) sequences, and it runs every sequencing
// transaction on that same connection: if its session ends, for whatever
// reason, the lock and any transaction in flight end with it, so a former
// leader can never write beside a new one. Another replica's sequencer
// takes the lock within its poll interval and continues from the log's
// last record.
//
// Run runs it; Leading may be called concurrently.
type AuditSequencer struct {
	cfg    *pgx.ConnConfig
	signer note.Signer
	opts   AuditSequencerOptions

	mu      sync.Mutex
	leading bool
}

// NewAuditSequencer returns a sequencer for the log in db's database (and
// schema), signing checkpoints with signer, whose name is the log's origin.
// Every replica must hold the same signing key. It connects with db's
// connection settings but not through its pool.
func NewAuditSequencer(db *DB, signer note.Signer, opts AuditSequencerOptions) *AuditSequencer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultSequencerPoll
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultSequencerBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &AuditSequencer{cfg: db.pool.Config().ConnConfig, signer: signer, opts: opts}
}

// Leading reports whether this sequencer holds the lock, as far as it
// knows: a session the server has just ended may still be reported until
// the sequencer's next query fails.
func (s *AuditSequencer) Leading() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leading
}

func (s *AuditSequencer) setLeading(v bool) {
	s.mu.Lock()
	s.leading = v
	s.mu.Unlock()
}

// Run competes for the lead and sequences while it holds it, until ctx is
// done; it then ends its session, which hands the lead over, and returns
// nil. A lost connection or a failed round ends the session too; Run
// reconnects with backoff.
func (s *AuditSequencer) Run(ctx context.Context) error {
	backoff := minBackoff
	for {
		start := time.Now()
		err := s.session(ctx)
		s.setLeading(false)
		if ctx.Err() != nil {
			return nil
		}
		s.opts.Logger.ErrorContext(ctx, "audit sequencer: session ended", "err", err)
		if time.Since(start) > maxBackoff {
			backoff = minBackoff
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// seqState is what the leader knows of the log between rounds.
type seqState struct {
	size       uint64    // records in the log
	signedSize uint64    // size of the latest checkpoint
	signedAt   time.Time // when this leader signed last; zero at takeover
}

// session connects, then tries for the lock every poll and, once it holds
// it, sequences every poll, until an error or ctx ends it.
func (s *AuditSequencer) session(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, roundTimeout)
	conn, err := pgx.ConnectConfig(cctx, s.cfg.Copy())
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// Ending the session releases the lock.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		conn.Close(cctx)
		cancel()
	}()
	var st seqState
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		if !s.Leading() {
			got, err := s.tryLead(ctx, conn, &st)
			if err != nil {
				return err
			}
			if got {
				s.setLeading(true)
				s.opts.Logger.InfoContext(ctx, "audit sequencer: leading", "size", st.size, "pid", conn.PgConn().PID())
			}
		}
		if s.Leading() {
			if err := s.work(ctx, conn, &st); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// tryLead takes the lock if it is free and then reads the log's state.
func (s *AuditSequencer) tryLead(ctx context.Context, conn *pgx.Conn, st *seqState) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+sqlAuditLock+`)`, auditLockClass).Scan(&got); err != nil {
		return false, fmt.Errorf("try the sequencer lock: %w", err)
	}
	if !got {
		return false, nil
	}
	var size, hashes, signed int64
	err := conn.QueryRow(ctx, `SELECT
		coalesce((SELECT max(idx) + 1 FROM audit_records), 0),
		coalesce((SELECT max(n) + 1 FROM audit_tree), 0),
		coalesce((SELECT max(size) FROM audit_checkpoints), 0)`).Scan(&size, &hashes, &signed)
	if err != nil {
		return false, fmt.Errorf("read the audit log's state: %w", err)
	}
	// Records and their hashes are committed together: anything else is
	// damage that sequencing on top of would hide.
	if hashes != tlog.StoredHashCount(size) {
		return false, fmt.Errorf("audit log of %d records has %d stored hashes, want %d", size, hashes, tlog.StoredHashCount(size))
	}
	*st = seqState{size: uint64(size), signedSize: uint64(signed)}
	return true, nil
}

// work sequences rounds until fewer events than a batch are pending,
// signing a checkpoint whenever one is due.
func (s *AuditSequencer) work(ctx context.Context, conn *pgx.Conn, st *seqState) error {
	for {
		n, err := s.round(ctx, conn, st)
		if err != nil {
			return err
		}
		if err := s.maybeSign(ctx, conn, st); err != nil {
			return err
		}
		if n < s.opts.BatchSize {
			return nil
		}
	}
}

// pendingEvent is a row of audit_pending.
type pendingEvent struct {
	id   int64
	body []byte
}

// round moves up to a batch of pending events, in id order, into the log
// in one transaction, with one timestamp, and extends the tree. It returns
// how many it moved. Events committed after the DELETE's snapshot are left
// for the next round.
func (s *AuditSequencer) round(ctx context.Context, conn *pgx.Conn, st *seqState) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("sequence audit events: %w", err)
	}
	defer tx.Rollback(ctx) // after Commit, a no-op
	rows, err := tx.Query(ctx, `DELETE FROM audit_pending WHERE id IN (
		SELECT id FROM audit_pending ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, body`, s.opts.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("sequence audit events: %w", err)
	}
	batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pendingEvent, error) {
		var p pendingEvent
		err := r.Scan(&p.id, &p.body)
		return p, err
	})
	if err != nil {
		return 0, fmt.Errorf("sequence audit events: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	slices.SortFunc(batch, func(a, b pendingEvent) int { return cmp.Compare(a.id, b.id) })

	// Read from the log rather than trusted from memory: the primary key
	// and this read together keep idx contiguous whatever happened before.
	var size int64
	var lastTS *time.Time // NULL for an empty log
	err = tx.QueryRow(ctx, `SELECT coalesce(max(idx) + 1, 0), max(ts) FROM audit_records`).Scan(&size, &lastTS)
	if err != nil {
		return 0, fmt.Errorf("sequence audit events: read the log's end: %w", err)
	}
	if uint64(size) != st.size {
		return 0, fmt.Errorf("sequence audit events: the log has %d records, the sequencer expected %d", size, st.size)
	}
	ts := s.opts.Now().UTC().Truncate(time.Millisecond)
	if lastTS != nil && ts.Before(*lastTS) {
		ts = lastTS.UTC()
	}
	idxs, lines, ns, hashes, err := s.extend(ctx, tx, size, ts, batch)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_records (idx, ts, line)
		SELECT idx, $2, line FROM unnest($1::bigint[], $3::bytea[]) AS r (idx, line)`, idxs, ts, lines); err != nil {
		return 0, fmt.Errorf("sequence audit events: insert records: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_tree (n, hash)
		SELECT * FROM unnest($1::bigint[], $2::bytea[])`, ns, hashes); err != nil {
		return 0, fmt.Errorf("sequence audit events: insert hashes: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("sequence audit events: commit: %w", err)
	}
	st.size += uint64(len(batch))
	if s.opts.Tap != nil {
		for _, line := range lines {
			// Each line was checked to decode before it was sequenced.
			if r, err := audit.Decode(line); err == nil {
				s.opts.Tap(r)
			}
		}
	}
	return len(batch), nil
}

// extend makes the lines of batch, numbered from size with time ts, and
// their stored hashes. Each line must decode: a body that did not come
// from audit.EncodeBody stops the log here rather than be signed.
func (s *AuditSequencer) extend(ctx context.Context, tx pgx.Tx, size int64, ts time.Time, batch []pendingEvent) (idxs []int64, lines [][]byte, ns []int64, hashes [][]byte, err error) {
	tree, err := newTreeReader(ctx, tx, size)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	for i, p := range batch {
		idx := size + int64(i)
		line, err := audit.Line(uint64(idx), ts, p.body)
		if err == nil {
			_, err = audit.Decode(line)
		}
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("sequence audit events: pending event %d: %w", p.id, err)
		}
		hs, err := tlog.StoredHashes(idx, line, tree)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("sequence audit events: hash record %d: %w", idx, err)
		}
		tree.pending = append(tree.pending, hs...)
		idxs, lines = append(idxs, idx), append(lines, line)
	}
	for i, h := range tree.pending {
		ns = append(ns, tree.base+int64(i))
		hashes = append(hashes, h[:])
	}
	return idxs, lines, ns, hashes, nil
}

// maybeSign signs and stores a checkpoint over the whole log if it grew
// past the last one and CheckpointInterval has passed since this leader
// signed last.
func (s *AuditSequencer) maybeSign(ctx context.Context, conn *pgx.Conn, st *seqState) error {
	// The interval is measured on the monotonic clock; Now only dates
	// what is recorded.
	if st.size <= st.signedSize || (!st.signedAt.IsZero() && time.Since(st.signedAt) < s.opts.CheckpointInterval) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	tree, err := newTreeReader(ctx, conn, int64(st.size))
	if err != nil {
		return err
	}
	root, err := tlog.TreeHash(int64(st.size), tree)
	if err != nil {
		return fmt.Errorf("sign audit checkpoint: %w", err)
	}
	msg, err := audit.SignCheckpoint(s.signer, st.size, root)
	if err != nil {
		return err
	}
	// Ed25519 signatures are deterministic: a checkpoint of this size
	// already there is this one.
	if _, err := conn.Exec(ctx, `INSERT INTO audit_checkpoints (size, note, signed_at) VALUES ($1, $2, $3)
		ON CONFLICT (size) DO NOTHING`, int64(st.size), msg, s.opts.Now().UTC()); err != nil {
		return fmt.Errorf("store audit checkpoint: %w", err)
	}
	st.signedSize, st.signedAt = st.size, time.Now()
	return nil
}

// rowsQuerier runs queries on a connection or in a transaction.
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// treeReader is a tlog.HashReader over audit_tree as of a tree of some
// size, plus the hashes of records being added (pending), which follow.
type treeReader struct {
	ctx     context.Context
	q       rowsQuerier
	base    int64 // tlog.StoredHashCount of the tree's size: the first pending index
	known   map[int64]tlog.Hash
	pending []tlog.Hash
}

// newTreeReader reads, in one query, the hashes that adding records to a
// tree of size records, or hashing its root, needs: the roots of its
// complete subtrees, one per bit set in size. Others are read on demand.
func newTreeReader(ctx context.Context, q rowsQuerier, size int64) (*treeReader, error) {
	r := &treeReader{ctx: ctx, q: q, base: tlog.StoredHashCount(size), known: map[int64]tlog.Hash{}}
	var frontier []int64
	for level := 0; size>>level > 0; level++ {
		if (size>>level)&1 == 1 {
			frontier = append(frontier, tlog.StoredHashIndex(level, size>>level-1))
		}
	}
	if err := r.load(frontier); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads the stored hashes at indexes into known.
func (r *treeReader) load(indexes []int64) error {
	if len(indexes) == 0 {
		return nil
	}
	rows, err := r.q.Query(r.ctx, `SELECT n, hash FROM audit_tree WHERE n = ANY($1)`, indexes)
	if err != nil {
		return fmt.Errorf("read audit hashes: %w", err)
	}
	var n int64
	var h []byte
	_, err = pgx.ForEachRow(rows, []any{&n, &h}, func() error {
		if len(h) != tlog.HashSize {
			return fmt.Errorf("audit hash %d has %d bytes", n, len(h))
		}
		r.known[n] = tlog.Hash(h)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read audit hashes: %w", err)
	}
	return nil
}

// ReadHashes implements tlog.HashReader.
func (r *treeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	var missing []int64
	for _, x := range indexes {
		if _, ok := r.known[x]; !ok && x < r.base {
			missing = append(missing, x)
		}
	}
	if err := r.load(missing); err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		var ok bool
		if x >= r.base {
			ok = x-r.base < int64(len(r.pending))
			if ok {
				out[i] = r.pending[x-r.base]
			}
		} else {
			out[i], ok = r.known[x]
		}
		if !ok {
			return nil, fmt.Errorf("read audit hash %d: not stored", x)
		}
	}
	return out, nil
}
