package testenv

import (
	"runtime"
	"testing"
)

// recorder stands in for a test: it remembers whether lookup skipped or
// failed it, and, like the real methods, stops the goroutine that called.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = true
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	runtime.Goexit()
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name            string
		value, require  string
		want            string
		skipped, failed bool
	}{
		{name: "Set", value: "postgres://x", want: "postgres://x"},
		{name: "SetAndRequired", value: "postgres://x", require: "1", want: "postgres://x"},
		{name: "UnsetSkips", skipped: true},
		{name: "UnsetRequiredFails", require: "1", failed: true},
		{name: "UnsetRequireNotOneSkips", require: "true", skipped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(PostgresDSNVar, tt.value)
			t.Setenv(RequireServicesVar, tt.require)
			r := &recorder{TB: t}
			var got string
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = PostgresDSN(r)
			}()
			<-done
			if got != tt.want || r.skipped != tt.skipped || r.failed != tt.failed {
				t.Errorf("PostgresDSN = %q, skipped %v, failed %v; want %q, %v, %v",
					got, r.skipped, r.failed, tt.want, tt.skipped, tt.failed)
			}
		})
	}
}
