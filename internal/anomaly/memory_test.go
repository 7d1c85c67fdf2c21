package anomaly

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/audit"
)

// TestMemoryBounded feeds events from a million distinct keys, principals
// and client networks (a hundred thousand under the race detector) and
// checks that the state held stays within its caps and the heap flat.
//
// Every 5 ms of trace time, key i makes an allowed call from its own /24
// and reports usage, is denied a scope, and an unknown key is presented
// from another new /24: 12,000 new subjects a minute per burst table,
// which forget them a minute later, and a million keys, which the key
// table's cap (State.MaxKeys) must hold down.
func TestMemoryBounded(t *testing.T) {
	n, th := 1_000_000, Thresholds{}
	if detRaceEnabled {
		// A tenth of the scale, and of the caps.
		n = 100_000
		th.State.MaxKeys, th.State.MaxSubjects = 10_000, 2_000
	}
	th = th.withDefaults()
	d := NewDetectors(th)
	base := heapInuse()

	var mid uint64
	buf := make([]byte, 0, 32)
	id := func(prefix byte, i int) string {
		buf = append(buf[:0], prefix)
		buf = strconv.AppendInt(buf, int64(i), 10)
		for len(buf) < 16 {
			buf = append(buf, 'x')
		}
		return string(buf)
	}
	ip := func(first, i int) string {
		return fmt.Sprintf("%d.%d.%d.7", first+i>>16, i>>8&255, i&255)
	}
	alerts := 0
	start := time.Now()
	for i := range n {
		at := detT0.Add(time.Duration(i) * 5 * time.Millisecond)
		key, principal := id('k', i), id('p', i)
		for _, e := range []audit.Event{
			audit.Authz{KeyID: key, Principal: principal, ClientIP: ip(10, i), Decision: "allow", Reason: "allowed"},
			audit.Usage{KeyID: key, InputTokens: 100, OutputTokens: 100},
			audit.Authz{KeyID: key, Principal: principal, Scope: "x", Decision: "deny", Reason: "missing_scope"},
			audit.Authz{KeyID: id('u', i), ClientIP: ip(100, i), Decision: "deny", Reason: "invalid_key"},
		} {
			alerts += len(d.Observe(audit.Record{Index: uint64(i), Time: at, Event: e}))
		}
		if i == n/2 {
			mid = heapInuse()
		}
	}
	elapsed := time.Since(start)
	end := heapInuse()
	s := d.Stats()
	t.Logf("%d events in %v (%.0f/s); state %+v; heap in use: %.1f MiB at half, %.1f MiB at the end (%.1f MiB before)",
		4*n, elapsed, float64(4*n)/elapsed.Seconds(), s, mib(mid), mib(end), mib(base))

	if alerts != 0 {
		t.Errorf("%d alerts, want none", alerts)
	}
	maxKeys, maxSubjects := th.State.MaxKeys, th.State.MaxSubjects
	perMinute := int(time.Minute / (5 * time.Millisecond))
	switch {
	case s.Keys != maxKeys || s.KeyNetworks != maxKeys:
		t.Errorf("Keys %d, KeyNetworks %d; want the cap, %d", s.Keys, s.KeyNetworks, maxKeys)
	case s.ProbingKeys > min(perMinute, maxSubjects) || s.ProbingPrincipals > min(perMinute, maxSubjects) ||
		s.Networks > min(perMinute, maxSubjects):
		t.Errorf("burst tables %+v; want at most the subjects of a window, %d, capped at %d", s, perMinute, maxSubjects)
	case d.Len() > maxKeys+3*maxSubjects:
		t.Errorf("Len() = %d, want at most %d", d.Len(), maxKeys+3*maxSubjects)
	}
	// The documented costs (docs/anomalies.md): about 390 bytes a key
	// with one network, and 290 a burst subject with one event: here
	// 100,000 × 390 B + 3 × 12,000 × 290 B ≈ 47 MiB. Allow for the
	// allocator's and the collector's accounting.
	bound := float64(maxKeys)*390 + float64(3*min(perMinute, maxSubjects))*290
	if grew := float64(end) - float64(base); grew > 1.5*bound {
		t.Errorf("heap grew by %.1f MiB, want at most 1.5 × %.1f MiB", grew/(1<<20), bound/(1<<20))
	}
	// Flat: past the first half the state is at its caps, and the heap
	// must not keep growing with the number of distinct subjects.
	if grew := float64(end) - float64(mid); grew > 0.1*bound {
		t.Errorf("heap grew by %.1f MiB in the second half, want flat (at most %.1f MiB)", grew/(1<<20), 0.1*bound/(1<<20))
	}
}

// heapInuse returns the bytes of heap in use after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
