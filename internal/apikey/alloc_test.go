//go:build !race

package apikey

import (
	"net/netip"
	"testing"
	"time"
)

// TestVerifyDoesNotAllocate guards the per-request cost: checking a valid
// key against an in-memory lookup allocates at most once, for the Secret's
// pointer to the key text (see Secret for why it is a pointer). (The race detector
// changes allocation counts, so this file is skipped under -race.)
func TestVerifyDoesNotAllocate(t *testing.T) {
	f := newVerifyFixture(t, ClassData)
	v := NewVerifier(f.lookup, f.hasher, func() time.Time { return f.now })
	key := f.cred.Secret.Reveal()
	addr := netip.MustParseAddr("10.1.2.3")
	ctx := t.Context()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(ctx, key, ClassData, addr); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Verify of a valid key made %v allocations, want at most 1", allocs)
	}
}
