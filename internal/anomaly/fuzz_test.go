package anomaly

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/audit"
)

// FuzzObserve feeds events of arbitrary field values and times to
// detectors with low thresholds, so every rule fires: Observe must not
// panic, its alerts must be well-formed, and its state stay within its
// caps.
func FuzzObserve(f *testing.F) {
	f.Add(int64(0), int64(1000), uint8(0), "k1", "alice", "chatbot:gpt-4o", "203.0.113.7", "deny", "missing_scope", int64(10), int64(20))
	f.Add(int64(1<<40), int64(-5), uint8(1), "", "", "", "::ffff:10.0.0.1", "allow", "", int64(-1), int64(1<<62))
	f.Add(int64(-1<<62), int64(1<<62), uint8(7), "k 2", "p\n", "x", "2001:db8::/48", "deny", "key_revoked", int64(0), int64(0))
	f.Add(int64(1<<62), int64(60000), uint8(255), "\xff", "é", "=", "fe80::1%eth0", "allow", "allowed", int64(1<<63-1), int64(1<<63-1))
	f.Fuzz(func(t *testing.T, ms, step int64, kind uint8, key, principal, sc, ip, decision, reason string, in, out int64) {
		var th Thresholds
		th.Probing.Denials, th.Probing.Window = 2, time.Second
		th.CredentialBurst.Failures, th.CredentialBurst.Window = 2, time.Second
		th.RateSpike.Warmup, th.RateSpike.MinPerMinute, th.RateSpike.MinTokensPerMinute = 1, 1, 1
		th.NewNetwork.Learning, th.NewNetwork.MaxNetworks, th.NewNetwork.Hold = time.Millisecond, 2, time.Millisecond
		th.State.MaxKeys, th.State.MaxSubjects = 3, 3
		d := NewDetectors(th)
		for i := range 12 {
			k := kind + uint8(i)
			r := audit.Record{Index: uint64(i), Time: time.UnixMilli(ms + int64(i)*step)}
			keyID := key
			if k&8 != 0 {
				keyID += string(rune('a' + i%4)) // several subjects
			}
			switch k % 4 {
			case 0:
				r.Event = audit.Usage{KeyID: keyID, InputTokens: in, OutputTokens: out}
			case 1:
				r.Event = audit.Authz{KeyID: keyID, Principal: principal, Scope: sc, ClientIP: ip, Decision: decision, Reason: reason}
			default:
				dec := []string{"allow", "deny"}[k>>2&1]
				rsn := []string{"missing_scope", "invalid_key", "allowed", reason}[k>>4&3]
				r.Event = &audit.Authz{KeyID: keyID, Principal: principal, Scope: sc, ClientIP: ip, Decision: dec, Reason: rsn}
			}
			for _, a := range d.Observe(r) {
				checkFuzzAlert(t, a, r)
			}
		}
		if n := d.Len(); n > 3+3*3 {
			t.Errorf("Len() = %d, want at most the caps, %d", n, 3+3*3)
		}
	})
}

func checkFuzzAlert(t *testing.T, a Alert, r audit.Record) {
	t.Helper()
	if !slices.Contains(detectorRules, a.Rule) {
		t.Errorf("alert %+v: unknown rule", a)
	}
	subject, _, ok := strings.Cut(a.Subject, ":")
	if !ok || !slices.Contains([]string{"key", "principal", "net"}, subject) {
		t.Errorf("alert %+v: subject %q", a, a.Subject)
	}
	if (subject == "key") != (a.Key != "") || subject == "key" && a.Subject != "key:"+string(a.Key) {
		t.Errorf("alert %+v: Key %q for subject %q", a, a.Key, a.Subject)
	}
	if !a.At.Equal(r.Time) {
		t.Errorf("alert %+v: At %v, want the record's time %v", a, a.At, r.Time)
	}
	for fig := range strings.SplitSeq(a.Figures, " ") {
		if name, _, ok := strings.Cut(fig, "="); !ok || name == "" {
			t.Errorf("alert %+v: figure %q is not name=value", a, fig)
		}
	}
	if strings.ContainsFunc(a.Figures, func(r rune) bool { return r < ' ' && r != ' ' }) {
		t.Errorf("alert %+v: control character in figures", a)
	}
}
