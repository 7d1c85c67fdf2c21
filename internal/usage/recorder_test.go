package usage_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/usage"
)

// fakeStore records every batch added to it and fails while err is set.
// With gate set, Add first reports on entered and then waits for gate to
// answer the error to return.
type fakeStore struct {
	mu       sync.Mutex
	batches  [][]usage.Record
	attempts int
	err      error
	entered  chan struct{}
	gate     chan error
}

func (f *fakeStore) Add(ctx context.Context, rs []usage.Record) error {
	if f.gate != nil {
		f.entered <- struct{}{}
		if err := <-f.gate; err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.err != nil {
		return f.err
	}
	f.batches = append(f.batches, append([]usage.Record(nil), rs...))
	return nil
}

func (f *fakeStore) Query(context.Context, usage.Query) ([]usage.Row, error) {
	return nil, errors.New("fakeStore does not answer queries")
}

func (f *fakeStore) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeStore) got() [][]usage.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]usage.Record(nil), f.batches...)
}

// syncBuffer is a log destination safe for the Recorder's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewJSONHandler(&buf, nil)), &buf
}

var discard = slog.New(slog.DiscardHandler)

// call is the usage of one chat call of key in the hour of t0.
func call(key string) usage.Record {
	return usage.Record{Hour: t0.Add(7 * time.Minute), Key: apikey.ID(key), Principal: "alice", Team: "red",
		Feature: "chatbot", Model: "gpt-4o-mini", Requests: 1, InputTokens: 10, OutputTokens: 20, Cost: 5}
}

// summed is the bucket of n calls of key in the hour of t0.
func summed(key string, n int64) usage.Record {
	return usage.Record{Hour: t0, Key: apikey.ID(key), Principal: "alice", Team: "red",
		Feature: "chatbot", Model: "gpt-4o-mini", Requests: n, InputTokens: 10 * n, OutputTokens: 20 * n, Cost: apikey.Micros(5 * n)}
}

func wantBatches(t *testing.T, s *fakeStore, want ...[]usage.Record) {
	t.Helper()
	if d := cmp.Diff(want, s.got()); d != "" {
		t.Errorf("batches added (-want +got):\n%s", d)
	}
}

