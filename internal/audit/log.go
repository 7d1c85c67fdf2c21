package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/scopegate/scopegate/internal/apikey"
)

// ErrFailed is wrapped by every error of a log that could not make a
// record durable. The state is permanent for that *Log: an fsync that
// failed is never retried as if nothing happened, because the kernel may
// have dropped the data it was meant to sync. Opening the log again runs
// recovery, which finds what did reach the disk.
var ErrFailed = errors.New("audit log failed")

// ErrClosed is returned by Append after the log stopped: Close was called
// or Run returned.
var ErrClosed = errors.New("audit log closed")

// ErrNoCheckpoint is returned by Checkpoint before the first one is signed.
var ErrNoCheckpoint = errors.New("audit log has no signed checkpoint yet")

// WriteSyncer is the part of an *os.File the log writes records and
// hashes through. Tests wrap the file to make writes and syncs fail.
type WriteSyncer interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

// LogOptions configures [OpenLog]. The zero value is ready to use.
type LogOptions struct {
	// Now is the clock that stamps records (default time.Now).
	Now func() time.Time
	// Logger receives recovery reports and failures (default: discarded).
	Logger *slog.Logger
	// CheckpointInterval is how often a checkpoint is signed when the log
	// grew (default 1s).
	CheckpointInterval time.Duration
	// Origin names the log in its checkpoints. It is used only when the
	// signing key is created (default "scopegate/<8 random base62>/audit");
	// later the origin is the key's name, and a different Origin is an
	// error.
	Origin string
	// AllowTruncatedBelowCheckpoint opens a log that has fewer records than
	// its last signed checkpoint: the checkpoints it no longer reaches are
	// moved aside and an [Override] event records it. For an operator
	// who knows why the records are gone; never set it by default.
	AllowTruncatedBelowCheckpoint bool
	// SyncFile, if set, wraps each segment and hashes file the log appends
	// to. It is a fault-injection hook for tests.
	SyncFile func(f *os.File) WriteSyncer
	// Tap, if set, is given every record appended through this Log once
	// it is durable, in index order, from the writer goroutine: it must
	// not block (hand the record to a buffered channel and drop when it is
	// full). It is how detectors watch the log without slowing a request.
	Tap func(Record)
	// Observer, if set, is told how long appends wait and how large the
	// group commits are, for metrics.
	Observer Observer

	// segmentRecords overrides segmentRecords so tests can cross segment
	// boundaries.
	segmentRecords uint64
}

// Log is the tamper-evident audit log in a directory (see the package
// documentation for the files and the format). One writer goroutine
// commits records in batches; a signer signs checkpoints. Both run inside
// [Log.Run]. A Log is safe for concurrent use.
type Log struct {
	dir      string
	logger   *slog.Logger
	now      func() time.Time
	interval time.Duration
	segSize  uint64
	keys     logKeys
	hashes   hashFile // reads of synced hashes, for checkpoints and proofs
	tap      func(Record)
	observer Observer

	wake    chan struct{} // a caller queued a record; capacity 1
	stop    chan struct{} // closed by Close
	runDone chan struct{} // closed when Run returns

	mu      sync.Mutex
	queue   []*appendReq // waiting for the writer
	spare   []*appendReq // the previous queue's array, reused
	durable uint64       // records written and synced
	signed  signedTree   // the latest checkpoint
	failed  error        // non-nil once a write failed; never reset
	closed  bool
	running bool

	signMu    sync.Mutex // one signing at a time
	w         writer     // only the writer touches it (Run, or OpenLog and Close when Run is not running)
	closeOnce sync.Once
	wrap      func(*os.File) WriteSyncer // how files are opened for writing, kept for reopen
	closeErr  error
}

var _ apikey.Recorder = (*Log)(nil)

// OpenLog opens the log in dir, creating it and its signing key on first
// use, and recovers it: a torn last line is cut off, missing stored hashes
// are rebuilt from the records, and a log with fewer records than its last
// signed checkpoint is refused with a *[TruncatedError] unless
// opts.AllowTruncatedBelowCheckpoint is set. Nothing is written until
// [Log.Run] runs.
func OpenLog(dir string, opts LogOptions) (*Log, error) {
	l := &Log{
		dir:      dir,
		logger:   opts.Logger,
		now:      opts.Now,
		interval: opts.CheckpointInterval,
		segSize:  opts.segmentRecords,
		tap:      opts.Tap,
		observer: opts.Observer,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		runDone:  make(chan struct{}),
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.observer == nil {
		l.observer = noObserver{}
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.interval <= 0 {
		l.interval = time.Second
	}
	if l.segSize == 0 {
		l.segSize = segmentRecords
	}
	wrap := opts.SyncFile
	if wrap == nil {
		wrap = func(f *os.File) WriteSyncer { return f }
	}
	l.wrap = wrap
	for _, d := range []string{dir, filepath.Join(dir, "segments"), filepath.Join(dir, "checkpoints")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open audit log: %w", err)
		}
		if err := removeTempFiles(d); err != nil {
			return nil, fmt.Errorf("open audit log: %w", err)
		}
	}
	var err error
	if l.keys, err = loadKeys(dir, opts.Origin); err != nil {
		return nil, fmt.Errorf("open audit log %s: %w", dir, err)
	}
	override, err := l.recover(opts.AllowTruncatedBelowCheckpoint, wrap)
	if err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("open audit log %s: %w", dir, err)
	}
	if override != nil {
		if err := l.appendOverride(*override); err != nil {
			l.closeFiles()
			return nil, fmt.Errorf("open audit log %s: %w", dir, err)
		}
	}
	return l, nil
}

