// Package datadir manages scopegate's data directory: creating it with safe
// permissions, and the pepper file that keys are hashed with.
//
// # Layout
//
//	<dir>/              mode 0700
//	<dir>/pepper        32 random bytes in hex, mode 0600, created on first start
//	<dir>/instance-id   this replica's generated instance id, mode 0600, unless configured
//	<dir>/scopegate.db  the SQLite store (embedded mode)
//	<dir>/audit/        the audit log
//
// The pepper never goes into the store: a stolen database alone cannot be
// used to test guessed keys. If the pepper file is readable by group or
// others, scopegate refuses to start rather than run with a secret that may
// have leaked.
package datadir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scopegate/scopegate/internal/apikey"
)

// PepperFile is the name of the pepper file inside the data directory.
const PepperFile = "pepper"

// Dir is an opened data directory.
type Dir struct {
	path string
}

// Open creates the directory at path if needed (mode 0700) and returns it.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("data directory: empty path")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", path, err)
	}
	return &Dir{path: path}, nil
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

// Join returns the path of name inside the directory.
func (d *Dir) Join(name ...string) string {
	return filepath.Join(append([]string{d.path}, name...)...)
}

// Pepper returns the pepper. When fromEnv is not empty (the operator set
// SCOPEGATE_PEPPER, as every replica of a cluster must, to share it) it is
// used and no file is touched; it must be at least apikey.MinPepperLen
// bytes. Otherwise the pepper file is read, or created on first start.
func (d *Dir) Pepper(fromEnv string) ([]byte, error) {
	if fromEnv != "" {
		if len(fromEnv) < apikey.MinPepperLen {
			return nil, fmt.Errorf("SCOPEGATE_PEPPER is %d bytes; it must be at least %d", len(fromEnv), apikey.MinPepperLen)
		}
		return []byte(fromEnv), nil
	}
	path := d.Join(PepperFile)
	p, err := readPepper(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createPepper(path)
	}
	return p, err
}

func readPepper(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat pepper file %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("pepper file %s has mode %#o: it must be readable by its owner only (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("read pepper file %s: %w", path, err)
	}
	p, err := hex.DecodeString(strings.TrimSpace(string(b[:n])))
	if err != nil || len(p) < apikey.MinPepperLen {
		return nil, fmt.Errorf("pepper file %s is not %d or more bytes in hex", path, apikey.MinPepperLen)
	}
	return p, nil
}

// createPepper writes a new random pepper with O_EXCL, so two processes
// starting at once cannot each write their own; the loser reads the winner's.
func createPepper(path string) ([]byte, error) {
	p := make([]byte, 32)
	if _, err := rand.Read(p); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readPepper(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create pepper file %s: %w", path, err)
	}
	_, werr := f.WriteString(hex.EncodeToString(p) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write pepper file %s: %w", path, err)
	}
	return p, nil
}
