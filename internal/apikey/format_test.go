package apikey

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// counterReader yields the bytes n, n+1, n+2, … (mod 256): a deterministic
// stand-in for crypto/rand that makes the output of Generate predictable.
type counterReader struct{ n byte }

func (r *counterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

// seededReader returns a deterministic reader of pseudo-random bytes.
func seededReader(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

// TestGenerateKnownAnswer pins the exact key format, the order in which
// random bytes are used, the rejection of bytes ≥ 248 and the CRC encoding.
// The expected keys were computed independently of this package (Python's
// zlib.crc32 and the documented base62 alphabet). They must never change.
func TestGenerateKnownAnswer(t *testing.T) {
	tests := []struct {
		name  string
		class Class
		env   Env
		start byte
		want  string
	}{
		{"DataLive", ClassData, EnvLive, 0, "sgk_live_0123456789ABCDEF_23456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi2bW4Pz"},
		{"AdminTest", ClassAdmin, EnvTest, 0, "sga_test_0123456789ABCDEF_23456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi2C13TY"},
		// Starting at 240, the bytes 248..255 fall inside the id and are
		// skipped: the id is 240..247 then 0..7.
		{"RejectsHighBytes", ClassData, EnvLive, 240, "sgk_live_stuvwxyz01234567_mnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS2DzLAj"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := Generate(&counterReader{n: tt.start}, tt.class, tt.env)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if got := cred.Secret.Reveal(); got != tt.want {
				t.Errorf("Generate(counter from %d, %s, %s) = %q, want %q", tt.start, tt.class, tt.env, got, tt.want)
			}
			if cred.Class != tt.class || cred.Env != tt.env || cred.ID != ID(tt.want[9:25]) {
				t.Errorf("Generate credential = {%s %s %s}, want {%s %s %s}", cred.Class, cred.Env, cred.ID, tt.class, tt.env, tt.want[9:25])
			}
		})
	}
}

// checksumText is checksum for text, as the tests use it.
func checksumText(s string) string {
	sum := checksum([]byte(s))
	return string(sum[:])
}

func TestChecksumKnownAnswer(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "000000"},  // CRC 0: zero-padded
		{"a", "4GEHKN"}, // CRC 0xe8b7be43
		{"sgk_live_0123456789ABCDEF_23456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi", "2bW4Pz"}, // CRC 0x8e41236b
	}
	for _, tt := range tests {
		if got := checksumText(tt.in); got != tt.want {
			t.Errorf("checksum(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestGenerateParse checks that every generated key has the documented
// shape and parses back to the same credential.
func TestGenerateParse(t *testing.T) {
	r := seededReader(1)
	seen := make(map[string]bool)
	for _, class := range []Class{ClassData, ClassAdmin} {
		for _, env := range []Env{EnvLive, EnvTest} {
			for range 200 {
				cred, err := Generate(r, class, env)
				if err != nil {
					t.Fatalf("Generate(%s, %s): %v", class, env, err)
				}
				s := cred.Secret.Reveal()
				checkKeyShape(t, s, class, env)
				if string(cred.ID) != s[9:9+IDLen] {
					t.Errorf("Generate: ID = %q, want %q from the key", cred.ID, s[9:9+IDLen])
				}
				if seen[s] {
					t.Fatalf("Generate returned %q twice", s)
				}
				seen[s] = true
				got, err := Parse(s)
				if err != nil {
					t.Fatalf("Parse(generated key) error: %v", err)
				}
				if got.Class != class || got.Env != env || got.ID != cred.ID || !got.Secret.Equal(cred.Secret) {
					t.Errorf("Parse(generated key) = {%s %s %s}, want {%s %s %s}", got.Class, got.Env, got.ID, class, env, cred.ID)
				}
			}
		}
	}
}

// checkKeyShape checks s against the format in the package doc, computing
// the checksum independently of the package's own code.
func checkKeyShape(t *testing.T, s string, class Class, env Env) {
	t.Helper()
	if len(s) != KeyLen || KeyLen != 75 {
		t.Fatalf("key has %d characters (KeyLen %d), want 75", len(s), KeyLen)
	}
	if want := string(class) + "_" + string(env) + "_"; !strings.HasPrefix(s, want) {
		t.Errorf("key %.9s… does not start with %q", s, want)
	}
	id, rest, ok := strings.Cut(s[9:], "_")
	if !ok || len(id) != 16 || len(rest) != 43+6 {
		t.Fatalf("key parts are %d and %d characters, want 16 and 49", len(id), len(rest))
	}
	for _, c := range id + rest {
		if !strings.ContainsRune(base62, c) {
			t.Fatalf("key has character %q outside base62", c)
		}
	}
	v := crc32.ChecksumIEEE([]byte(s[:len(s)-6]))
	var n uint64
	for _, c := range s[len(s)-6:] {
		n = n*62 + uint64(strings.IndexRune(base62, c))
	}
	if n != uint64(v) {
		t.Errorf("key checksum decodes to %#x, want CRC-32 %#x", n, v)
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Run("UnknownClass", func(t *testing.T) {
		if _, err := Generate(nil, "sgx", EnvLive); err == nil {
			t.Error(`Generate(class "sgx") succeeded, want error`)
		}
	})
	t.Run("UnknownEnv", func(t *testing.T) {
		if _, err := Generate(nil, ClassData, "prod"); err == nil {
			t.Error(`Generate(env "prod") succeeded, want error`)
		}
	})
	t.Run("ReaderFails", func(t *testing.T) {
		boom := errors.New("entropy source failed")
		_, err := Generate(iotest.ErrReader(boom), ClassData, EnvLive)
		if !errors.Is(err, boom) {
			t.Errorf("Generate(failing reader) error = %v, want %v", err, boom)
		}
	})
	t.Run("ReaderShort", func(t *testing.T) {
		_, err := Generate(bytes.NewReader(make([]byte, 100)), ClassData, EnvLive)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Generate(100-byte reader) error = %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("NilReaderUsesCryptoRand", func(t *testing.T) {
		a, err1 := Generate(nil, ClassData, EnvLive)
		b, err2 := Generate(nil, ClassData, EnvLive)
		if err1 != nil || err2 != nil {
			t.Fatalf("Generate(nil reader) errors: %v, %v", err1, err2)
		}
		if a.Secret.Equal(b.Secret) || a.ID == b.ID {
			t.Error("Generate(nil reader) returned the same key twice")
		}
		checkKeyShape(t, a.Secret.Reveal(), ClassData, EnvLive)
	})
}

func TestNewID(t *testing.T) {
	id, err := NewID(&counterReader{})
	if err != nil || id != "0123456789ABCDEF" {
		t.Errorf("NewID(counter) = %q, %v; want %q", id, err, "0123456789ABCDEF")
	}
	a, _ := NewID(nil)
	b, _ := NewID(nil)
	if len(a) != IDLen || a == b {
		t.Errorf("NewID(nil) = %q then %q, want two different %d-character ids", a, b, IDLen)
	}
	if _, err := NewID(iotest.ErrReader(io.ErrClosedPipe)); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("NewID(failing reader) error = %v, want io.ErrClosedPipe", err)
	}
}

// TestAppendRandomBase62RejectsHighBytes feeds the bytes 248..255, which
// would bias the first eight characters if used, before valid ones.
func TestAppendRandomBase62RejectsHighBytes(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		n    int
		want string
	}{
		{"HighBytesFirst", append([]byte{248, 249, 250, 251, 252, 253, 254, 255}, seq(0, 56)...), 8, "01234567"},
		{"Interleaved", interleave([]byte{255, 248}, seq(0, 32)), 32, "0123456789ABCDEFGHIJKLMNOPQRSTUV"},
		{"Boundary", append([]byte{247, 246, 186, 185, 248, 62, 61}, make([]byte, 57)...), 6, "zy0z0z"},
		{"SpansPools", append(bytes.Repeat([]byte{250}, 60), seq(0, 68)...), 6, "012345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendRandomBase62([]byte("x"), bytes.NewReader(tt.in), tt.n)
			if err != nil {
				t.Fatalf("appendRandomBase62: %v", err)
			}
			if string(got) != "x"+tt.want {
				t.Errorf("appendRandomBase62(%v…, %d) = %q, want %q", tt.in[:8], tt.n, got, "x"+tt.want)
			}
		})
	}
}

func seq(from, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(from + i)
	}
	return b
}

func interleave(bad, good []byte) []byte {
	var out []byte
	for i, g := range good {
		out = append(out, bad[i%len(bad)], g)
	}
	return append(out, make([]byte, 64)...)
}

// TestAppendRandomBase62Uniform is a chi-squared test of the character
// distribution over 620,000 characters from a seeded reader. The same test
// applied to plain b%62 (modulo bias: '0'..'7' come up 5/256 of the time
// instead of 4/256) fails by a wide margin, which shows the test can see
// the bias it guards against.
func TestAppendRandomBase62Uniform(t *testing.T) {
	const n = 62 * 10_000
	// The 0.1% critical value of chi-squared with 61 degrees of freedom.
	const critical = 100.9
	out, err := appendRandomBase62(nil, seededReader(42), n)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != n {
		t.Fatalf("appendRandomBase62(%d) returned %d characters", n, len(out))
	}
	if chi := chiSquared(t, out); chi > critical {
		t.Errorf("chi-squared of %d characters = %.1f, want ≤ %.1f (uniform)", n, chi, critical)
	}

	raw := make([]byte, n)
	io.ReadFull(seededReader(42), raw)
	for i, b := range raw {
		raw[i] = base62[b%62]
	}
	if chi := chiSquared(t, raw); chi <= critical {
		t.Errorf("chi-squared of biased b%%62 = %.1f, want > %.1f: the test cannot see modulo bias", chi, critical)
	}
}

func chiSquared(t *testing.T, chars []byte) float64 {
	t.Helper()
	var counts [62]int
	for _, c := range chars {
		i := strings.IndexByte(base62, c)
		if i < 0 {
			t.Fatalf("character %q outside base62", c)
		}
		counts[i]++
	}
	expected := float64(len(chars)) / 62
	var chi float64
	for _, c := range counts {
		d := float64(c) - expected
		chi += d * d / expected
	}
	return chi
}

// validKey is a well-formed key for the malformed-key table:
// sgk_live_0123456789ABCDEF_<secret><crc>.
const validKey = "sgk_live_0123456789ABCDEF_23456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi2bW4Pz"

// withChecksum replaces the last six characters of s with its correct
// checksum, so a test can reach the checks that come before it.
func withChecksum(s string) string {
	return s[:len(s)-CRCLen] + checksumText(s[:len(s)-CRCLen])
}

func TestParseMalformed(t *testing.T) {
	if _, err := Parse(validKey); err != nil {
		t.Fatalf("Parse(validKey) error: %v", err)
	}
	secretPart := validKey[26 : 26+SecretLen]
	tests := []struct {
		name   string
		in     string
		want   error
		wantID ID
	}{
		{"Empty", "", ErrBadLength, ""},
		{"OneShort", validKey[:KeyLen-1], ErrBadLength, ""},
		{"OneLong", validKey + "0", ErrBadLength, ""},
		{"Truncated", validKey[:20], ErrBadLength, ""},
		{"Whitespace", " " + validKey, ErrBadLength, ""},
		{"BearerPrefix", "Bearer " + validKey[:KeyLen-7], ErrBadPrefix, ""},
		{"OtherPrefix", "sgx" + validKey[3:], ErrBadPrefix, ""},
		{"UpperCasePrefix", "SGK" + validKey[3:], ErrBadPrefix, ""},
		{"OtherVendorPrefix", "sk-" + validKey[3:], ErrBadPrefix, ""},
		{"PrefixSeparator", "sgk-" + validKey[4:], ErrBadPrefix, ""},
		{"OtherEnv", "sgk_prod" + validKey[8:], ErrBadEnv, ""},
		{"UpperCaseEnv", "sgk_LIVE" + validKey[8:], ErrBadEnv, ""},
		{"EnvSeparator", "sgk_live-" + validKey[9:], ErrBadEnv, ""},
		{"IDTooShort", validKey[:24] + "_X" + validKey[26:], ErrBadLength, ""},
		{"IDTooLong", validKey[:25] + "X" + validKey[26:], ErrBadLength, ""},
		{"IDBadChar", withChecksum(validKey[:12] + "-" + validKey[13:]), ErrBadChars, ""},
		{"SecretBadChar", withChecksum(validKey[:40] + "+" + validKey[41:]), ErrBadChars, ""},
		{"SecretUnderscore", withChecksum(validKey[:40] + "_" + validKey[41:]), ErrBadChars, ""},
		{"SecretNonASCII", withChecksum(validKey[:40] + "é" + validKey[42:]), ErrBadChars, ""},
		{"CRCBadChar", validKey[:KeyLen-1] + "/", ErrBadChars, ""},
		{"CRCFlipped", validKey[:KeyLen-1] + "y", ErrBadChecksum, "0123456789ABCDEF"},
		{"SecretTypo", validKey[:30] + "X" + validKey[31:], ErrBadChecksum, "0123456789ABCDEF"},
		{"SecretSwapped", validKey[:26] + secretPart[1:2] + secretPart[:1] + validKey[28:], ErrBadChecksum, "0123456789ABCDEF"},
		{"IDTypo", validKey[:9] + "X" + validKey[10:], ErrBadChecksum, "X123456789ABCDEF"},
		{"ClassSwapped", "sga" + validKey[3:], ErrBadChecksum, "0123456789ABCDEF"},
		{"EnvSwapped", "sgk_test" + validKey[8:], ErrBadChecksum, "0123456789ABCDEF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%q) error = %v, want %v", tt.in, err, tt.want)
			}
			if got.Class != "" || got.Env != "" || got.ID != "" || !got.Secret.IsZero() {
				t.Errorf("Parse(%q) returned %v with its error, want the zero Credential", tt.in, got)
			}
			fe, ok := errors.AsType[*FormatError](err)
			if !ok {
				t.Fatalf("Parse(%q) error is %T, want *FormatError", tt.in, err)
			}
			if fe.ID != tt.wantID {
				t.Errorf("Parse(%q) FormatError.ID = %q, want %q", tt.in, fe.ID, tt.wantID)
			}
			for _, other := range []error{ErrBadPrefix, ErrBadEnv, ErrBadLength, ErrBadChars, ErrBadChecksum} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("Parse(%q) error is also %v", tt.in, other)
				}
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "malformed API key: ") || fe.Detail == "" {
				t.Errorf("Parse(%q) error = %q, want \"malformed API key: <detail>\"", tt.in, msg)
			}
			if strings.Contains(msg, secretPart[:8]) || (len(tt.in) >= 40 && strings.Contains(msg, tt.in[26:40])) {
				t.Errorf("Parse(%q) error %q quotes the key", tt.in, msg)
			}
		})
	}
}

// TestParseCatchesEveryTypo checks that every single-character typo in a
// valid key is refused by Parse, before any lookup: the CRC catches each.
func TestParseCatchesEveryTypo(t *testing.T) {
	for i := 9; i < KeyLen; i++ {
		if validKey[i] == '_' {
			continue
		}
		for _, c := range []byte{'0', 'a', 'Z'} {
			if validKey[i] == c {
				continue
			}
			in := validKey[:i] + string(c) + validKey[i+1:]
			if _, err := Parse(in); err == nil {
				t.Errorf("Parse accepted a typo at position %d: %q", i, in)
			}
		}
	}
}
