package anomaly

// burstEvent is one event a counting rule remembers: its time, a tag (the
// hash of the key or scope it was about, for the figures' distinct
// counts; 0 for none) and a kind (the index of its reason).
type burstEvent struct {
	at   int64 // ms
	tag  uint32
	kind uint16
}

// burst is one subject's state under a counting rule (probing, credential
// bursts): the rule holds when the subject's last n events, the current
// one included, all fall within the window w, which is exactly "at least
// n events in (now-w, now]". It remembers the last n events in a ring,
// which grows to n only for a subject that reaches 5 events, so a flood of
// one-off subjects costs little.
//
// An episode starts when the rule holds and the subject is not already in
// one (the rule fires then, once); it ends once w has passed since the
// rule last held. A burst whose latest event is w old is therefore the
// same as a fresh one, which is what lets its table forget it then.
type burst struct {
	ring   []burstEvent
	pos    int   // when the ring is full: its oldest event
	hot    int64 // ms: the last time the rule held, during an episode
	firing bool  // in an episode
}

// reset makes b fresh, keeping its ring's memory.
func (b *burst) reset() {
	*b = burst{ring: b.ring[:0]}
}

// record adds e, the subject's latest event, and reports whether the last
// n events fall within w ms of it. Times never decrease.
func (b *burst) record(e burstEvent, n int, w int64) bool {
	if b.firing && e.at-b.hot >= w {
		b.firing = false
	}
	if len(b.ring) < n {
		if len(b.ring) == cap(b.ring) {
			c := n
			if cap(b.ring) == 0 {
				c = min(n, 4)
			}
			ring := make([]burstEvent, len(b.ring), c)
			copy(ring, b.ring)
			b.ring = ring
		}
		b.ring = append(b.ring, e)
		if len(b.ring) < n {
			return false
		}
		b.pos = 0
	} else {
		b.ring[b.pos] = e
		b.pos++
		if b.pos == n {
			b.pos = 0
		}
	}
	return e.at-b.ring[b.pos].at < w
}

// trip notes that the rule holds at now and reports whether that starts
// an episode: whether to fire.
func (b *burst) trip(now int64) bool {
	b.hot = now
	if b.firing {
		return false
	}
	b.firing = true
	return true
}

// span returns the time between the oldest remembered event and now, in
// ms.
func (b *burst) span(now int64) int64 {
	if len(b.ring) == 0 {
		return 0
	}
	return now - b.ring[b.pos].at // pos is 0 until the ring is full
}

// distinctTags returns how many distinct nonzero tags the remembered
// events have. It allocates; it runs when a rule fires.
func (b *burst) distinctTags() int {
	seen := make(map[uint32]struct{}, len(b.ring))
	for _, e := range b.ring {
		if e.tag != 0 {
			seen[e.tag] = struct{}{}
		}
	}
	return len(seen)
}

// hasOtherTag reports whether a remembered event has a nonzero tag other
// than tag.
func (b *burst) hasOtherTag(tag uint32) bool {
	for _, e := range b.ring {
		if e.tag != 0 && e.tag != tag {
			return true
		}
	}
	return false
}

// tagOf returns a 32-bit FNV-1a hash of s, never 0 unless s is empty: a
// tag for counting distinct keys or scopes among a burst's events. A
// collision only makes a figure one lower.
func tagOf(s string) uint32 {
	if s == "" {
		return 0
	}
	h := uint32(2166136261)
	for i := range len(s) {
		h ^= uint32(s[i])
		h *= 16777619
	}
	if h == 0 {
		h = 1
	}
	return h
}

// drop forgets the remembered events tagged tag (nonzero), keeping the
// others in order.
func (b *burst) drop(tag uint32) {
	n := len(b.ring)
	kept := make([]burstEvent, 0, 16)
	if n > 16 {
		kept = make([]burstEvent, 0, n)
	}
	for i := range n {
		if e := b.ring[(b.pos+i)%n]; e.tag != tag {
			kept = append(kept, e)
		}
	}
	b.ring = b.ring[:copy(b.ring, kept)]
	b.pos = 0
}
