package apikey

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// FuzzParseKey checks Parse on arbitrary text: it never panics, refuses
// with a *FormatError wrapping one of the format sentinels, and accepts
// only a key that is exactly its own format: the parts it returns put
// back together give the input, the checksum matches, and changing any
// one byte makes it refuse the key.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"", "sgk_", "sgk_live_", "sga_test_0123456789abcdef_",
		mustGenerate(f, ClassData, EnvLive), mustGenerate(f, ClassAdmin, EnvTest),
		strings.Repeat("a", KeyLen), "sgk_live_" + strings.Repeat("A", KeyLen-9),
		"sgk_prod_0123456789abcdef_" + strings.Repeat("x", SecretLen+CRCLen),
		"sgk_live_0123456789abcde-_" + strings.Repeat("x", SecretLen+CRCLen),
		"SGK_live_0123456789abcdef_" + strings.Repeat("x", SecretLen+CRCLen),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			fe, ok := errors.AsType[*FormatError](err)
			if !ok {
				t.Fatalf("Parse(%q) error %T, want *FormatError", s, err)
			}
			if !isFormatSentinel(fe.Err) {
				t.Fatalf("Parse(%q) error wraps %v, want one of the format sentinels", s, fe.Err)
			}
			if fe.ID != "" && (!errors.Is(err, ErrBadChecksum) || string(fe.ID) != s[9:9+IDLen]) {
				t.Fatalf("Parse(%q) error names id %q; only a checksum error names the key's own id", s, fe.ID)
			}
			return
		}
		checkAccepted(t, s, c)
		// A CRC-32 detects every error within 32 bits, and the checksum
		// digits are a one-to-one encoding, so no single-byte change of an
		// accepted key is accepted.
		b := []byte(s)
		for i := range b {
			orig := b[i]
			for _, repl := range []byte{orig ^ 1, orig ^ 0x20, '0', 'z', '_'} {
				if repl == orig {
					continue
				}
				b[i] = repl
				if _, err := Parse(string(b)); err == nil {
					t.Fatalf("Parse accepts %q, which differs from the accepted %q in byte %d", b, s, i)
				}
			}
			b[i] = orig
		}
	})
}

// FuzzGenerateKey checks that every generated key parses back to itself,
// whatever the random source gives.
func FuzzGenerateKey(f *testing.F) {
	f.Add(uint64(0), uint64(0), false, false)
	f.Add(uint64(1), uint64(2), true, false)
	f.Add(^uint64(0), uint64(7), false, true)
	f.Fuzz(func(t *testing.T, s1, s2 uint64, admin, test bool) {
		class, env := ClassData, EnvLive
		if admin {
			class = ClassAdmin
		}
		if test {
			env = EnvTest
		}
		g, err := Generate(rand.NewChaCha8(seed(s1, s2)), class, env)
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		s := g.Secret.Reveal()
		c, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(Generate() = %q) = %v", s, err)
		}
		checkAccepted(t, s, c)
		if c.Class != class || c.Env != env || c.ID != g.ID || !c.Secret.Equal(g.Secret) {
			t.Fatalf("Parse(%q) = %v %v %v, generated %v %v %v", s, c.Class, c.Env, c.ID, class, env, g.ID)
		}
	})
}

func checkAccepted(t *testing.T, s string, c Credential) {
	t.Helper()
	if got := c.Secret.Reveal(); got != s {
		t.Fatalf("Parse(%q).Secret = %q, want the input", s, got)
	}
	if len(s) != KeyLen {
		t.Fatalf("Parse accepts %q of length %d, want %d", s, len(s), KeyLen)
	}
	if rebuilt := string(c.Class) + "_" + string(c.Env) + "_" + string(c.ID) + "_" + s[9+IDLen+1:]; rebuilt != s {
		t.Fatalf("parts of Parse(%q) rebuild %q", s, rebuilt)
	}
	if c.Class != ClassData && c.Class != ClassAdmin || !c.Env.Valid() || len(c.ID) != IDLen || !isBase62(string(c.ID)) {
		t.Fatalf("Parse(%q) = class %q env %q id %q", s, c.Class, c.Env, c.ID)
	}
	if !isBase62(s[9+IDLen+1:]) {
		t.Fatalf("Parse accepts %q with a non-base62 secret", s)
	}
	if sum := checksum([]byte(s[:KeyLen-CRCLen])); !bytes.Equal(sum[:], []byte(s[KeyLen-CRCLen:])) {
		t.Fatalf("Parse accepts %q whose checksum should be %s", s, sum[:])
	}
}

func isFormatSentinel(err error) bool {
	return slices.Contains([]error{ErrBadPrefix, ErrBadEnv, ErrBadLength, ErrBadChars, ErrBadChecksum}, err)
}

func seed(a, b uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i], s[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	return s
}

func mustGenerate(tb testing.TB, class Class, env Env) string {
	tb.Helper()
	c, err := Generate(rand.NewChaCha8([32]byte{1}), class, env)
	if err != nil {
		tb.Fatal(err)
	}
	return c.Secret.Reveal()
}
