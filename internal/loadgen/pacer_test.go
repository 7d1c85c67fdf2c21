package loadgen

import (
	"context"
	"testing"
	"time"
)

func TestIntended(t *testing.T) {
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		i    int64
		rate float64
		want time.Duration
	}{
		{0, 1000, 0},
		{1, 1000, time.Millisecond},
		{3, 3, time.Second},
		{1_000_000_000, 1_000_000, 1000 * time.Second}, // no drift far into a run
		{7, 2000, 3500 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := Intended(start, tt.i, tt.rate).Sub(start); got != tt.want {
			t.Errorf("Intended(start, %d, %v) = start+%v, want start+%v", tt.i, tt.rate, got, tt.want)
		}
	}
}

// TestPacer checks the schedule, not the clock's accuracy: the count of
// sends, even spacing of their intended times, order, and that nothing is
// handed out before its time. How late a send is depends on the machine's
// load and is not asserted.
func TestPacer(t *testing.T) {
	tests := []struct {
		name   string
		rate   float64
		length time.Duration
		want   int64
	}{
		{"2000PerSecond", 2000, 500 * time.Millisecond, 1000},
		{"300PerSecond", 300, 200 * time.Millisecond, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			end := start.Add(tt.length)
			var intended []time.Time
			var early int
			n := Pacer{Rate: tt.rate}.Run(t.Context(), start, end, func(i int64, at time.Time) {
				if time.Now().Before(at) {
					early++
				}
				if i != int64(len(intended)) {
					t.Errorf("send %d came as number %d", len(intended), i)
				}
				intended = append(intended, at)
			})
			if n != int64(len(intended)) || n < tt.want-1 || n > tt.want {
				t.Fatalf("Run handed out %d (returned %d), want %d", len(intended), n, tt.want)
			}
			if early > 0 {
				t.Errorf("%d sends were handed out before their intended time", early)
			}
			period := time.Duration(float64(time.Second) / tt.rate)
			for i := 1; i < len(intended); i++ {
				if gap := intended[i].Sub(intended[i-1]); gap < period-time.Microsecond || gap > period+time.Microsecond {
					t.Fatalf("intended times %d and %d are %v apart, want %v", i-1, i, gap, period)
				}
			}
			if last := intended[len(intended)-1]; !last.Before(end) {
				t.Errorf("last intended time %v is not before the end", last.Sub(start))
			}
		})
	}
}

func TestPacerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	start := time.Now()
	n := Pacer{Rate: 1000}.Run(ctx, start, start.Add(time.Hour), func(i int64, _ time.Time) {
		if i == 9 {
			cancel()
		}
	})
	if n != 10 {
		t.Errorf("Run after cancel at the 10th send = %d, want 10", n)
	}
}