// lazyFlush bounds how long a record queued without waking the writer
// (a usage event) waits for a batch to ride with.
const lazyFlush = 100 * time.Millisecond

// Run commits records and signs checkpoints until ctx is done or Close is
// called. Records queued when it stops are written first; later Appends
// return ErrClosed. Call [Log.Close] after it returns. The result is nil,
// or the error that failed the log.
func (l *Log) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.closed || l.running {
		l.mu.Unlock()
		return fmt.Errorf("audit log Run: %w", ErrClosed)
	}
	l.running = true
	l.mu.Unlock()
	defer close(l.runDone)

	var wg sync.WaitGroup
	stopSigner := make(chan struct{})
	wg.Go(func() { l.signLoop(stopSigner) })
	defer wg.Wait()
	defer close(stopSigner)

	lazy := time.NewTicker(lazyFlush)
	defer lazy.Stop()
	retry := time.NewTicker(reopenInterval)
	defer retry.Stop()
	for {
		select {
		case <-l.wake:
			l.flush()
		case <-lazy.C:
			l.flush() // records queued without a wake-up (usage events)
		case <-retry.C:
			l.reopenIfFailed()
		case <-ctx.Done():
			return l.shutdown()
		case <-l.stop:
			return l.shutdown()
		}
	}
}

// shutdown closes the queue and writes what is in it.
func (l *Log) shutdown() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// Close stops Run and waits for it, writes any records still queued, signs
// a final checkpoint over the durable records, and closes the files.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		l.mu.Lock()
		running := l.running
		l.closed = true
		l.mu.Unlock()
		if running {
			<-l.runDone
		} else {
			l.flush() // callers that queued before Run ever started
		}
		l.closeErr = errors.Join(l.sign(), l.closeFiles())
	})
	return l.closeErr
}

func (l *Log) closeFiles() error {
	var errs []error
	if l.w.segs.f != nil {
		errs = append(errs, l.w.segs.close())
	}
	if l.w.hashes.w != nil {
		errs = append(errs, l.w.hashes.w.Close())
		l.w.hashes.w = nil
	}
	return errors.Join(errs...)
}

// Append makes e record number idx of the log: it returns once the record
// is written and synced to disk, together with the records of every
// caller waiting at the same time (group commit).
//
// If ctx is done first, Append returns its error, but the record may still
// be written later: the caller must treat that as a failure (the proxy
// answers 503 and forwards nothing), and the log then holds a record of a
// decision that had no effect, which its missing usage event shows. After
// a write or sync failed, Append fails fast with an error wrapping
// [ErrFailed]. Before [Log.Run] starts, Append waits for it.
func (l *Log) Append(ctx context.Context, e Event) (idx uint64, err error) {
	start := time.Now()
	r, err := l.enqueue(ctx, e, true)
	if err != nil {
		return 0, err
	}
	defer func() { l.observer.ObserveAppend(time.Since(start)) }()
	select {
	case <-r.done:
		return r.idx, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("append audit event: %w", ctx.Err())
	}
}

// enqueue hands e to the writer without waiting. With wake it wakes the
// writer; otherwise the record rides with the next batch, or the writer's
// periodic flush (lazyFlush) writes it.
func (l *Log) enqueue(ctx context.Context, e Event, wake bool) (*appendReq, error) {
	body, err := encodeBody(e)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("append audit event: %w", err)
	}
	r := &appendReq{body: body, event: e, done: make(chan struct{})}
	l.mu.Lock()
	switch {
	case l.failed != nil:
		err = l.failed
	case l.closed:
		err = ErrClosed
	default:
		l.queue = append(l.queue, r)
	}
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if wake {
		select {
		case l.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return r, nil
}

// Record appends an admin change; it implements apikey.Recorder.
func (l *Log) Record(ctx context.Context, c apikey.Change) error {
	_, err := l.Append(ctx, Admin(c))
	return err
}

// Authz appends an authz event and returns once it is durable: the proxy
// forwards nothing until this returns nil.
func (l *Log) Authz(ctx context.Context, e Authz) error {
	_, err := l.Append(ctx, e)
	return err
}

// Alert appends an alert event and returns once it is durable. Alerts
// are raised off the request path, so waiting for the disk costs no call
// anything.
func (l *Log) Alert(ctx context.Context, a Alert) error {
	_, err := l.Append(ctx, a)
	return err
}

// Usage queues a usage event and returns without waiting for the disk: it
// describes a call that is over, whose answer the client already has, and
// nothing waits on it. It is written and synced with the next batch, which
// is usually the next decision's, at the latest after lazyFlush; Close
// writes what is queued. A crash
// can lose the usage events of the last batch, never a decision. An error
// means it could not be queued (the log failed or is closed).
func (l *Log) Usage(ctx context.Context, e Usage) error {
	// Not waking the writer keeps a lone request at one sync: its usage
	// event is written with the next request's authz event.
	_, err := l.enqueue(ctx, e, false)
	return err
}

// Healthy reports whether the log can record: nil, an error wrapping
// [ErrFailed] once a write failed, or [ErrClosed]. It is what /readyz asks.
func (l *Log) Healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.failed != nil:
		return l.failed
	case l.closed:
		return ErrClosed
	}
	return nil
}

