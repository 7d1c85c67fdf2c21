package datadir

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// InstanceFile is the name of the file inside the data directory that
// keeps a generated instance id.
const InstanceFile = "instance-id"

// MaxInstanceIDLen is the longest instance id: a DNS label's length, so an
// id can be a pod or host name.
const MaxInstanceIDLen = 63

// CheckInstanceID reports whether id is a valid instance id: 1 to 63
// characters, each a lowercase ASCII letter, a digit or '-'.
func CheckInstanceID(id string) error {
	if id == "" || len(id) > MaxInstanceIDLen {
		return fmt.Errorf("instance id %q: must be 1 to %d characters", id, MaxInstanceIDLen)
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return fmt.Errorf("instance id %q: only a-z, 0-9 and '-' are allowed", id)
		}
	}
	return nil
}

// InstanceID returns this replica's instance id. A configured id (not
// empty) is checked and returned, and no file is touched. Otherwise the
// instance-id file is read, or created on first start with a random id
// ("sg-" and 10 base32 characters), so the id stays the same across
// restarts for as long as the data directory lives.
func (d *Dir) InstanceID(configured string) (string, error) {
	if configured != "" {
		if err := CheckInstanceID(configured); err != nil {
			return "", err
		}
		return configured, nil
	}
	path := d.Join(InstanceFile)
	id, err := readInstanceID(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createInstanceID(path)
	}
	return id, err
}

func readInstanceID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if err := CheckInstanceID(id); err != nil {
		return "", fmt.Errorf("instance id file %s: %w", path, err)
	}
	return id, nil
}

// newInstanceID returns "sg-" and 10 random base32 characters (50 bits):
// collisions between the replicas of one deployment are out of reach.
func newInstanceID() string {
	var b [7]byte
	rand.Read(b[:])
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
	return "sg-" + strings.ToLower(enc[:10])
}

// createInstanceID writes a new id with O_EXCL, so two processes starting
// at once on one directory agree on one id: the loser reads the winner's.
func createInstanceID(path string) (string, error) {
	id := newInstanceID()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readInstanceID(path)
	}
	if err != nil {
		return "", fmt.Errorf("create instance id file %s: %w", path, err)
	}
	_, werr := f.WriteString(id + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write instance id file %s: %w", path, err)
	}
	return id, nil
}
