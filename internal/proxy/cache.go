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
// through this process call Forget, so they take effect on the next
// request; the TTL bounds how stale a record changed elsewhere can be.
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
	// gen counts Forget, ForgetPrincipal and Clear calls. A lookup that
	// read the store before one of them caches nothing: what it read may
	// be the record that was just forgotten.
	gen uint64
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
	e, ok := m[id]
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
	if c.gen != gen {
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

// Forget drops key id from the cache.
func (c *KeyCache) Forget(id apikey.ID) {
	c.mu.Lock()
	delete(c.keys, id)
	c.gen++
	c.mu.Unlock()
}

// ForgetPrincipal drops principal id from the cache.
func (c *KeyCache) ForgetPrincipal(id apikey.PrincipalID) {
	c.mu.Lock()
	delete(c.principals, id)
	c.gen++
	c.mu.Unlock()
}

// Clear drops everything, e.g. when change notifications may have been
// missed.
func (c *KeyCache) Clear() {
	c.mu.Lock()
	clear(c.keys)
	clear(c.principals)
	c.gen++
	c.mu.Unlock()
}