// Size returns how many records are durable.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// LastCheckpoint returns the size of the latest signed checkpoint and
// when it was signed (by the log's clock; for a checkpoint found on disk
// at open, its file's modification time), and false before the first one.
func (l *Log) LastCheckpoint() (size uint64, at time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.signed.size, l.signed.at, l.signed.note != nil
}

// Checkpoint returns the latest signed checkpoint (a signed note), or
// [ErrNoCheckpoint].
func (l *Log) Checkpoint() ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.signed.note == nil {
		return nil, ErrNoCheckpoint
	}
	return append([]byte(nil), l.signed.note...), nil
}

// VerifierKey returns the note verifier key of the log's checkpoints, the
// one line an auditor needs.
func (l *Log) VerifierKey() string { return l.keys.vkey }

// Origin returns the log's origin, the first line of its checkpoints.
func (l *Log) Origin() string { return l.keys.signer.Name() }

// ReadHashes implements tlog.HashReader over the stored hashes of the
// durable records, so proofs can be served while the log runs. Indexes
// beyond them are an error.
func (l *Log) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	limit := tlog.StoredHashCount(int64(l.Size()))
	for _, x := range indexes {
		if x < 0 || x >= limit {
			return nil, fmt.Errorf("read audit hash %d: not among the %d of durable records", x, limit)
		}
	}
	l.mu.Lock()
	hashes := l.hashes // replaced when a failed log reopens
	l.mu.Unlock()
	return hashes.ReadHashes(indexes)
}

// reopenInterval is how often a failed log tries to open its files again.
const reopenInterval = time.Second

// reopenIfFailed recovers a failed log as OpenLog would after a crash: the
// files are closed, the torn tail a failed write may have left is cut, the
// stored hashes are recomputed, and the log must still extend its last
// signed checkpoint. Only then does it accept records again. Nothing is
// retried as if the failed write had happened: the callers of the failed
// batch were refused, and recovery starts from what is on disk. It runs in
// the writer goroutine (Run), so no batch is in flight.
func (l *Log) reopenIfFailed() {
	l.mu.Lock()
	failed := l.failed
	l.mu.Unlock()
	if failed == nil {
		return
	}
	l.signMu.Lock()
	defer l.signMu.Unlock()
	acknowledged := l.Size()
	if err := l.closeFiles(); err != nil {
		l.logger.Debug("audit log: closing files of the failed log", "err", err)
	}
	// The failed batch's lines may be on disk, or only in the page cache:
	// they were never acknowledged, so they are cut before recovery counts
	// what is there.
	if err := cutTo(l.dir, l.segSize, acknowledged, l.logger); err != nil {
		l.logger.Warn("audit log still failed: cannot cut the failed batch", "err", err)
		return
	}
	if _, err := l.recover(false, l.wrap); err != nil {
		l.logger.Warn("audit log still failed: cannot reopen", "err", err)
		l.closeFiles()
		return
	}
	// Opening is not writing: probe both files, so a disk that still
	// refuses keeps the log failed (and the gateway not ready) instead of
	// failing the next request.
	if err := l.probe(); err != nil {
		l.logger.Warn("audit log still failed: the disk refuses writes", "err", err)
		l.closeFiles()
		return
	}
	l.mu.Lock()
	l.failed = nil
	l.mu.Unlock()
	l.logger.Warn("audit log reopened after a failure: recording again", "records", l.Size())
}

// probe makes an empty write and a sync on each file the writer appends to.
func (l *Log) probe() error {
	files := []WriteSyncer{l.w.hashes.w}
	if l.w.segs.f != nil {
		files = append(files, l.w.segs.f)
	}
	for _, f := range files {
		if _, err := f.Write(nil); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// fail puts the log in the failed state, if it is not already.
func (l *Log) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == nil {
		l.failed = fmt.Errorf("%w: %w", ErrFailed, err)
		l.logger.Error("audit log failed: refusing every record until it can be reopened", "err", err)
	}
}
