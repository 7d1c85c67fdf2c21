package anomaly

import (
	"time"

	"github.com/scopegate/scopegate/internal/audit"
)

// credentialFailure feeds a denial for an unusable credential (reason
// index kind in CredentialBurst.Reasons) to the credential-burst rule,
// which counts them by client network. A denial without a usable client
// address counts nowhere.
func (d *Detectors) credentialFailure(a *audit.Authz, kind int, now int64, at time.Time) []Alert {
	id, ok := parseNetwork(a.ClientIP)
	if !ok {
		return nil
	}
	b := burstOf(d.networks, id, now, nil)
	ev := burstEvent{at: now, tag: tagOf(a.KeyID), kind: uint16(kind)}
	if !b.record(ev, d.credN, d.credW) || !b.trip(now) {
		return nil
	}
	var f figureList
	f.int("failures", int64(d.credN))
	f.dur("window", d.t.CredentialBurst.Window)
	f.dur("span", time.Duration(b.span(now))*time.Millisecond)
	f.int("keys", int64(b.distinctTags()))
	reasons := d.t.CredentialBurst.Reasons
	counts := make([]int64, len(reasons))
	for _, e := range b.ring {
		counts[e.kind]++
	}
	for i, n := range counts {
		if n > 0 {
			f.int(reasons[i], n)
		}
	}
	f.str("key", a.KeyID)
	return []Alert{newAlert(RuleCredentialBurst, "net:"+id.String(), "", "", f, at)}
}
