package loadgen

import (
	"context"
	"runtime"
	"time"
)

// DefaultSpinWindow is how long before a send the pacer stops sleeping and
// spins. time.Sleep cannot sleep for less than about 1.1 ms on a Linux
// machine with default timer slack, and may oversleep by as much, so the
// last 2 ms are waited out by polling the clock.
const DefaultSpinWindow = 2 * time.Millisecond

// Pacer hands out requests at a fixed rate: request i is due at
// start + i/Rate, its intended time. Intended times are computed from i,
// never accumulated, so rounding does not drift over a long run.
type Pacer struct {
	// Rate is the number of requests per second; it must be positive.
	Rate float64
	// SpinWindow is how long before a due time the pacer polls instead of
	// sleeping; zero means DefaultSpinWindow.
	SpinWindow time.Duration
}

// Intended returns the intended send time of request i of a run at rate
// requests per second that starts at start.
func Intended(start time.Time, i int64, rate float64) time.Time {
	return start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
}

// Run calls send for each request due in [start, end), in order, never
// before its intended time, and returns how many it handed out. If it falls
// behind (the process was descheduled), it hands out the overdue requests
// at once with their original intended times, so the delay is measured,
// not hidden. It returns early when ctx is done.
//
// Run locks its goroutine to its OS thread for the duration: the spin loop
// then does not compete for a thread with the goroutines it feeds, and the
// sleeps before it wake on a thread that is not running anything else.
// send must be quick: everything it does delays the next send.
func (p Pacer) Run(ctx context.Context, start, end time.Time, send func(i int64, intended time.Time)) int64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	spin := p.SpinWindow
	if spin <= 0 {
		spin = DefaultSpinWindow
	}
	done := ctx.Done()
	for i := int64(0); ; i++ {
		t := Intended(start, i, p.Rate)
		if !t.Before(end) {
			return i
		}
		if !waitUntil(done, t, spin) {
			return i
		}
		send(i, t)
	}
}

// waitUntil returns at t or later: it sleeps while t is more than spin
// away, then polls the clock, yielding the processor between polls so the
// workers can run. It returns false if done is closed first.
func waitUntil(done <-chan struct{}, t time.Time, spin time.Duration) bool {
	for {
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		select {
		case <-done:
			return false
		default:
		}
		if d > spin {
			sleep(done, d-spin)
			continue
		}
		runtime.Gosched()
	}
}

// sleep waits for d or until done is closed.
func sleep(done <-chan struct{}, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-done:
	case <-tm.C:
	}
}
