package audit

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A checkpoint is a C2SP tlog-checkpoint, "<origin>\n<size>\n<base64 root>\n",
// in a C2SP signed note. Every one is kept as checkpoints/<size>.note, and
// the latest is also the file checkpoint.

// latestName is the file holding a copy of the latest signed checkpoint.
const latestName = "checkpoint"

// checkpointName returns the file name, in the checkpoints directory, of the
// checkpoint for a tree of size records.
func checkpointName(size uint64) string { return fmt.Sprintf("%012d.note", size) }

// parseCheckpointName returns the size in a checkpointName.
func parseCheckpointName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".note")
	size, err := strconv.ParseUint(digits, 10, 64)
	return size, ok && err == nil && checkpointName(size) == name
}

// signedTree is a checkpoint this log signed: the tree it names and the
// signed note.
type signedTree struct {
	size uint64
	root tlog.Hash
	note []byte
	path string // the file it was read from, if any
	// at is when it was signed, or for one found at open, when its file
	// was last written; zero if unknown.
	at time.Time
}

// formatCheckpoint returns the checkpoint body of a tree.
func formatCheckpoint(origin string, size uint64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// SignCheckpoint returns the signed checkpoint of the tree of the first
// size records, whose root is root (tlog.TreeHash), in the format described
// in the package documentation: a C2SP tlog-checkpoint body whose origin is
// signer's name, in a C2SP signed note. It is what a [Log] writes to
// checkpoints/<size>.note; a log kept elsewhere (the cluster log in
// PostgreSQL) signs with it so that auditors read one format.
func SignCheckpoint(signer note.Signer, size uint64, root tlog.Hash) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: formatCheckpoint(signer.Name(), size, root)}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// openCheckpoint verifies msg with v and parses its body, which must name
// origin. Lines after the root (C2SP extension lines) are ignored.
func openCheckpoint(msg []byte, v note.Verifier, origin string) (signedTree, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return signedTree{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return signedTree{}, errors.New("checkpoint: fewer than three lines")
	}
	if lines[0] != origin {
		return signedTree{}, fmt.Errorf("checkpoint: origin %q, want %q", lines[0], origin)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return signedTree{}, fmt.Errorf("checkpoint: bad size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return signedTree{}, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	return signedTree{size: size, root: tlog.Hash(root), note: msg}, nil
}

// readCheckpoint reads and verifies the checkpoint file at path.
func readCheckpoint(path string, v note.Verifier, origin string) (signedTree, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return signedTree{}, err
	}
	t, err := openCheckpoint(msg, v, origin)
	if err != nil {
		return signedTree{}, fmt.Errorf("%s: %w", path, err)
	}
	t.path = path
	return t, nil
}

// checkpointSizes returns the sizes of the checkpoints in dir
// (checkpoints/), unsorted.
func checkpointSizes(dir string) ([]uint64, error) {
	d, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list audit checkpoints: %w", err)
	}
	defer d.Close()
	// Readdirnames neither sorts nor stats: there is one file per second
	// of activity.
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list audit checkpoints: %w", err)
	}
	var sizes []uint64
	for _, name := range names {
		if size, ok := parseCheckpointName(name); ok {
			sizes = append(sizes, size)
		}
	}
	return sizes, nil
}

// latestCheckpoint returns the largest checkpoint signed for this log,
// verified: the larger of the checkpoint file and the largest file in
// checkpoints/ (a crash between writing the second and replacing the first
// leaves the first behind). ok is false if the log has none.
func latestCheckpoint(dir string, v note.Verifier, origin string) (t signedTree, ok bool, err error) {
	sizes, err := checkpointSizes(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return signedTree{}, false, err
	}
	if len(sizes) > 0 {
		largest := sizes[0]
		for _, s := range sizes {
			largest = max(largest, s)
		}
		t, err = readCheckpoint(filepath.Join(dir, "checkpoints", checkpointName(largest)), v, origin)
		if err != nil {
			return signedTree{}, false, err
		}
		if t.size != largest {
			return signedTree{}, false, fmt.Errorf("checkpoint %s names size %d", checkpointName(largest), t.size)
		}
		ok = true
	}
	latest, err := readCheckpoint(filepath.Join(dir, latestName), v, origin)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return signedTree{}, false, err
	case !ok || latest.size > t.size:
		t, ok = latest, true
	}
	return t, ok, nil
}

// writeFileAtomic replaces dir/name with data: a reader sees the old file or
// the new one, and after a crash one of them is there whole.
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	return syncDir(dir)
}

// removeTempFiles deletes what writeFileAtomic leaves behind when a crash
// interrupts it.
func removeTempFiles(dir string) error {
	tmps, err := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if err != nil {
		return err
	}
	for _, t := range tmps {
		if err := os.Remove(t); err != nil {
			return err
		}
	}
	return nil
}
