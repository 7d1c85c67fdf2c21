package audit

import "time"

// Observer is told how the log performs, for metrics; *metrics.Metrics is
// one. Its methods are called by Append's callers and by the writer
// goroutine, concurrently: they must not block.
type Observer interface {
	// ObserveAppend is told how long one Append waited, from the call
	// until its record was durable or the wait failed (a done context
	// included: a stalled disk shows as appends at the caller's timeout).
	// Appends refused at once (a failed or closed log) are not observed.
	ObserveAppend(d time.Duration)
	// ObserveBatch is told the number of records of each group commit
	// written (one write and one fsync).
	ObserveBatch(records int)
}

// noObserver is the Observer of a log configured without one.
type noObserver struct{}

func (noObserver) ObserveAppend(time.Duration) {}
func (noObserver) ObserveBatch(int)            {}
