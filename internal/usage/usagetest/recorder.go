package usagetest

import (
	"sync"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/usage"
)

// recorderTests run a usage.Recorder on the store, as the gateway does.
func recorderTests() []test {
	return []test{
		{"ConcurrentCallsAndFlushes", func(t *testing.T, s usage.Store) {
			// Calls from many goroutines, flushes racing them, then Close:
			// every call is in the store exactly once.
			r := usage.NewRecorder(s, nil, usage.RecorderOptions{})
			const goroutines, calls = 8, 200
			keys := []apikey.ID{keyA, keyB, keyC}
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range calls {
						k := keys[(g+i)%len(keys)]
						r.Add(usage.Record{Hour: hour(i % 2), Key: k, Principal: "p", Team: "t",
							Feature: "chatbot", Model: "gpt-4o-mini", Requests: 1, InputTokens: 2, OutputTokens: 3, Cost: 4})
						if i%50 == 0 {
							if err := r.Flush(t.Context()); err != nil {
								t.Errorf("Flush = %v", err)
							}
						}
					}
				})
			}
			wg.Wait()
			if err := r.Close(t.Context()); err != nil {
				t.Fatalf("Close = %v", err)
			}
			if r.Dropped() != 0 {
				t.Errorf("Dropped = %d, want 0", r.Dropped())
			}
			const n = goroutines * calls
			wantRows(t, s, all(), []usage.Row{sums(n, 2*n, 3*n, 4*n)})
			wantRows(t, s, all(usage.ByHour), []usage.Row{
				with(sums(n/2, n, 3*n/2, 2*n), func(r *usage.Row) { r.Hour = hour(0) }),
				with(sums(n/2, n, 3*n/2, 2*n), func(r *usage.Row) { r.Hour = hour(1) }),
			})
		}},
	}
}
