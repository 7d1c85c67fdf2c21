package metrics

import (
	"maps"
	"sync"
	"sync/atomic"
)

// children caches the children of a metric vector by label tuple, so the
// request path finds its counter with one atomic load and one map read,
// without the allocation and hashing of WithLabelValues. The map is
// copy-on-write: readers never lock, and a new combination (rare, and at
// most MaxSeries of them) copies it under mu. Combinations past MaxSeries
// are not kept, so each of their observations takes mu: slower, but only
// reached by a bug that passed an unbounded label value.
type children[K comparable, V any] struct {
	m        atomic.Pointer[map[K]V]
	mu       sync.Mutex
	newChild func(K) V
	// other is the tuple every combination past MaxSeries is counted
	// under.
	other K
}

func newChildren[K comparable, V any](other K, newChild func(K) V) *children[K, V] {
	c := &children[K, V]{newChild: newChild, other: other}
	empty := map[K]V{}
	c.m.Store(&empty)
	return c
}

// get returns the child of k, creating it on first use.
func (c *children[K, V]) get(k K) V {
	if v, ok := (*c.m.Load())[k]; ok {
		return v
	}
	return c.add(k)
}

func (c *children[K, V]) add(k K) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.m.Load()
	if v, ok := old[k]; ok {
		return v
	}
	if len(old) >= MaxSeries {
		k = c.other
		if v, ok := old[k]; ok {
			return v
		}
	}
	next := maps.Clone(old)
	v := c.newChild(k)
	next[k] = v
	c.m.Store(&next)
	return v
}
