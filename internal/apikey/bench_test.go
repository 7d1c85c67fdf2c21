package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/netip"
	"strings"
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

// BenchmarkHMACBaseline is the floor any peppered-hash scheme pays: one
// HMAC-SHA256 of a key-sized input with a reused MAC, nothing else.
// docs/benchmarks.md reports the others as ratios to it, measured in the
// same run, because this machine is shared and absolute figures drift.
func BenchmarkHMACBaseline(b *testing.B) {
	mac := hmac.New(sha256.New, make([]byte, 32))
	in := []byte(strings.Repeat("k", KeyLen))
	var out [sha256.Size]byte
	b.ReportAllocs()
	for b.Loop() {
		mac.Reset()
		mac.Write(in)
		mac.Sum(out[:0])
	}
}
