package apikey

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkVerify measures the whole check of a valid key: parse, checksum,
// lookup in an in-memory map, HMAC, constant-time compare, key state and
// principal state. It is the per-request cost of authentication without
// the store's own latency.
func BenchmarkVerify(b *testing.B) {
	f := newVerifyFixture(b, ClassData)
	v := NewVerifier(f.lookup, f.hasher, func() time.Time { return f.now })
	key := f.cred.Secret.Reveal()
	addr := netip.MustParseAddr("10.1.2.3")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, key, ClassData, addr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAndHash measures the CPU work of checking a key, without a
// lookup: Parse (shape and CRC) and Hasher.Verify (HMAC-SHA256 and
// constant-time compare).
func BenchmarkParseAndHash(b *testing.B) {
	h := newTestHasher(b, 1)
	cred, err := Generate(seededReader(5), ClassData, EnvLive)
	if err != nil {
		b.Fatal(err)
	}
	want := h.Hash(cred.Secret)
	key := cred.Secret.Reveal()
	b.ReportAllocs()
	for b.Loop() {
		c, err := Parse(key)
		if err != nil {
			b.Fatal(err)
		}
		if !h.Verify(c.Secret, want) {
			b.Fatal("Verify = false")
		}
	}
}

// BenchmarkGenerate measures making a new key from crypto/rand.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(nil, ClassData, EnvLive); err != nil {
			b.Fatal(err)
		}
	}
}
