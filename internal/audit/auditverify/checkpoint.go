package auditverify

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed tree head whose signature has been verified: the
// log named Origin had Size records, and the Merkle tree over them had the
// root hash Root.
type Checkpoint struct {
	// Origin names the log; it is also the name of the key that signed it.
	Origin string
	Size   int64
	Root   tlog.Hash
	// Raw is the signed note exactly as read, so that it can be passed on
	// (in a proof, an export) without being re-encoded.
	Raw []byte
}

// Conditions a caller may branch on with errors.Is. The errors returned by
// ParseCheckpoint wrap one of them and add what exactly was found.
var (
	// ErrVerifierKey means the verifier key passed in is not a note
	// verifier key.
	ErrVerifierKey = errors.New("invalid verifier key")
	// ErrUnknownKey means the checkpoint carries no signature by the
	// trusted key: it was signed by another key, or not at all.
	ErrUnknownKey = errors.New("checkpoint not signed by the trusted key")
	// ErrSignature means the checkpoint claims the trusted key's signature,
	// but the signature does not verify: the checkpoint was edited.
	ErrSignature = errors.New("checkpoint signature invalid")
	// ErrMalformed means the checkpoint is not a signed note holding a
	// C2SP tlog-checkpoint body.
	ErrMalformed = errors.New("malformed checkpoint")
	// ErrOriginMismatch means the body's origin is not the signer's key
	// name: the key signed a checkpoint for another log.
	ErrOriginMismatch = errors.New("checkpoint origin does not match its signer")
)

// ParseCheckpoint verifies the signed note signed against vkey (a note
// verifier key, as printed by `scopegate audit key`) and parses its
// C2SP tlog-checkpoint body:
//
//	<origin>
//	<size>
//	<base64 root hash>
//	[extension lines…]
//
// Extension lines are allowed by the C2SP format and are ignored: they are
// covered by the signature but say nothing about the tree. Other
// signatures (a witness's cosignature) are ignored too.
func ParseCheckpoint(signed []byte, vkey string) (Checkpoint, error) {
	v, err := newVerifier(vkey)
	if err != nil {
		return Checkpoint{}, err
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, openError(err, v)
	}
	origin, size, root, err := parseCheckpointBody(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	// The key name is what the auditor trusts; an origin that differs
	// would let one key's checkpoints pass for another log's.
	if origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q, key %q", ErrOriginMismatch, origin, v.Name())
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Raw: bytes.Clone(signed)}, nil
}

// newVerifier parses a note verifier key, ignoring surrounding space (a
// key file ends with a newline).
func newVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerifierKey, err)
	}
	return v, nil
}

// checkVerifierKey reports whether vkey is a note verifier key, so that a
// mistyped key is reported as such and not as a log that fails to verify.
func checkVerifierKey(vkey string) error {
	_, err := newVerifier(vkey)
	return err
}

// openError translates note.Open's errors into this package's conditions,
// naming the keys involved so the auditor can tell a wrong key from an edit.
func openError(err error, trusted note.Verifier) error {
	if e, ok := errors.AsType[*note.InvalidSignatureError](err); ok {
		return fmt.Errorf("%w (key %s+%08x): the checkpoint was altered after signing", ErrSignature, e.Name, e.Hash)
	}
	if e, ok := errors.AsType[*note.UnverifiedNoteError](err); ok {
		var signers []string
		for _, s := range e.Note.UnverifiedSigs {
			signers = append(signers, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		return fmt.Errorf("%w %s+%08x; signed by %s", ErrUnknownKey, trusted.Name(), trusted.KeyHash(), strings.Join(signers, ", "))
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// parseCheckpointBody parses the C2SP tlog-checkpoint text of a note whose
// signature has been checked. It is strict where the format is: a decimal
// size without leading zeros, a canonical base64 root of 32 bytes.
func parseCheckpointBody(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.SplitAfterN(text, "\n", 4)
	if len(lines) < 3 {
		return "", 0, tlog.Hash{}, fmt.Errorf("%w: body has %d lines, want origin, size and root", ErrMalformed, len(lines))
	}
	for i, l := range lines[:3] {
		if !strings.HasSuffix(l, "\n") || l == "\n" {
			return "", 0, tlog.Hash{}, fmt.Errorf("%w: body line %d is empty or unterminated", ErrMalformed, i+1)
		}
	}
	origin = strings.TrimSuffix(lines[0], "\n")
	sizeText := strings.TrimSuffix(lines[1], "\n")
	rootText := strings.TrimSuffix(lines[2], "\n")
	if len(lines) == 4 && lines[3] != "" {
		// Extension lines, if any, must be non-empty, terminated lines.
		if !strings.HasSuffix(lines[3], "\n") {
			return "", 0, tlog.Hash{}, fmt.Errorf("%w: unterminated extension line", ErrMalformed)
		}
		for ext := range strings.SplitSeq(strings.TrimSuffix(lines[3], "\n"), "\n") {
			if ext == "" {
				return "", 0, tlog.Hash{}, fmt.Errorf("%w: empty extension line", ErrMalformed)
			}
		}
	}
	size, err = parseDecimal(sizeText)
	if err != nil {
		return "", 0, tlog.Hash{}, fmt.Errorf("%w: size %q is not a decimal number", ErrMalformed, sizeText)
	}
	h, err := base64.StdEncoding.Strict().DecodeString(rootText)
	if err != nil || len(h) != tlog.HashSize {
		return "", 0, tlog.Hash{}, fmt.Errorf("%w: root %q is not a base64 SHA-256 hash", ErrMalformed, rootText)
	}
	copy(root[:], h)
	return origin, size, root, nil
}

// parseDecimal parses a non-negative decimal integer with no sign, no
// leading zeros and no spaces, so that each number has one spelling.
func parseDecimal(s string) (int64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("not a canonical decimal number: %q", s)
	}
	return strconv.ParseInt(s, 10, 64)
}
