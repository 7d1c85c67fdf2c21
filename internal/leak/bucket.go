package leak

import (
	"sync"
	"time"
)

// Bucket is a token bucket: Allow takes a token if one is left. Tokens
// come back at rate per second, up to burst. It is safe for concurrent use.
type Bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewBucket returns a full bucket. now defaults to time.Now.
func NewBucket(rate float64, burst int, now func() time.Time) *Bucket {
	if now == nil {
		now = time.Now
	}
	return &Bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now(), now: now}
}

// Allow takes a token and reports whether there was one.
func (b *Bucket) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.take(b.now())
}

func (b *Bucket) take(now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// maxKeyed bounds the buckets a Buckets keeps. Past it, the full ones
// (which say nothing) are dropped; if none is full, every bucket is,
// which forgives some clients rather than grow without bound.
const maxKeyed = 1 << 14

// Buckets is a Bucket per key (a client address), with a bounded memory.
type Buckets struct {
	mu      sync.Mutex
	rate    float64
	burst   int
	now     func() time.Time
	buckets map[string]*Bucket
}

// NewBuckets returns a per-key token bucket. now defaults to time.Now.
func NewBuckets(rate float64, burst int, now func() time.Time) *Buckets {
	if now == nil {
		now = time.Now
	}
	return &Buckets{rate: rate, burst: burst, now: now, buckets: map[string]*Bucket{}}
}

// Allow takes a token from key's bucket and reports whether there was one.
func (bs *Buckets) Allow(key string) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	now := bs.now()
	b, ok := bs.buckets[key]
	if !ok {
		if len(bs.buckets) >= maxKeyed {
			bs.prune(now)
		}
		b = &Bucket{rate: bs.rate, burst: float64(bs.burst), tokens: float64(bs.burst), last: now}
		bs.buckets[key] = b
	}
	return b.take(now)
}

// prune drops the buckets that have refilled, or all of them.
func (bs *Buckets) prune(now time.Time) {
	for k, b := range bs.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst {
			delete(bs.buckets, k)
		}
	}
	if len(bs.buckets) >= maxKeyed {
		clear(bs.buckets)
	}
}
