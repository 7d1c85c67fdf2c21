package apikey

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recordingToucher records every batch written to it and fails while err
// is set.
type recordingToucher struct {
	mu      sync.Mutex
	batches []map[ID]time.Time
	err     error
	// attempts, when not nil, receives every call, failed or not.
	attempts chan touchAttempt
}

type touchAttempt struct {
	batch map[ID]time.Time
	err   error
}

func (r *recordingToucher) TouchKeys(_ context.Context, used map[ID]time.Time) error {
	r.mu.Lock()
	b, err := maps.Clone(used), r.err
	if err == nil {
		r.batches = append(r.batches, b)
	}
	r.mu.Unlock()
	if r.attempts != nil {
		r.attempts <- touchAttempt{b, err}
	}
	return err
}

func (r *recordingToucher) setErr(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

var discard = slog.New(slog.DiscardHandler)

func TestLastUsedMarkKeepsLatest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := &recordingToucher{}
	l := NewLastUsed(store, discard)
	l.Mark("a", t0.Add(2*time.Second))
	l.Mark("a", t0)                    // older: ignored
	l.Mark("a", t0.Add(time.Second))   // older: ignored
	l.Mark("b", t0)                    // another key
	l.Mark("b", t0.Add(5*time.Second)) // newer: kept
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := map[ID]time.Time{"a": t0.Add(2 * time.Second), "b": t0.Add(5 * time.Second)}
	if len(store.batches) != 1 || !maps.Equal(store.batches[0], want) {
		t.Errorf("Flush wrote %v, want one batch %v", store.batches, want)
	}
}

func TestLastUsedFlushBatches(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := &recordingToucher{}
	l := NewLastUsed(store, discard)
	for i := range 1000 {
		l.Mark(ID([]string{"a", "b", "c"}[i%3]), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(store.batches) != 1 || len(store.batches[0]) != 3 {
		t.Fatalf("1000 marks of 3 keys flushed as %d batches (%v), want one write of 3 keys", len(store.batches), store.batches)
	}
	if got, want := store.batches[0]["a"], t0.Add(999*time.Millisecond); !got.Equal(want) {
		t.Errorf("batch[a] = %v, want the latest mark %v", got, want)
	}
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(store.batches) != 1 {
		t.Errorf("Flush with nothing marked wrote %v, want no write", store.batches[1:])
	}
	l.Mark("d", t0)
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(store.batches) != 2 || !maps.Equal(store.batches[1], map[ID]time.Time{"d": t0}) {
		t.Errorf("second Flush wrote %v, want only what was marked since the first", store.batches[1:])
	}
}

func TestLastUsedFailedFlushKeepsBatch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	boom := errors.New("disk full")
	store := &recordingToucher{err: boom}
	l := NewLastUsed(store, discard)
	l.Mark("a", t0.Add(time.Minute))
	l.Mark("b", t0)
	if err := l.Flush(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("Flush = %v, want %v", err, boom)
	}
	// Marks made after the failure merge with the kept batch, newest wins.
	l.Mark("a", t0)
	l.Mark("b", t0.Add(time.Hour))
	l.Mark("c", t0)
	store.err = nil
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := map[ID]time.Time{"a": t0.Add(time.Minute), "b": t0.Add(time.Hour), "c": t0}
	if len(store.batches) != 1 || !maps.Equal(store.batches[0], want) {
		t.Errorf("Flush after a failure wrote %v, want %v", store.batches, want)
	}
}

func TestLastUsedConcurrentMarks(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := &recordingToucher{}
	l := NewLastUsed(store, discard)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				l.Mark(ID(rune('a'+g)), t0.Add(time.Duration(i)*time.Second))
				if i%100 == 0 {
					l.Flush(context.Background())
				}
			}
		})
	}
	wg.Wait()
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	latest := map[ID]time.Time{}
	for _, b := range store.batches {
		for id, ts := range b {
			if ts.After(latest[id]) {
				latest[id] = ts
			}
		}
	}
	for g := range 8 {
		id := ID(rune('a' + g))
		if want := t0.Add(499 * time.Second); !latest[id].Equal(want) {
			t.Errorf("latest written time for %s = %v, want %v", id, latest[id], want)
		}
	}
}

func TestLastUsedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		store := &recordingToucher{attempts: make(chan touchAttempt)}
		l := NewLastUsed(store, discard)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			l.Run(ctx, time.Minute)
			close(done)
		}()
		next := func(want map[ID]time.Time, wantErr bool, wantAt time.Duration) {
			t.Helper()
			got := <-store.attempts
			if (got.err != nil) != wantErr || !maps.Equal(got.batch, want) {
				t.Errorf("flush wrote %v (error %v), want %v (error %v)", got.batch, got.err, want, wantErr)
			}
			if at := time.Since(t0); at != wantAt {
				t.Errorf("flush at %v, want %v", at, wantAt)
			}
		}

		l.Mark("a", t0)
		next(map[ID]time.Time{"a": t0}, false, time.Minute)

		// A failed tick keeps its batch for the next tick.
		store.setErr(errors.New("busy"))
		l.Mark("b", t0)
		next(map[ID]time.Time{"b": t0}, true, 2*time.Minute)
		store.setErr(nil)
		l.Mark("c", t0)
		next(map[ID]time.Time{"b": t0, "c": t0}, false, 3*time.Minute)

		// With nothing marked, five ticks write nothing (a write would
		// block Run on the unbuffered channel and show up below).
		<-time.After(5 * time.Minute)
		// Cancelling flushes what is left, then Run returns.
		l.Mark("d", t0)
		cancel()
		next(map[ID]time.Time{"d": t0}, false, 8*time.Minute)
		<-done
	})
}
