package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	signingKeyName  = "signing.key"
	verifierKeyName = "verifier.key"
)

// logKeys are the note keys of a log. The signer's name is the log's
// origin, the first line of every checkpoint.
type logKeys struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

// loadKeys reads the log's key pair from dir, creating it on first open.
// origin, if not empty, is the origin for a new key and must match an
// existing one.
func loadKeys(dir, origin string) (logKeys, error) {
	path := filepath.Join(dir, signingKeyName)
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return createKeys(dir, origin)
	}
	if err != nil {
		return logKeys{}, fmt.Errorf("audit signing key: %w", err)
	}
	// The key signs what auditors trust; anyone who can read it can forge
	// checkpoints.
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return logKeys{}, fmt.Errorf("audit signing key %s has mode %v: it must not be readable or writable by group or others (chmod 600)", path, perm)
	}
	skey, err := os.ReadFile(path)
	if err != nil {
		return logKeys{}, fmt.Errorf("audit signing key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return logKeys{}, fmt.Errorf("audit signing key %s: %w", path, err)
	}
	vkey, err := os.ReadFile(filepath.Join(dir, verifierKeyName))
	if err != nil {
		return logKeys{}, fmt.Errorf("audit verifier key: %w", err)
	}
	k := logKeys{signer: signer, vkey: strings.TrimSpace(string(vkey))}
	if k.verifier, err = note.NewVerifier(k.vkey); err != nil {
		return logKeys{}, fmt.Errorf("audit verifier key: %w", err)
	}
	if err := k.check(); err != nil {
		return logKeys{}, err
	}
	if origin != "" && origin != signer.Name() {
		return logKeys{}, fmt.Errorf("audit log origin is %q (from its signing key), not %q", signer.Name(), origin)
	}
	return k, nil
}

// check signs a message and opens it with the verifier: the two key files
// must be one pair.
func (k logKeys) check() error {
	msg, err := note.Sign(&note.Note{Text: "key check\n"}, k.signer)
	if err == nil {
		_, err = note.Open(msg, note.VerifierList(k.verifier))
	}
	if err != nil {
		return fmt.Errorf("audit keys: %s and %s are not a pair: %w", signingKeyName, verifierKeyName, err)
	}
	return nil
}

// createKeys generates the log's key pair. It refuses if checkpoints exist:
// a missing key must be restored, since a new one would orphan every
// checkpoint that auditors hold.
func createKeys(dir, origin string) (logKeys, error) {
	sizes, err := checkpointSizes(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return logKeys{}, err
	}
	_, err = os.Stat(filepath.Join(dir, latestName))
	if len(sizes) > 0 || err == nil {
		return logKeys{}, fmt.Errorf("audit signing key %s is missing but the log has signed checkpoints: restore the key",
			filepath.Join(dir, signingKeyName))
	}
	if origin == "" {
		origin = "scopegate/" + randomBase62(rand.Reader, 8) + "/audit"
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return logKeys{}, fmt.Errorf("generate audit signing key: %w", err)
	}
	// The verifier key first: a crash before the signing key is written
	// leaves a state that the next open simply redoes.
	if err := writeFileAtomic(dir, verifierKeyName, []byte(vkey+"\n"), 0o644); err != nil {
		return logKeys{}, err
	}
	if err := writeFileAtomic(dir, signingKeyName, []byte(skey+"\n"), 0o600); err != nil {
		return logKeys{}, err
	}
	return loadKeys(dir, origin)
}

// randomBase62 returns n characters of 0-9A-Za-z, each uniform: bytes at or
// above 248 (4·62) are redrawn rather than folded.
func randomBase62(r io.Reader, n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, 0, n)
	var b [1]byte
	for len(out) < n {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			panic("crypto/rand failed: " + err.Error()) // crypto/rand.Read never fails on supported systems
		}
		if b[0] < 248 {
			out = append(out, alphabet[b[0]%62])
		}
	}
	return string(out)
}

// SignNow signs a checkpoint over the records durable now, if the log grew
// since the last one. The signer loop does this every CheckpointInterval;
// tests and shutdown call it directly.
func (l *Log) SignNow(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.sign(); err != nil {
		l.fail(err)
		return err
	}
	return nil
}

// sign signs a checkpoint for the durable records if there are more than
// the last one covers: checkpoints/<size>.note first, then the latest copy,
// so that the copy never names a checkpoint that is not kept.
func (l *Log) sign() error {
	l.signMu.Lock()
	defer l.signMu.Unlock()
	l.mu.Lock()
	size, signed := l.durable, l.signed.size
	l.mu.Unlock()
	if size == 0 || size <= signed {
		return nil
	}
	// The writer does not sync stored hashes per batch (recovery rebuilds
	// them past the last checkpoint); those a checkpoint covers must be
	// durable before it is signed.
	if err := l.w.hashes.sync(); err != nil {
		return fmt.Errorf("sign checkpoint: %w", err)
	}
	root, err := tlog.TreeHash(int64(size), l.hashes)
	if err != nil {
		return fmt.Errorf("sign checkpoint: %w", err)
	}
	msg, err := SignCheckpoint(l.keys.signer, size, root)
	if err != nil {
		return err
	}
	dir := filepath.Join(l.dir, "checkpoints")
	name := checkpointName(size)
	// A signed checkpoint is never replaced: it may already be with an
	// auditor.
	if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
		return fmt.Errorf("sign checkpoint: %s already exists", filepath.Join(dir, name))
	}
	if err := writeFileAtomic(dir, name, msg, 0o644); err != nil {
		return fmt.Errorf("sign checkpoint: %w", err)
	}
	if err := writeFileAtomic(l.dir, latestName, msg, 0o644); err != nil {
		return fmt.Errorf("sign checkpoint: %w", err)
	}
	l.mu.Lock()
	l.signed = signedTree{size: size, root: root, note: msg, at: l.now()}
	l.mu.Unlock()
	l.logger.Debug("audit: signed checkpoint", "size", size)
	return nil
}

// signLoop signs a checkpoint every interval when the log grew, until stop
// is closed.
func (l *Log) signLoop(stop <-chan struct{}) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := l.sign(); err != nil {
				l.fail(err)
			}
		}
	}
}
