package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// maxCached bounds the key cache. Past it the cache is emptied rather than
// evicting one entry at a time: simple, and a full cache refills from the
// store at the cost of one read per key.
const maxCached = 100_000

// KeyCache keeps key and principal records in memory for a short TTL in
// front of the store, so a request costs no store read. Changes made
// through this process call ForgetKey or ForgetPrincipal, so they take
// effect on the next request; in cluster mode the change notifications of
// the other replicas' changes do the same. The TTL bounds how stale a
// record changed elsewhere can be when no notification arrives.
// Misses are not cached, so an unknown id always reaches the store.
type KeyCache struct {
	store apikey.Lookup
	ttl   time.Duration
	now   func() time.Time
	// hits and misses count lookups answered from memory and those passed
	// to the store, for metrics.
	hits, misses atomic.Uint64

	mu         sync.Mutex
	keys       map[apikey.ID]cached[apikey.Key]
	principals map[apikey.PrincipalID]cached[apikey.Principal]
	// gen counts the Forget*, Bypass and Resume calls. A lookup that
	// read the store before one of them caches nothing: what it read may
	// be the record that was just forgotten.
	gen uint64
	// bypass is set between Bypass and Resume: nothing is cached.
	bypass bool
}

type cached[T any] struct {
	v       T
	expires time.Time
}

var _ apikey.Lookup = (*KeyCache)(nil)

// NewKeyCache returns a cache over store. A ttl of zero disables caching.
func NewKeyCache(store apikey.Lookup, ttl time.Duration, now func() time.Time) *KeyCache {
	if now == nil {
		now = time.Now
	}
	return &KeyCache{store: store, ttl: ttl, now: now,
		keys: map[apikey.ID]cached[apikey.Key]{}, principals: map[apikey.PrincipalID]cached[apikey.Principal]{}}
}

// Key returns the key id from the cache or the store.
func (c *KeyCache) Key(ctx context.Context, id apikey.ID) (apikey.Key, error) {
	return lookup(c, c.keys, id, func() (apikey.Key, error) { return c.store.Key(ctx, id) })
}

// Principal returns the principal id from the cache or the store.
func (c *KeyCache) Principal(ctx context.Context, id apikey.PrincipalID) (apikey.Principal, error) {
	return lookup(c, c.principals, id, func() (apikey.Principal, error) { return c.store.Principal(ctx, id) })
}

func lookup[K comparable, V any](c *KeyCache, m map[K]cached[V], id K, load func() (V, error)) (V, error) {
	if c.ttl <= 0 {
		c.misses.Add(1)
		return load()
	}
	now := c.now()
	c.mu.Lock()
	e, ok := m[id] // empty while bypassed
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		c.hits.Add(1)
		return e.v, nil
	}
	c.misses.Add(1)
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.bypass {
		return v, nil
	}
	if len(m) >= maxCached {
		clear(m)
	}
	m[id] = cached[V]{v: v, expires: now.Add(c.ttl)}
	return v, nil
}

// Stats returns how many key and principal lookups the cache answered
// from memory (hits) and how many it passed to the store (misses: not
// cached, expired, or caching disabled), since it was made.
func (c *KeyCache) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

// ForgetKey drops key id from the cache.
func (c *KeyCache) ForgetKey(id apikey.ID) {
	c.mu.Lock()
	delete(c.keys, id)
	c.gen++
	c.mu.Unlock()
}

// ForgetPrincipal drops principal id and every cached key of it: a
// principal's change (disabled, a smaller ceiling) changes what its keys
// may do.
func (c *KeyCache) ForgetPrincipal(id apikey.PrincipalID) {
	c.mu.Lock()
	delete(c.principals, id)
	for kid, e := range c.keys {
		if e.v.Principal == id {
			delete(c.keys, kid)
		}
	}
	c.gen++
	c.mu.Unlock()
}

// Forget drops everything, e.g. when change notifications may have been
// missed.
func (c *KeyCache) Forget() {
	c.mu.Lock()
	clear(c.keys)
	clear(c.principals)
	c.gen++
	c.mu.Unlock()
}

// Bypass drops everything and stops caching until Resume: every lookup
// reads the store. The gateway bypasses its cache while it cannot hear of
// changes made elsewhere, so that it fails closed (a revoked key is
// refused) rather than serve records that may be stale.
func (c *KeyCache) Bypass() {
	c.mu.Lock()
	clear(c.keys)
	clear(c.principals)
	c.bypass = true
	c.gen++
	c.mu.Unlock()
}

// Resume ends a Bypass: lookups are cached again.
func (c *KeyCache) Resume() {
	c.mu.Lock()
	c.bypass = false
	c.gen++
	c.mu.Unlock()
}

// Bypassed reports whether the cache is bypassed.
func (c *KeyCache) Bypassed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bypass
}
