package apikey

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"unsafe"
)

// Class says what a credential is for. The data plane accepts only
// ClassData, the admin API only ClassAdmin; the prefix makes the difference
// visible to people and to secret scanners.
type Class string

// The credential classes and their prefixes.
const (
	ClassData  Class = "sgk"
	ClassAdmin Class = "sga"
)

// Env is the environment a key belongs to: live traffic or tests.
type Env string

// The environments.
const (
	EnvLive Env = "live"
	EnvTest Env = "test"
)

// Valid reports whether e is a known environment.
func (e Env) Valid() bool { return e == EnvLive || e == EnvTest }

// Lengths of the parts of a key. The format never changes; a new format
// would get a new prefix.
const (
	IDLen     = 16
	SecretLen = 43
	CRCLen    = 6
	// KeyLen is the length of every key: "sgk_live_" + id + "_" + secret + crc.
	KeyLen = 3 + 1 + 4 + 1 + IDLen + 1 + SecretLen + CRCLen
)

// ID is the public part of a key: a random lookup handle that is not secret.
// It appears in logs, lists and audit events.
type ID string

// Secret is a whole presented key, "sgk_live_<id>_<secret><crc>". The full
// text is secret, so the type never prints, logs or marshals it: String,
// LogValue, Format and MarshalJSON all redact. Only Reveal returns the text,
// for the single place that shows a new key to its owner, and for hashing.
type Secret struct {
	_ [0]func() // not comparable: == on secrets is not constant-time
	// p points at the text rather than holding it: fmt prints the fields of
	// a struct held in an unexported field without calling their methods,
	// and a pointer at that depth prints as an address, not as the key.
	p *string
}

// newSecret wraps key text.
func newSecret(s string) Secret { return Secret{p: &s} }

// text returns the key text, or "" for the zero Secret.
func (s Secret) text() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

const redacted = "[REDACTED]"

// Reveal returns the key text. Call it only to show a new key once, or to
// hash it.
func (s Secret) Reveal() string { return s.text() }

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return s.text() == "" }

// Equal compares two secrets in constant time.
func (s Secret) Equal(t Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.text()), []byte(t.text())) == 1
}

// Last4 returns the last four characters of the key, which people use to
// tell keys apart; they are part of the checksum, not the secret.
func (s Secret) Last4() string {
	v := s.text()
	if len(v) < 4 {
		return ""
	}
	return v[len(v)-4:]
}

// String implements fmt.Stringer and redacts the key.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer and redacts the key.
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb prints the key.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer and redacts the key.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler and redacts the key.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText implements encoding.TextMarshaler and redacts the key.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Credential is a parsed key: its class, environment and id, and the whole
// key as a Secret.
type Credential struct {
	Class  Class
	Env    Env
	ID     ID
	Secret Secret
}

// Parse checks the shape and checksum of a presented key. It touches no
// store, so garbage is refused before any lookup. Its errors are
// *FormatError values; when the id could be read it is in the error, so a
// denial can be recorded against it.
func Parse(s string) (Credential, error) {
	class, env, id, err := parse(s)
	if err != nil {
		return Credential{}, err
	}
	return Credential{Class: class, Env: env, ID: id, Secret: newSecret(s)}, nil
}

// parse is Parse without wrapping s in a Secret, which costs an
// allocation (see Secret): Verifier.Verify, which only hashes s, checks
// every request's key with it.
func parse(s string) (Class, Env, ID, error) {
	if len(s) != KeyLen {
		return "", "", "", formatError(ErrBadLength, "", fmt.Sprintf("key is %d characters, want %d", len(s), KeyLen))
	}
	class := Class(s[:3])
	if (class != ClassData && class != ClassAdmin) || s[3] != '_' {
		return "", "", "", formatError(ErrBadPrefix, "", `key does not start with "sgk_" or "sga_"`)
	}
	env := Env(s[4:8])
	if !env.Valid() || s[8] != '_' {
		return "", "", "", formatError(ErrBadEnv, "", `key environment is not "live" or "test"`)
	}
	id := s[9 : 9+IDLen]
	if s[9+IDLen] != '_' {
		return "", "", "", formatError(ErrBadLength, "", "key id is not 16 characters")
	}
	body := s[9+IDLen+1:]
	if !isBase62(id) || !isBase62(body) {
		return "", "", "", formatError(ErrBadChars, "", "key has characters outside [0-9A-Za-z]")
	}
	if sum := checksum(stringBytes(s[:len(s)-CRCLen])); s[len(s)-CRCLen:] != string(sum[:]) {
		return "", "", "", formatError(ErrBadChecksum, ID(id), "key checksum does not match")
	}
	return class, env, ID(id), nil
}

// Generate returns a new key of the given class and environment, with its
// id and secret drawn from r (crypto/rand.Reader when r is nil).
func Generate(r io.Reader, class Class, env Env) (Credential, error) {
	if class != ClassData && class != ClassAdmin {
		return Credential{}, fmt.Errorf("generate key: unknown class %q", class)
	}
	if !env.Valid() {
		return Credential{}, fmt.Errorf("generate key: unknown environment %q", env)
	}
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, 0, KeyLen)
	buf = append(buf, class...)
	buf = append(buf, '_')
	buf = append(buf, env...)
	buf = append(buf, '_')
	var err error
	if buf, err = appendRandomBase62(buf, r, IDLen); err != nil {
		return Credential{}, fmt.Errorf("generate key id: %w", err)
	}
	buf = append(buf, '_')
	if buf, err = appendRandomBase62(buf, r, SecretLen); err != nil {
		return Credential{}, fmt.Errorf("generate key secret: %w", err)
	}
	sum := checksum(buf)
	buf = append(buf, sum[:]...)
	s := string(buf)
	return Credential{Class: class, Env: env, ID: ID(s[9 : 9+IDLen]), Secret: newSecret(s)}, nil
}

// NewID returns a random id in the key id alphabet, for records that need
// an unguessable handle of the same shape (such as principals' internal ids).
func NewID(r io.Reader) (ID, error) {
	if r == nil {
		r = rand.Reader
	}
	b, err := appendRandomBase62(nil, r, IDLen)
	return ID(b), err
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendRandomBase62 appends n base62 characters drawn uniformly from r. It
// rejects bytes of 248 and above (248 = 4×62), so every character is equally
// likely: no modulo bias.
func appendRandomBase62(dst []byte, r io.Reader, n int) ([]byte, error) {
	var pool [64]byte
	for n > 0 {
		if _, err := io.ReadFull(r, pool[:]); err != nil {
			return nil, err
		}
		for _, b := range pool {
			if b >= 248 {
				continue
			}
			dst = append(dst, base62[b%62])
			if n--; n == 0 {
				break
			}
		}
	}
	return dst, nil
}

// checksum returns the CRC-32 (IEEE) of b as 6 base62 digits, most
// significant first, zero-padded. It returns an array, not a string, so
// that checking a presented key allocates nothing.
func checksum(b []byte) [CRCLen]byte {
	v := crc32.ChecksumIEEE(b)
	var out [CRCLen]byte
	for i := CRCLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return out
}

// stringBytes returns the bytes of s without copying them, for the two
// hash functions a presented key goes through on every request (CRC-32 and
// HMAC-SHA256), where a copy would be the only allocation. The result must
// never be modified: crc32 only reads its input, and io.Writer
// implementations (hash.Hash) must not modify the slice they are given.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func isBase62(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
