package audit

import (
	"fmt"
	"sync"
	"testing"
)

// TestLogTap checks that the tap sees every appended record once it is
// durable, in index order, with the index, time and event the log wrote:
// the same as reading the log back.
func TestLogTap(t *testing.T) {
	const callers, each = 16, 25
	dir := t.TempDir()
	var (
		mu     sync.Mutex
		tapped []Record
	)
	var l *Log
	tap := func(r Record) {
		if r.Index >= l.Size() {
			t.Errorf("tapped record %d before it was durable (size %d)", r.Index, l.Size())
		}
		mu.Lock()
		tapped = append(tapped, r)
		mu.Unlock()
	}
	l, stop := startLog(t, dir, LogOptions{Tap: tap})
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				if _, err := l.Append(t.Context(), Usage{RequestID: fmt.Sprintf("c%d-%d", c, i), Outcome: "ok"}); err != nil {
					t.Errorf("Append: %v", err)
				}
			}
		})
	}
	wg.Wait()
	stop()

	onDisk := readLog(t, dir)
	mu.Lock()
	defer mu.Unlock()
	if len(tapped) != len(onDisk) || len(onDisk) != callers*each {
		t.Fatalf("tapped %d records, %d on disk, want %d", len(tapped), len(onDisk), callers*each)
	}
	for i, r := range tapped {
		d := onDisk[i]
		if r.Index != uint64(i) || r.Index != d.Index || !r.Time.Equal(d.Time) || r.Event != d.Event {
			t.Errorf("tapped record %d = %+v, on disk %+v", i, r, d)
		}
	}
}
