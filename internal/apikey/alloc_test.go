//go:build !race

package apikey

import (
	"net/netip"
	"testing"
	"time"
)

// TestVerifyDoesNotAllocate guards the per-request cost: checking a valid
// key against an in-memory lookup allocates nothing. Verify hashes the
// presented text without wrapping it in a Secret, whose pointer to the
// text would be an allocation (see Secret for why it is a pointer). (The
// race detector changes allocation counts, so this file is skipped under
// -race.)
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
	if allocs != 0 {
		t.Errorf("Verify of a valid key made %v allocations, want 0", allocs)
	}
}
