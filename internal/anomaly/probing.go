package anomaly

import (
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/audit"
)

// probe feeds a missing_scope denial to the probing rule, which counts the
// denials of its key and of its principal.
//
// A principal trips when its last Denials denials, within the window, came
// from at least two of its keys. The denials of a key in its own probing
// episode do not count for its principal: that key's alert covers them,
// and a principal alert alongside would say the same thing twice. So when
// a key trips, its denials are dropped from its principal's count.
func (d *Detectors) probe(a *audit.Authz, now int64, at time.Time) []Alert {
	var out []Alert
	keyTag := tagOf(a.KeyID)
	keyProbing := false
	if a.KeyID != "" {
		b := burstOf(d.probeKeys, a.KeyID, now, strings.Clone)
		if b.record(burstEvent{at: now, tag: tagOf(a.Scope)}, d.probeN, d.probeW) && b.trip(now) {
			var f figureList
			d.probingFigures(&f, b, now)
			f.int("scopes", int64(b.distinctTags()))
			f.str("scope", a.Scope)
			out = append(out, newAlert(RuleProbing, keySubject(a.KeyID), a.Principal, a.KeyID, f, at))
			if a.Principal != "" {
				if pb := d.probePrincipals.lookup(a.Principal, now); pb != nil {
					pb.drop(keyTag)
				}
			}
		}
		keyProbing = b.firing
	}
	if a.Principal != "" && !keyProbing {
		b := burstOf(d.probePrincipals, a.Principal, now, strings.Clone)
		if b.record(burstEvent{at: now, tag: keyTag}, d.probeN, d.probeW) && b.hasOtherTag(keyTag) && b.trip(now) {
			var f figureList
			d.probingFigures(&f, b, now)
			f.int("keys", int64(b.distinctTags()))
			f.str("scope", a.Scope)
			f.str("key", a.KeyID)
			out = append(out, newAlert(RuleProbing, "principal:"+a.Principal, a.Principal, "", f, at))
		}
	}
	return out
}

func (d *Detectors) probingFigures(f *figureList, b *burst, now int64) {
	f.int("denials", int64(d.probeN))
	f.dur("window", d.t.Probing.Window)
	f.dur("span", time.Duration(b.span(now))*time.Millisecond)
}

// burstOf returns the burst of k in t, touched at now, creating it; store
// transforms a new k before t keeps it.
func burstOf[K comparable](t *lruTable[K, burst], k K, now int64, store func(K) K) *burst {
	if b := t.lookup(k, now); b != nil {
		return b
	}
	b, _ := t.insert(k, now, store)
	b.reset()
	return b
}
