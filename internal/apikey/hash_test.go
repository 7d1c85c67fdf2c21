package apikey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
)

// testPepper returns a valid pepper whose bytes all equal b.
func testPepper(b byte) []byte { return bytes.Repeat([]byte{b}, MinPepperLen) }

// newTestHasher returns a Hasher for testPepper(b).
func newTestHasher(t testing.TB, b byte) *Hasher {
	t.Helper()
	h, err := NewHasher(testPepper(b))
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestNewHasherPepperLength(t *testing.T) {
	tests := []struct {
		name string
		n    int
		ok   bool
	}{
		{"Nil", -1, false},
		{"Empty", 0, false},
		{"OneShort", MinPepperLen - 1, false},
		{"Minimum", MinPepperLen, true},
		{"Longer", 64, true},
		{"LongerThanBlock", 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pepper []byte
			if tt.n >= 0 {
				pepper = make([]byte, tt.n)
			}
			h, err := NewHasher(pepper)
			if tt.ok != (err == nil) || tt.ok != (h != nil) {
				t.Errorf("NewHasher(%d bytes) = %v, %v; want ok=%v", tt.n, h, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "32 bytes") {
				t.Errorf("NewHasher(%d bytes) error = %q, want it to name the minimum", tt.n, err)
			}
		})
	}
}

func TestHashIsHMACSHA256(t *testing.T) {
	pepper := []byte("0123456789abcdef0123456789abcdef-pepper")
	h, err := NewHasher(pepper)
	if err != nil {
		t.Fatal(err)
	}
	s := mustParse(t, validKey).Secret
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(validKey))
	want := m.Sum(nil)
	got := h.Hash(s)
	if !bytes.Equal(got[:], want) {
		t.Errorf("Hash(key) = %s, want HMAC-SHA256(pepper, key) = %x", got, want)
	}
}

func TestHashDeterministic(t *testing.T) {
	h := newTestHasher(t, 1)
	s := mustParse(t, validKey).Secret
	first := h.Hash(s)
	for range 10 {
		if got := h.Hash(s); got != first {
			t.Fatalf("Hash(key) = %s, then %s", first, got)
		}
	}
	if got := newTestHasher(t, 1).Hash(s); got != first {
		t.Errorf("Hash(key) with a second Hasher of the same pepper = %s, want %s", got, first)
	}
}

func TestHashCopiesPepper(t *testing.T) {
	pepper := testPepper(1)
	h, err := NewHasher(pepper)
	if err != nil {
		t.Fatal(err)
	}
	s := mustParse(t, validKey).Secret
	before := h.Hash(s)
	pepper[0] ^= 0xff
	if after := h.Hash(s); after != before {
		t.Errorf("changing the caller's pepper slice changed Hash from %s to %s", before, after)
	}
}

func TestHashDiffers(t *testing.T) {
	a := mustParse(t, validKey).Secret
	b, err := Generate(&counterReader{n: 9}, ClassData, EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	h1, h2 := newTestHasher(t, 1), newTestHasher(t, 2)
	if h1.Hash(a) == h2.Hash(a) {
		t.Error("Hash(key) is the same under two different peppers")
	}
	if h1.Hash(a) == h1.Hash(b.Secret) {
		t.Error("Hash is the same for two different keys")
	}
}

func TestHashVerify(t *testing.T) {
	h := newTestHasher(t, 1)
	s := mustParse(t, validKey).Secret
	other, err := Generate(&counterReader{n: 9}, ClassData, EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	good := h.Hash(s)
	flipped := good
	flipped[31] ^= 1
	tests := []struct {
		name   string
		hasher *Hasher
		s      Secret
		want   Hash
		ok     bool
	}{
		{"OK", h, s, good, true},
		{"WrongKey", h, other.Secret, good, false},
		{"OneBitOff", h, s, flipped, false},
		{"ZeroHash", h, s, Hash{}, false},
		{"OtherPepper", newTestHasher(t, 2), s, good, false},
		{"ZeroSecret", h, Secret{}, good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.hasher.Verify(tt.s, tt.want); got != tt.ok {
				t.Errorf("Verify = %v, want %v", got, tt.ok)
			}
		})
	}
}

func TestHashConcurrent(t *testing.T) {
	h := newTestHasher(t, 1)
	keys := make([]Secret, 8)
	want := make([]Hash, len(keys))
	r := seededReader(3)
	for i := range keys {
		c, err := Generate(r, ClassData, EnvLive)
		if err != nil {
			t.Fatal(err)
		}
		keys[i], want[i] = c.Secret, h.Hash(c.Secret)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(keys)
				if got := h.Hash(keys[k]); got != want[k] {
					t.Errorf("concurrent Hash(key %d) = %s, want %s", k, got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDerive(t *testing.T) {
	h := newTestHasher(t, 1)
	seen := map[[32]byte]string{}
	for _, purpose := range []string{"decoy", "idempotency seal", "", "decoy ", "Decoy"} {
		d := h.Derive(purpose)
		if d != h.Derive(purpose) {
			t.Errorf("Derive(%q) is not deterministic", purpose)
		}
		if prev, ok := seen[d]; ok {
			t.Errorf("Derive(%q) = Derive(%q)", purpose, prev)
		}
		seen[d] = purpose
		if d == [32]byte(testPepper(1)) {
			t.Errorf("Derive(%q) returned the pepper itself", purpose)
		}
	}
	if h.Derive("decoy") == newTestHasher(t, 2).Derive("decoy") {
		t.Error("Derive(decoy) is the same under two different peppers")
	}
	// A key can never hash to a derived value: the derivation input has a
	// NUL byte, which no key has.
	if Hash(h.Derive("decoy")) == h.Hash(mustParse(t, validKey).Secret) {
		t.Error("Derive(decoy) equals a key hash")
	}
}

func TestHashText(t *testing.T) {
	h := newTestHasher(t, 1).Hash(mustParse(t, validKey).Secret)
	s := h.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Errorf("Hash.String() = %q, want 64 lower-case hex digits", s)
	}
	got, err := ParseHash(s)
	if err != nil || got != h {
		t.Errorf("ParseHash(%q) = %s, %v; want %s", s, got, err, h)
	}
	if got, err := ParseHash(strings.ToUpper(s)); err != nil || got != h {
		t.Errorf("ParseHash(upper case) = %s, %v; want %s", got, err, h)
	}
	for _, bad := range []string{"", s[:62], s + "00", s[:63] + "g", s[:63]} {
		if _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) succeeded, want error", bad)
		}
	}
}