func TestRecorderFlushSums(t *testing.T) {
	s := &fakeStore{}
	now := t0.Add(30 * time.Minute)
	r := usage.NewRecorder(s, discard, usage.RecorderOptions{Now: func() time.Time { return now }})
	for range 3 {
		r.Add(call("a"))
	}
	stamped := call("b")
	stamped.Hour = time.Time{} // stamped with Now: the hour of t0
	r.Add(stamped)
	earlier := call("c")
	earlier.Hour = t0.Add(-time.Second) // the hour before
	r.Add(earlier)
	if n := r.Pending(); n != 3 {
		t.Errorf("Pending = %d, want 3 buckets", n)
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	prev := summed("c", 1)
	prev.Hour = t0.Add(-time.Hour)
	// One batch, ordered by hour, then key.
	wantBatches(t, s, []usage.Record{prev, summed("a", 3), summed("b", 1)})
	// Nothing pending: no call to the store.
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(s.got()) != 1 || r.Pending() != 0 || r.Dropped() != 0 {
		t.Errorf("after an empty flush: %d batches, %d pending, %d dropped; want 1, 0, 0", len(s.got()), r.Pending(), r.Dropped())
	}
}

func TestRecorderKeepsFailedBatch(t *testing.T) {
	s := &fakeStore{}
	boom := errors.New("database is down")
	s.setErr(boom)
	r := usage.NewRecorder(s, discard, usage.RecorderOptions{})
	r.Add(call("a"))
	if err := r.Flush(t.Context()); !errors.Is(err, boom) {
		t.Errorf("Flush with a failing store = %v, want it to wrap %v", err, boom)
	}
	if r.Pending() != 1 {
		t.Errorf("Pending after a failed flush = %d, want 1", r.Pending())
	}
	r.Add(call("a"))
	r.Add(call("b"))
	s.setErr(nil)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantBatches(t, s, []usage.Record{summed("a", 2), summed("b", 1)})
	if r.Dropped() != 0 {
		t.Errorf("Dropped = %d, want 0", r.Dropped())
	}
}

func TestRecorderMaxBuckets(t *testing.T) {
	s := &fakeStore{}
	logger, logs := newLogger()
	r := usage.NewRecorder(s, logger, usage.RecorderOptions{MaxBuckets: 2})
	r.Add(call("a"))
	r.Add(call("b"))
	r.Add(call("c")) // a third bucket: dropped
	r.Add(call("a")) // an existing bucket: counted
	if r.Dropped() != 1 {
		t.Errorf("Dropped = %d, want 1", r.Dropped())
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantBatches(t, s, []usage.Record{summed("a", 2), summed("b", 1)})
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"usage records dropped: they are missing from usage reports","dropped":1,"dropped_total":1`) {
		t.Errorf("log = %s; want an error line counting 1 dropped record", logs)
	}
}

// A batch put back after a failure shares MaxBuckets with the buckets
// opened while it was being written: what does not fit is dropped and
// counted, and buckets present in both are summed.
func TestRecorderRestoreOverCap(t *testing.T) {
	s := &fakeStore{entered: make(chan struct{}), gate: make(chan error)}
	r := usage.NewRecorder(s, discard, usage.RecorderOptions{MaxBuckets: 2})
	r.Add(call("a"))
	r.Add(call("b"))
	flushed := make(chan error)
	go func() { flushed <- r.Flush(t.Context()) }()
	<-s.entered
	r.Add(call("a"))
	r.Add(call("c"))
	s.gate <- errors.New("timeout")
	if err := <-flushed; err == nil {
		t.Fatal("Flush = nil, want the store's error")
	}
	if r.Dropped() != 1 || r.Pending() != 2 {
		t.Errorf("after restoring: %d dropped, %d pending; want 1 (b), 2 (a, c)", r.Dropped(), r.Pending())
	}
	s.gate = nil
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantBatches(t, s, []usage.Record{summed("a", 2), summed("c", 1)})
}

func TestRecorderRunAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{}
		logger, logs := newLogger()
		r := usage.NewRecorder(s, logger, usage.RecorderOptions{FlushInterval: time.Second})
		stopped := make(chan struct{})
		go func() { r.Run(t.Context()); close(stopped) }()

		r.Add(call("a"))
		time.Sleep(time.Second)
		synctest.Wait()
		wantBatches(t, s, []usage.Record{summed("a", 1)})

		// A failing store: the tick keeps the counts and says so; the
		// next one adds them.
		s.setErr(errors.New("database is down"))
		r.Add(call("b"))
		time.Sleep(time.Second)
		synctest.Wait()
		if !strings.Contains(logs.String(), "usage flush failed; the counts are kept and retried") {
			t.Errorf("log = %s; want a warning about the failed flush", logs)
		}
		s.setErr(nil)
		r.Add(call("b"))
		time.Sleep(time.Second)
		synctest.Wait()
		wantBatches(t, s, []usage.Record{summed("a", 1)}, []usage.Record{summed("b", 2)})

		// Close flushes what the next tick would have, and stops Run.
		r.Add(call("c"))
		time.Sleep(500 * time.Millisecond)
		if err := r.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		<-stopped
		wantBatches(t, s, []usage.Record{summed("a", 1)}, []usage.Record{summed("b", 2)}, []usage.Record{summed("c", 1)})

		// Records after Close are dropped, counted and logged once.
		r.Add(call("d"))
		r.Add(call("d"))
		if r.Dropped() != 2 {
			t.Errorf("Dropped after two Adds past Close = %d, want 2", r.Dropped())
		}
		if n := strings.Count(logs.String(), "usage record added after Close dropped"); n != 1 {
			t.Errorf("log has %d lines about Adds after Close, want 1:\n%s", n, logs)
		}
		if err := r.Close(t.Context()); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
	})
}

func TestRecorderRunStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{}
		r := usage.NewRecorder(s, discard, usage.RecorderOptions{FlushInterval: time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() { r.Run(ctx); close(stopped) }()
		r.Add(call("a"))
		cancel()
		<-stopped
		// Run does not flush on its way out; Close does.
		if len(s.got()) != 0 || r.Pending() != 1 {
			t.Errorf("after Run stopped: %d batches, %d pending; want 0, 1", len(s.got()), r.Pending())
		}
		if err := r.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantBatches(t, s, []usage.Record{summed("a", 1)})
	})
}

// When the last flush cannot finish before Close's deadline, its counts
// are lost: Close says so in its error, its log and Dropped.
func TestRecorderCloseDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &blockingStore{}
		logger, logs := newLogger()
		r := usage.NewRecorder(s, logger, usage.RecorderOptions{})
		r.Add(call("a"))
		r.Add(call("a"))
		r.Add(call("b"))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := r.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("Close waited %v, want the 5s deadline", waited)
		}
		if r.Dropped() != 3 || r.Pending() != 0 {
			t.Errorf("after a failed Close: %d dropped, %d pending; want 3, 0", r.Dropped(), r.Pending())
		}
		if !strings.Contains(logs.String(), `"msg":"usage counts lost at shutdown: the store did not take them"`) ||
			!strings.Contains(logs.String(), `"buckets":2,"records":3`) {
			t.Errorf("log = %s; want an error counting 2 buckets of 3 records lost", logs)
		}
	})
}

// blockingStore answers nothing until the caller gives up.
type blockingStore struct{ fakeStore }

func (b *blockingStore) Add(ctx context.Context, _ []usage.Record) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestRecorderDropsInvalid(t *testing.T) {
	s := &fakeStore{}
	logger, logs := newLogger()
	r := usage.NewRecorder(s, logger, usage.RecorderOptions{})
	r.Add(usage.Record{Hour: t0, Requests: 1})               // no key
	r.Add(usage.Record{Hour: t0, Key: "a", InputTokens: -5}) // negative
	if r.Dropped() != 2 || r.Pending() != 0 {
		t.Errorf("after invalid records: %d dropped, %d pending; want 2, 0", r.Dropped(), r.Pending())
	}
	if n := strings.Count(logs.String(), `"msg":"usage record dropped"`); n != 2 {
		t.Errorf("log has %d lines about invalid records, want 2:\n%s", n, logs)
	}
}

// Adding to a bucket that exists allocates nothing: it runs once per call
// on the data plane.
func TestRecorderAddAllocs(t *testing.T) {
	r := usage.NewRecorder(&fakeStore{}, discard, usage.RecorderOptions{})
	rec := call("a")
	rec.Hour = time.Time{} // stamped from the clock
	r.Add(rec)
	if n := testing.AllocsPerRun(1000, func() { r.Add(rec) }); n != 0 {
		t.Errorf("Add to an existing bucket allocates %v times, want 0", n)
	}
}

// Many goroutines adding while flushes run lose nothing and count nothing
// twice.
func TestRecorderConcurrent(t *testing.T) {
	s := &fakeStore{}
	r := usage.NewRecorder(s, discard, usage.RecorderOptions{})
	const goroutines, calls = 16, 500
	keys := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				r.Add(call(keys[(g+i)%len(keys)]))
			}
		})
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-stop:
				return
			default:
				if err := r.Flush(t.Context()); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-flushed
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	totals := map[apikey.ID]int64{}
	for _, b := range s.got() {
		for _, rec := range b {
			totals[rec.Key] += rec.Requests
			if rec.Cost != apikey.Micros(5*rec.Requests) || rec.InputTokens != 10*rec.Requests {
				t.Errorf("bucket %+v: sums do not match its requests", rec)
			}
		}
	}
	want := map[apikey.ID]int64{"a": goroutines * calls / 4, "b": goroutines * calls / 4, "c": goroutines * calls / 4, "d": goroutines * calls / 4}
	if d := cmp.Diff(want, totals); d != "" {
		t.Errorf("requests per key (-want +got):\n%s", d)
	}
}
