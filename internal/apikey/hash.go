package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"sync"
)

// MinPepperLen is the shortest pepper NewHasher accepts, in bytes.
const MinPepperLen = 32

// Hash is HMAC-SHA256(pepper, key): the only form in which a key is stored.
type Hash [sha256.Size]byte

// String returns the hash in hex. A hash is not secret on its own (the
// pepper is), but it is still never logged by scopegate.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash decodes the hex form of a Hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, errors.New("bad key hash")
	}
	copy(h[:], b)
	return h, nil
}

// Hasher computes and checks key hashes with a pepper that never leaves the
// process: it comes from the environment or a file, never from the store, so
// a copy of the database alone cannot be used to test guessed keys.
type Hasher struct {
	pool sync.Pool // of *mac: HMAC setup costs two SHA-256 blocks
}

// mac is an HMAC in the Hasher's pool, with room for its sum, so that
// hashing a key allocates nothing.
type mac struct {
	h   hash.Hash
	sum []byte // capacity sha256.Size
}

// NewHasher returns a Hasher for pepper, which must be at least
// MinPepperLen bytes.
func NewHasher(pepper []byte) (*Hasher, error) {
	if len(pepper) < MinPepperLen {
		return nil, errors.New("pepper is shorter than 32 bytes")
	}
	p := append([]byte(nil), pepper...)
	h := &Hasher{}
	h.pool.New = func() any { return &mac{h: hmac.New(sha256.New, p), sum: make([]byte, 0, sha256.Size)} }
	return h, nil
}

// Hash returns the HMAC of the key s.
func (h *Hasher) Hash(s Secret) Hash {
	return h.hashString(s.text())
}

func (h *Hasher) hashString(s string) Hash {
	m := h.pool.Get().(*mac)
	m.h.Reset()
	m.h.Write(stringBytes(s))
	var out Hash
	copy(out[:], m.h.Sum(m.sum[:0]))
	h.pool.Put(m)
	return out
}

// Verify reports, in constant time, whether s hashes to want.
func (h *Hasher) Verify(s Secret, want Hash) bool {
	return h.verifyString(s.text(), want)
}

// verifyString is Verify on key text that is not in a Secret.
func (h *Hasher) verifyString(s string, want Hash) bool {
	got := h.hashString(s)
	return hmac.Equal(got[:], want[:])
}

// Derive returns a sub-key of the pepper for the given purpose, so other
// secrets the gateway needs (such as the key that seals idempotent
// responses) stay tied to the pepper without reusing it.
func (h *Hasher) Derive(purpose string) [32]byte {
	return h.hashString("scopegate derive v1\x00" + purpose)
}
