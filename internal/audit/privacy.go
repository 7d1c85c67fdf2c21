package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
)

// Privacy says how much of who and where an event records. The zero value
// records client addresses and principals as they are.
//
// Truncated addresses (IPv4 /24, IPv6 /48) still show which network a key
// is used from, which the anomaly detectors need, without naming a person's
// device. Pseudonyms are HMAC-SHA256 of the principal id under a key
// derived from the pepper: stable, so one principal's events can still be
// found together, and unlinkable to a name without the pepper. An
// investigator with admin rights computes a known principal's pseudonym
// (Pseudonym) to search for it.
type Privacy struct {
	// TruncateIPs records client addresses as their /24 (IPv4) or /48
	// (IPv6) network.
	TruncateIPs bool
	// PseudonymKey, when set, makes principals recorded as pseudonyms.
	PseudonymKey []byte
}

// ClientIP returns addr as events record it.
func (p Privacy) ClientIP(addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	if !p.TruncateIPs {
		return addr.String()
	}
	bits := 24
	if addr.Is6() && !addr.Is4In6() {
		bits = 48
	}
	prefix, err := addr.Unmap().Prefix(bits)
	if err != nil {
		return ""
	}
	return prefix.String()
}

// Principal returns the principal id as events record it.
func (p Privacy) Principal(id string) string {
	if len(p.PseudonymKey) == 0 || id == "" {
		return id
	}
	return Pseudonym(p.PseudonymKey, id)
}

// Pseudonym returns the pseudonym of principal id under key: "p_" and the
// first 16 bytes of HMAC-SHA256(key, id) in hex. The format never changes,
// so pseudonyms stay searchable across versions.
func Pseudonym(key []byte, id string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	return "p_" + hex.EncodeToString(m.Sum(nil)[:16])
}
