package anomaly

import (
	"math/rand/v2"
	"testing"
)

// TestLRUTable drives a table with random touches and inserts as time
// passes, against a model of what each entry last did: expire never
// forgets an entry before its ttl, forgets every one within moveGrain
// after, and a full table evicts only entries less recently moved than
// every other.
func TestLRUTable(t *testing.T) {
	const (
		maxEntries = 50
		ttl        = 5000
		keys       = 200
	)
	rng := rand.New(rand.NewPCG(1, 2))
	tab := newLRUTable[int, int](maxEntries, ttl)
	last := map[int]int64{} // the model: key → last touch, for keys held
	var now int64
	for step := range 200_000 {
		now += int64(rng.IntN(40))
		tab.expire(now)
		for k, l := range last {
			_, held := tab.index[k]
			switch {
			case held && l+ttl+moveGrain <= now:
				t.Fatalf("step %d: key %d touched at %d still held at %d", step, k, l, now)
			case !held && l+ttl > now:
				t.Fatalf("step %d: key %d touched at %d forgotten at %d, before its ttl", step, k, l, now)
			case !held:
				delete(last, k)
			}
		}
		k := rng.IntN(keys)
		if v := tab.lookup(k, now); v != nil {
			if *v != k {
				t.Fatalf("step %d: key %d has value %d", step, k, *v)
			}
			last[k] = now
			continue
		}
		full := tab.Len() == maxEntries
		evicted := -1
		if full {
			evicted = tab.slots[tab.tail].key
			for _, i := range tab.index {
				if tab.slots[i].moved < tab.slots[tab.tail].moved {
					t.Fatalf("step %d: the tail, moved at %d, is not the least recently moved (%d)",
						step, tab.slots[tab.tail].moved, tab.slots[i].moved)
				}
			}
		}
		v, _ := tab.insert(k, now, nil)
		*v = k
		if full {
			delete(last, evicted)
		}
		last[k] = now
		if tab.Len() != len(last) || tab.Len() > maxEntries {
			t.Fatalf("step %d: Len() = %d, model %d, max %d", step, tab.Len(), len(last), maxEntries)
		}
	}
	if tab.displaced == 0 {
		t.Errorf("no entry displaced: the test does not reach the cap")
	}
}
