package ratelimit

import (
	"context"
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
// used, start and end; a concurrency counter, leases. Times are in
// Resolution since the Unix epoch, as in the Redis store.
type entry struct {
	tat        int64 // 0 when at or before now: the same as a fresh counter
	used       int64
	start, end int64
	leases     map[string]int64 // request ID → lease expiry
	soonest    int64            // no lease expires before it
}

// NewMemory returns an empty in-memory Store whose clock, for requests
// without a Now, is now.
func NewMemory(now func() time.Time) *Memory {
	return &Memory{now: now, scopes: make(map[string]*counters)}
}

// Take implements [Store.Take].
func (m *Memory) Take(_ context.Context, r Request) (Grant, error) {
	if err := r.Validate(); err != nil {
		return Grant{}, err
	}
	at := m.timeOr(r.Now)
	now := at.UnixMicro()
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
		if wait := e.check(l, l.Kind.Units(r.Tokens, r.Cost), now); wait > 0 &&
			(refused == nil || wait > refused.RetryAfter) {
			refused = &ExceededError{Limit: l, RetryAfter: wait}
		}
	}
	if refused != nil {
		m.maybeSweep(now)
		return Grant{}, refused
	}
	g := Grant{At: at, Quotas: make([]Quota, len(r.Limits))}
	for i, l := range r.Limits {
		es[i].take(l, l.Kind.Units(r.Tokens, r.Cost), now, r.ID, now+r.LeaseTerm())
		g.Quotas[i] = es[i].quota(l, now)
	}
	m.maybeSweep(now) // after the take: a sweep may drop the entries in es
	return g, nil
}

// Settle implements [Store.Settle].
func (m *Memory) Settle(_ context.Context, s Settlement) ([]Quota, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	now := m.timeOr(s.Now).UnixMicro()
	taken := now
	if !s.Taken.IsZero() {
		taken = s.Taken.UnixMicro()
	}
	qs := make([]Quota, len(s.Limits))
	m.mu.Lock()
	defer m.mu.Unlock()
	var cs *counters
	for i, l := range s.Limits {
		cs = m.counters(l.Scope, s.Limits[:i], cs)
		e := &cs[l.Kind.index()]
		e.settle(l, l.Kind.Units(s.Tokens, s.Cost), taken, now, s.ID)
		qs[i] = e.quota(l, now)
	}
	m.maybeSweep(now)
	return qs, nil
}

// Len returns the number of scopes whose counters are held, idle ones not
// yet evicted included. Each takes about 350 bytes, and 50 more per live
// lease.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.scopes)
}

// timeOr returns t, or the store's clock if t is zero.
func (m *Memory) timeOr(t time.Time) time.Time {
	if t.IsZero() {
		return m.now()
	}
	return t
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
		for _, exp := range e.leases {
			if exp > now {
				return false
			}
		}
		return true
	case k.isBudget():
		return e.used == 0 || now >= e.end
	default:
		return e.tat <= now
	}
}

// check returns 0 if a cost of c may be taken from e, a counter of l, at
// now, and otherwise how long to wait (positive). It drops the expired
// leases of a concurrency counter, which changes no answer.
func (e *entry) check(l Limit, c int64, now int64) time.Duration {
	switch {
	case l.Kind == Concurrent:
		e.dropExpired(now)
		if int64(len(e.leases)) >= l.Max {
			return ConcurrentRetryAfter
		}
	case l.Kind.isBudget():
		used, end := e.used, e.end
		if now >= end {
			_, end = l.Kind.window(now)
			used = 0
		}
		if c > min(l.Max, MaxUnits)-used {
			return time.Duration(end-now) * Resolution
		}
	default:
		iv := l.Interval(c)
		if iv > gcraWindow { // c > l.Max: it would never pass
			return time.Minute
		}
		if over := min(max(e.tat, now)+iv, MaxUnits) - now - gcraWindow; over > 0 {
			return time.Duration(over) * Resolution
		}
	}
	return 0
}

// take takes a cost of c from e, a counter of l, at now; check allowed it.
// A concurrency slot is a lease of id until expiry.
func (e *entry) take(l Limit, c int64, now int64, id string, expiry int64) {
	switch {
	case l.Kind == Concurrent:
		if e.leases == nil {
			e.leases = make(map[string]int64)
		}
		if len(e.leases) == 0 || expiry < e.soonest {
			e.soonest = expiry
		}
		e.leases[id] = expiry
	case l.Kind.isBudget():
		e.roll(l.Kind, now)
		e.used += c
	default:
		e.setTAT(min(max(e.tat, now)+l.Interval(c), MaxUnits), now)
	}
}

// settle applies delta, taken at taken, to e, a counter of l, at now, and
// drops the lease of id.
func (e *entry) settle(l Limit, delta int64, taken, now int64, id string) {
	switch {
	case l.Kind == Concurrent:
		delete(e.leases, id)
		e.dropExpired(now)
	case l.Kind.isBudget():
		e.roll(l.Kind, now)
		delta = min(max(delta, -MaxUnits), MaxUnits) // so the sum cannot overflow
		if delta >= 0 {
			e.used = min(e.used+delta, MaxUnits)
		} else if e.start <= taken && taken < e.end {
			e.used = max(0, e.used+delta)
		} // else: a refund for a window that has ended is dropped
	case l.Kind == TokensPerMinute:
		switch shift := l.Interval(delta); {
		case shift >= 0:
			e.setTAT(min(max(e.tat, now)+shift, MaxUnits), now)
		case -shift >= e.tat-now:
			e.setTAT(now, now)
		default:
			e.setTAT(e.tat+shift, now)
		}
	}
}

// setTAT sets e's TAT to tat at now, as 0 if it has passed: an idle
// counter is stored as a fresh one, as the Redis store deletes its key, so
// that both answer the same even to a request whose Now is earlier.
func (e *entry) setTAT(tat, now int64) {
	if tat <= now {
		tat = 0
	}
	e.tat = tat
}

// dropExpired drops the leases of e that have expired at now. It looks
// at them only once one may have expired, so that a Take or Settle costs
// O(1) however many calls are in flight.
func (e *entry) dropExpired(now int64) {
	if now < e.soonest || len(e.leases) == 0 {
		return
	}
	e.soonest = MaxUnits
	for id, exp := range e.leases {
		if exp <= now {
			delete(e.leases, id)
		} else {
			e.soonest = min(e.soonest, exp)
		}
	}
}

// quota returns the quota of e, a counter of l, at now.
func (e *entry) quota(l Limit, now int64) Quota {
	switch {
	case l.Kind == Concurrent:
		return l.ConcurrentQuota(int64(len(e.leases)))
	case l.Kind.isBudget():
		return l.BudgetQuota(e.used, e.end, now)
	default:
		return l.RateQuota(e.tat, now)
	}
}

// roll moves e, a budget of kind k, to the window of now, starting it
// from zero if it is a new one. It only moves forward: a clock that steps
// back stays in the current window rather than reopen an old one.
func (e *entry) roll(k Kind, now int64) {
	if now >= e.end {
		e.start, e.end = k.window(now)
		e.used = 0
	}
}
