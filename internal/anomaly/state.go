package anomaly

import "math"

// lruTable holds the state of up to max subjects, ordered by their latest
// event: a map from subject to a slot of a slab, and a doubly linked list
// through the slots, the most recently touched first. Because the
// detectors' clock never goes back, that order is also the order of last
// touch times, so the entries idle for ttl are all at the tail: expire
// pops them in amortised O(1), and a full table evicts its tail (the least
// recently used) to make room. Slots are reused with their buffers, so a
// table that has reached its size allocates only to clone a new
// subject's name.
//
// A touch moves an entry to the head only if it last moved moveGrain ago
// or more: a busy subject costs one move a second, not one per event
// (each move writes three other slots, likely cold in a large table). The
// list is then in the order of the entries' last moves, and an entry may
// outlive its ttl by up to moveGrain behind an older tail, never less:
// expire checks each entry's own last touch.
//
// Indices are int32 to keep slots small; max is at most MaxStateEntries.
type lruTable[K comparable, V any] struct {
	index    map[K]int32
	slots    []lruSlot[K, V]
	free     int32 // first free slot (linked through next), or -1
	head     int32 // most recently moved, or -1
	tail     int32 // least recently moved, or -1
	tailLast int64 // the tail's last touch, so expire need not read its slot; MaxInt64 if none
	max      int
	ttl      int64 // ms: an entry untouched for ttl is idle

	// displaced counts entries evicted before they were idle.
	displaced uint64
	// onEvict, if set, is told of each value before its slot is freed.
	onEvict func(*V)
}

type lruSlot[K comparable, V any] struct {
	key        K
	prev, next int32
	last       int64 // ms of the latest touch
	moved      int64 // ms of the latest move to the head
	val        V
}

// moveGrain is how long after its last move a touched entry stays where
// it is, in ms.
const moveGrain = 1000

func newLRUTable[K comparable, V any](maxEntries int, ttl int64) *lruTable[K, V] {
	return &lruTable[K, V]{index: make(map[K]int32), free: -1, head: -1, tail: -1, tailLast: math.MaxInt64,
		max: maxEntries, ttl: ttl}
}

// Len returns the number of entries held.
func (t *lruTable[K, V]) Len() int { return len(t.index) }

// lookup returns the entry of k, touched at now, or nil.
func (t *lruTable[K, V]) lookup(k K, now int64) *V {
	i, ok := t.index[k]
	if !ok {
		return nil
	}
	t.touch(i, now)
	return &t.slots[i].val
}

// insert adds k, which must not be held, at now and returns its value:
// the zero value, or a value left by an evicted entry whose buffers the
// caller resets and reuses. store transforms k before it is kept (to
// clone a string out of a larger one). The pointer is valid until the
// next insert.
func (t *lruTable[K, V]) insert(k K, now int64, store func(K) K) (v *V, reused bool) {
	if len(t.index) >= t.max && t.tail >= 0 {
		t.displaced++
		t.remove(t.tail)
	}
	i := t.free
	if i >= 0 {
		t.free = t.slots[i].next
		reused = true
	} else {
		if len(t.slots) >= math.MaxInt32 {
			panic("anomaly: state table overflow") // unreachable: max ≤ MaxStateEntries
		}
		t.slots = append(t.slots, lruSlot[K, V]{})
		i = int32(len(t.slots) - 1)
	}
	s := &t.slots[i]
	if store != nil {
		k = store(k)
	}
	s.key, s.last, s.moved = k, now, now
	s.prev, s.next = -1, t.head
	if t.head >= 0 {
		t.slots[t.head].prev = i
	}
	t.head = i
	if t.tail < 0 {
		t.tail, t.tailLast = i, now
	}
	t.index[k] = i
	return &s.val, reused
}

// expire evicts the entries idle at now: untouched since now-ttl or
// earlier.
func (t *lruTable[K, V]) expire(now int64) {
	limit := now - t.ttl
	if now < math.MinInt64+t.ttl { // saturate instead of wrapping
		return
	}
	for t.tailLast <= limit {
		t.remove(t.tail)
	}
}

func (t *lruTable[K, V]) touch(i int32, now int64) {
	s := &t.slots[i]
	s.last = now
	if now-s.moved < moveGrain || t.head == i {
		if t.tail == i {
			t.tailLast = now
		}
		return
	}
	s.moved = now
	t.unlink(i)
	s.prev, s.next = -1, t.head
	t.slots[t.head].prev = i
	t.head = i
}

func (t *lruTable[K, V]) unlink(i int32) {
	s := &t.slots[i]
	if s.prev >= 0 {
		t.slots[s.prev].next = s.next
	} else {
		t.head = s.next
	}
	if s.next >= 0 {
		t.slots[s.next].prev = s.prev
	} else {
		t.tail = s.prev
		t.tailLast = math.MaxInt64
		if t.tail >= 0 {
			t.tailLast = t.slots[t.tail].last
		}
	}
}

// remove frees slot i, keeping its value's buffers for the next insert.
func (t *lruTable[K, V]) remove(i int32) {
	s := &t.slots[i]
	if t.onEvict != nil {
		t.onEvict(&s.val)
	}
	delete(t.index, s.key)
	t.unlink(i)
	var zero K
	s.key = zero // release a string key
	s.prev, s.next = -1, t.free
	t.free = i
}
