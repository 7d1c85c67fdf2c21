package audit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// recordingObserver keeps what a Log tells its Observer.
type recordingObserver struct {
	mu      sync.Mutex
	appends []time.Duration
	batches []int
}

func (o *recordingObserver) ObserveAppend(d time.Duration) {
	o.mu.Lock()
	o.appends = append(o.appends, d)
	o.mu.Unlock()
}

func (o *recordingObserver) ObserveBatch(n int) {
	o.mu.Lock()
	o.batches = append(o.batches, n)
	o.mu.Unlock()
}

func (o *recordingObserver) seen() ([]time.Duration, []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Duration(nil), o.appends...), append([]int(nil), o.batches...)
}

// TestObserver checks that every Append is observed once, with a positive
// wait, and that the batches observed add up to every record written,
// usage events (which no caller waits for) included.
func TestObserver(t *testing.T) {
	obs := &recordingObserver{}
	l, stop := startLog(t, t.TempDir(), LogOptions{Now: fixedClock(), Observer: obs})
	ctx := context.Background()
	const appends, usages = 20, 5
	var wg sync.WaitGroup
	for i := range appends {
		wg.Go(func() {
			if _, err := l.Append(ctx, testAuthz(i)); err != nil {
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	for i := range usages {
		if err := l.Usage(ctx, Usage{RequestID: "u", KeyID: "k", Status: 200, Outcome: "ok", Latency: time.Duration(i)}); err != nil {
			t.Fatal(err)
		}
	}
	stop() // writes the queued usage events

	waits, batches := obs.seen()
	if len(waits) != appends {
		t.Errorf("observed %d appends, want %d", len(waits), appends)
	}
	for _, d := range waits {
		if d <= 0 {
			t.Errorf("append wait %v, want > 0", d)
		}
	}
	total := 0
	for _, n := range batches {
		if n <= 0 {
			t.Errorf("batch of %d records observed", n)
		}
		total += n
	}
	if total != appends+usages {
		t.Errorf("batches observed %v add up to %d records, want %d", batches, total, appends+usages)
	}
}

// TestLastCheckpoint checks that LastCheckpoint reports nothing before
// the first checkpoint, then the size and the log's clock at signing,
// and after a reopen the checkpoint found on disk with its file's time.
func TestLastCheckpoint(t *testing.T) {
	dir := t.TempDir()
	signedAt := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	l, stop := startLog(t, dir, LogOptions{Now: func() time.Time { return signedAt }, CheckpointInterval: time.Hour})
	if size, at, ok := l.LastCheckpoint(); ok {
		t.Fatalf("LastCheckpoint of a new log = %d, %v, true; want false", size, at)
	}
	ctx := context.Background()
	for i := range 3 {
		if _, err := l.Append(ctx, testAuthz(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SignNow(ctx); err != nil {
		t.Fatal(err)
	}
	if size, at, ok := l.LastCheckpoint(); !ok || size != 3 || !at.Equal(signedAt) {
		t.Errorf("LastCheckpoint = %d, %v, %v; want 3, %v, true", size, at, ok, signedAt)
	}
	stop()

	before := time.Now()
	l2, _ := startLog(t, dir, LogOptions{})
	size, at, ok := l2.LastCheckpoint()
	if !ok || size != 3 {
		t.Fatalf("LastCheckpoint after reopen = %d, %v, %v; want 3, true", size, at, ok)
	}
	if at.IsZero() || at.After(before) {
		t.Errorf("LastCheckpoint after reopen is at %v, want the checkpoint file's time, before %v", at, before)
	}
}
