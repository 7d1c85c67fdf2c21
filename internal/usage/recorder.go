package usage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of RecorderOptions.
const (
	// DefaultFlushInterval is how often a Recorder adds its sums to the
	// Store, and so how far reports lag behind the traffic.
	DefaultFlushInterval = time.Second
	// DefaultMaxBuckets caps the buckets a Recorder holds. A gateway fills
	// one bucket per key, feature and model in use each hour, so it is
	// reached only when the Store has been failing for a long time.
	DefaultMaxBuckets = 100_000
)

// Attribute keys of the Recorder's log lines.
const (
	logKeyErr      = "err"
	logKeyBuckets  = "buckets"
	logKeyMax      = "max_buckets"
	logKeyRecords  = "records"
	logKeyDropped  = "dropped"
	logKeyTotal    = "dropped_total"
	logKeyKey      = "key"
	logKeyInterval = "interval"
)

// RecorderOptions are the settings of a Recorder. Zero values mean the
// defaults.
type RecorderOptions struct {
	// FlushInterval is how often Run adds the sums to the Store.
	FlushInterval time.Duration
	// MaxBuckets caps the buckets held in memory. Past it, calls that
	// would open a new bucket are dropped and counted (see Dropped), and
	// the next flush logs an error.
	MaxBuckets int
	// Now stamps records that come without an Hour; time.Now by default.
	Now func() time.Time
}

// Recorder sums the usage of finished calls into hourly buckets in memory
// and adds them to a Store in batches, so a call never waits for the
// database and a busy key costs one write per bucket per flush.
//
// Run flushes on a ticker; Close flushes what is left. A flush that fails
// keeps its sums for the next one, so a Store outage delays counts rather
// than losing them, up to MaxBuckets distinct buckets. It is safe for
// concurrent use.
type Recorder struct {
	store      Store
	logger     *slog.Logger
	interval   time.Duration
	maxBuckets int
	now        func() time.Time

	// flushMu lets one flush at a time take the pending buckets, so a
	// failed batch is put back before the next flush takes them.
	flushMu sync.Mutex
	stop    chan struct{}
	stopped sync.Once

	mu      sync.Mutex
	pending map[bucket]counts
	// dropped counts every record not added to the Store; unlogged those
	// that no log line has reported yet.
	dropped, unlogged int64
	closed            bool
	warnedClosed      bool
}

// NewRecorder returns a Recorder adding to store and logging to logger
// (nil discards). It starts nothing: the caller runs Run and calls Close.
func NewRecorder(store Store, logger *slog.Logger, opts RecorderOptions) *Recorder {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.MaxBuckets <= 0 {
		opts.MaxBuckets = DefaultMaxBuckets
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{store: store, logger: logger, interval: opts.FlushInterval, maxBuckets: opts.MaxBuckets,
		now: opts.Now, stop: make(chan struct{}), pending: make(map[bucket]counts)}
}

// Add counts r, the usage of one finished call (or several), into its
// bucket. It never blocks on I/O and does not allocate once the bucket
// exists. A record with a zero Hour is stamped with the current hour. A
// record that is invalid (no key, a negative count), that would open a
// bucket past MaxBuckets, or that comes after Close is dropped and
// counted.
func (r *Recorder) Add(rec Record) {
	if rec.Hour.IsZero() {
		rec.Hour = r.now()
	}
	if err := rec.validate(); err != nil {
		// A bug in the caller, not a state of the system: say so at once.
		r.logger.Error("usage record dropped", slog.String(logKeyErr, err.Error()), slog.String(logKeyKey, string(rec.Key)))
		r.drop(1)
		return
	}
	b := rec.bucket()
	r.mu.Lock()
	if r.closed {
		r.dropLocked(1)
		first := !r.warnedClosed
		r.warnedClosed = true
		r.mu.Unlock()
		if first {
			// Nothing will flush it: the caller closed the Recorder before
			// the calls that report to it had finished.
			r.logger.Error("usage record added after Close dropped; later ones are dropped too", slog.String(logKeyKey, string(rec.Key)))
		}
		return
	}
	c, ok := r.pending[b]
	if (!ok && len(r.pending) >= r.maxBuckets) || !c.add(&rec, 1) {
		r.dropLocked(1)
	} else {
		r.pending[b] = c
	}
	r.mu.Unlock()
}

func (r *Recorder) drop(n int64) {
	r.mu.Lock()
	r.dropLocked(n)
	r.mu.Unlock()
}

func (r *Recorder) dropLocked(n int64) {
	r.dropped += n
	r.unlogged += n
}

// Dropped returns how many records the Recorder has dropped since it was
// made, for a metric: each is a call missing from the reports.
func (r *Recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Pending returns how many buckets wait for the next flush.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Flush adds the pending buckets to the Store in one call. If the Store
// fails, the buckets are kept, summed with whatever was added meanwhile,
// for the next flush, and the error is returned.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.pending
	r.pending = make(map[bucket]counts, len(batch))
	unlogged := r.unlogged
	r.unlogged = 0
	total := r.dropped
	r.mu.Unlock()
	if unlogged > 0 {
		r.logger.Error("usage records dropped: they are missing from usage reports",
			slog.Int64(logKeyDropped, unlogged), slog.Int64(logKeyTotal, total), slog.Int(logKeyMax, r.maxBuckets))
	}
	if len(batch) == 0 {
		return nil
	}
	if err := r.store.Add(ctx, sortedRecords(batch)); err != nil {
		r.restore(batch)
		return fmt.Errorf("add %d usage buckets: %w", len(batch), err)
	}
	return nil
}

// restore puts a batch that could not be added back into the pending
// buckets. Buckets that new calls opened meanwhile take precedence over
// old ones for the room under MaxBuckets; what does not fit is dropped.
func (r *Recorder) restore(batch map[bucket]counts) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for b, old := range batch {
		c, ok := r.pending[b]
		if !ok && len(r.pending) >= r.maxBuckets {
			r.dropLocked(old.records)
			continue
		}
		rec := old.record(b)
		if ok {
			// The newer record's principal and team win, as in Add.
			rec.Principal, rec.Team = c.principal, c.team
		}
		if !c.add(&rec, old.records) {
			r.dropLocked(old.records)
			continue
		}
		r.pending[b] = c
	}
}

// Run flushes every FlushInterval until ctx is done or Close is called. A
// failed flush is logged and retried at the next tick. Run does not flush
// when it stops: Close does, with a deadline of its own.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-t.C:
			if err := r.Flush(ctx); err != nil {
				r.logger.Warn("usage flush failed; the counts are kept and retried",
					slog.String(logKeyErr, err.Error()), slog.Int(logKeyBuckets, r.Pending()),
					slog.Duration(logKeyInterval, r.interval))
			}
		}
	}
}

// Close stops Run and flushes what is left, giving up when ctx is done.
// Records added after Close are dropped. If the last flush fails, its
// buckets are lost: they are counted as dropped, logged, and the error is
// returned. Close may be called more than once.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stopped.Do(func() { close(r.stop) })
	err := r.Flush(ctx)
	if err == nil {
		return nil
	}
	r.mu.Lock()
	lost := r.pending
	r.pending = make(map[bucket]counts)
	var records int64
	for _, c := range lost {
		records += c.records
	}
	r.dropLocked(records)
	r.mu.Unlock()
	r.logger.Error("usage counts lost at shutdown: the store did not take them",
		slog.String(logKeyErr, err.Error()), slog.Int(logKeyBuckets, len(lost)), slog.Int64(logKeyRecords, records))
	return err
}
