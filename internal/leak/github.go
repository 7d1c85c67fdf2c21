package leak

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// GitHubKeys are the public keys GitHub's secret-scanning reports are
// signed with, by key identifier. The operator configures them
// (leaks.github.public_keys); they are never fetched at runtime, so a
// compromised network path cannot swap them.
type GitHubKeys struct {
	keys map[string]*ecdsa.PublicKey
}

// ErrBadSignature means a report's signature did not verify: unknown key
// identifier, malformed signature, or a body that is not the one signed.
var ErrBadSignature = errors.New("leak: report signature does not verify")

// ParseGitHubKeys parses PEM-encoded ECDSA P-256 public keys ("-----BEGIN
// PUBLIC KEY-----") by identifier.
func ParseGitHubKeys(pems map[string]string) (*GitHubKeys, error) {
	g := &GitHubKeys{keys: map[string]*ecdsa.PublicKey{}}
	for id, text := range pems {
		k, err := parseP256(text)
		if err != nil {
			return nil, fmt.Errorf("github public key %q: %w", id, err)
		}
		g.keys[id] = k
	}
	return g, nil
}

func parseP256(text string) (*ecdsa.PublicKey, error) {
	b, _ := pem.Decode([]byte(text))
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New(`not a PEM "PUBLIC KEY" block`)
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return k, nil
}

// Len returns how many keys there are.
func (g *GitHubKeys) Len() int { return len(g.keys) }

// Verify checks sig, the base64 ASN.1 DER ECDSA signature of the
// Github-Public-Key-Signature header, over the SHA-256 of the raw body,
// with the key named by keyID (the Github-Public-Key-Identifier header).
func (g *GitHubKeys) Verify(keyID, sig string, body []byte) error {
	k, ok := g.keys[keyID]
	if !ok {
		return ErrBadSignature
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return ErrBadSignature
	}
	sum := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(k, sum[:], der) {
		return ErrBadSignature
	}
	return nil
}

// TokenHash is a reported token as GitHub's response names it: the
// SHA-256 of the token, in hex.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
