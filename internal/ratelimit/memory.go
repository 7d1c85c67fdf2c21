package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"
)

// minSweep is the fewest operations between two sweeps of idle entries.
const minSweep = 1024

// Memory is a Store that keeps its counters in this process: the embedded
// mode's store, exact for one gateway instance. It is safe for concurrent
// use; one mutex makes every Take and Settle atomic.
type Memory struct {
	now func() time.Time

	mu     sync.Mutex
	scopes map[string]*counters
	ops    int // operations since the last sweep
}

var _ Store = (*Memory)(nil)

// counters are the counters of one scope, one per kind (see Kind.index):
// one map lookup finds all of a scope's limits.
type counters [len(kinds)]entry

// entry is the state of one counter. A GCRA counter uses tat; a budget,
// used, start and end; a concurrency counter, used. Times are Unix
// nanoseconds.
type entry struct {
	tat        int64
	used       int64
	start, end int64
}

// NewMemory returns an empty in-memory Store whose clock, for requests
// without a Now, is now.
func NewMemory(now func() time.Time) *Memory {
	return &Memory{now: now, scopes: make(map[string]*counters)}
}

// Take implements [Store.Take].
func (m *Memory) Take(_ context.Context, r Request) error {
	if err := validate(r.Limits, r.Tokens, r.Cost, true); err != nil {
		return err
	}
	now := m.timeOr(r.Now)
	var buf [16]*entry // room for a key's and a principal's limits without allocating
	es := buf[:0]

	m.mu.Lock()
	defer m.mu.Unlock()
	var refused *ExceededError
	var cs *counters
	for i, l := range r.Limits {
		cs = m.counters(l.Scope, r.Limits[:i], cs)
		e := &cs[l.Kind.index()]
		es = append(es, e)
		if wait := e.check(l, l.Kind.cost(r.Tokens, r.Cost), now); wait > 0 &&
			(refused == nil || wait > refused.RetryAfter) {
			refused = &ExceededError{Limit: l, RetryAfter: wait}
		}
	}
	if refused != nil {
		m.maybeSweep(now)
		return refused
	}
	for i, l := range r.Limits {
		es[i].take(l, l.Kind.cost(r.Tokens, r.Cost), now)
	}
	m.maybeSweep(now)
	return nil
}

// Settle implements [Store.Settle].
func (m *Memory) Settle(_ context.Context, s Settlement) error {
	if err := validate(s.Limits, s.Tokens, s.Cost, false); err != nil {
		return err
	}
	now := m.timeOr(s.Now)
	taken := now
	if !s.Taken.IsZero() {
		taken = s.Taken.UnixNano()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var cs *counters
	for i, l := range s.Limits {
		cs = m.counters(l.Scope, s.Limits[:i], cs)
		var delta int64
		switch {
		case l.Kind.countsTokens():
			delta = s.Tokens
		case l.Kind.countsCost():
			delta = s.Cost
		}
		cs[l.Kind.index()].settle(l, delta, taken, now)
	}
	m.maybeSweep(now)
	return nil
}

// Len returns the number of scopes whose counters are held, idle ones not
// yet evicted included. Each takes about 250 bytes.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.scopes)
}

func (m *Memory) timeOr(t time.Time) int64 {
	if t.IsZero() {
		t = m.now()
	}
	return t.UnixNano()
}

// counters returns the counters of scope, creating them; prev are the
// limits before this one and cs the counters of the last of them, reused
// when it has the same scope (limits usually come grouped by scope).
// m.mu is held.
func (m *Memory) counters(scope string, prev []Limit, cs *counters) *counters {
	if len(prev) > 0 && prev[len(prev)-1].Scope == scope {
		return cs
	}
	cs = m.scopes[scope]
	if cs == nil {
		cs = new(counters)
		m.scopes[scope] = cs
	}
	return cs
}

// maybeSweep evicts idle entries once the operations since the last sweep
// reach the number of entries (at least minSweep), which keeps the cost
// amortised O(1) per operation. m.mu is held.
func (m *Memory) maybeSweep(now int64) {
	m.ops++
	if m.ops < max(minSweep, len(m.scopes)) {
		return
	}
	m.ops = 0
	for scope, cs := range m.scopes {
		if cs.idle(now) {
			delete(m.scopes, scope)
		}
	}
}

// idle reports whether every counter of cs is, at now, the same as a fresh
// one.
func (cs *counters) idle(now int64) bool {
	for i := range cs {
		if !cs[i].idle(kinds[i], now) {
			return false
		}
	}
	return true
}

// idle reports whether e, a counter of kind k, is at now the same as a
// fresh entry.
func (e *entry) idle(k Kind, now int64) bool {
	switch {
	case k == Concurrent:
		return e.used == 0
	case k.isBudget():
		return e.used == 0 || now >= e.end
	default:
		return e.tat <= now
	}
}

// check returns 0 if a cost of c may be taken from e, a counter of l, at
// now, and otherwise how long to wait (positive).
func (e *entry) check(l Limit, c int64, now int64) time.Duration {
	switch {
	case l.Kind == Concurrent:
		if e.used >= l.Max {
			return ConcurrentRetryAfter
		}
	case l.Kind.isBudget():
		used, end := e.used, e.end
		if now >= end {
			_, end = budgetWindow(time.Unix(0, now), l.Kind.isMonthly())
			used = 0
		}
		if c > l.Max-used {
			return time.Duration(end - now)
		}
	default:
		if c > l.Max {
			return time.Minute
		}
		tat := addSat(max(e.tat, now), interval(c, l.Max, true))
		if over := tat - now - gcraWindow; over > 0 {
			return time.Duration(over)
		}
	}
	return 0
}

// take takes a cost of c from e, a counter of l, at now; check allowed it.
func (e *entry) take(l Limit, c int64, now int64) {
	switch {
	case l.Kind == Concurrent:
		e.used++
	case l.Kind.isBudget():
		e.roll(l.Kind, now)
		e.used += c
	default:
		e.tat = addSat(max(e.tat, now), interval(c, l.Max, true))
	}
}

// settle applies delta, taken at taken, to e, a counter of l, at now.
func (e *entry) settle(l Limit, delta int64, taken, now int64) {
	delta = max(delta, -math.MaxInt64) // so that -delta does not overflow
	switch {
	case l.Kind == Concurrent:
		if e.used > 0 {
			e.used--
		}
	case l.Kind.isBudget():
		e.roll(l.Kind, now)
		if delta >= 0 {
			e.used = addSat(e.used, delta)
		} else if e.start <= taken && taken < e.end {
			e.used = max(0, e.used+delta)
		} // else: a refund for a window that has ended is dropped
	case l.Kind == TokensPerMinute:
		if delta >= 0 {
			e.tat = addSat(max(e.tat, now), interval(delta, l.Max, true))
		} else if back := interval(-delta, l.Max, false); back >= e.tat-now {
			e.tat = now
		} else {
			e.tat -= back
		}
	}
}

// roll moves e, a budget of kind k, to the window of now, starting it
// from zero if it is a new one. It only moves forward: a clock that steps
// back stays in the current window rather than reopen an old one.
func (e *entry) roll(k Kind, now int64) {
	if now >= e.end {
		e.start, e.end = budgetWindow(time.Unix(0, now), k.isMonthly())
		e.used = 0
	}
}
