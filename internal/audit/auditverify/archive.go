package auditverify

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	pathpkg "path"
	"path/filepath"
	"time"
)

// archiveTime is the modification time of every archive entry, so that
// exporting the same records twice gives the same bytes.
var archiveTime = time.Unix(0, 0).UTC()

// extractArchive extracts a .tar.gz export into a new temporary directory
// temp and returns the directory holding the export: temp itself, or the
// one directory inside it when the archive wraps the export in one.
//
// The archive comes from whoever hands it to the auditor, so extraction
// goes through an os.Root: no entry can write outside temp, whatever its
// name or links say, and only plain files and directories are accepted.
func extractArchive(ctx context.Context, archive string) (dir, temp string, err error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", "", fmt.Errorf("open export: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", "", fmt.Errorf("open export: %w", err)
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		return "", "", fmt.Errorf("read export %s: %w", archive, err)
	}
	// Audit records compress perhaps 5 to 20 times; an archive that
	// expands far beyond that is a decompression bomb aimed at the
	// auditor's disk, and extraction stops.
	budget := &byteBudget{left: info.Size()*maxExpansion + 1<<20}
	temp, err = os.MkdirTemp("", "scopegate-audit-*")
	if err != nil {
		return "", "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(temp)
		}
	}()
	root, err := os.OpenRoot(temp)
	if err != nil {
		return "", "", err
	}
	defer root.Close()
	tr := tar.NewReader(gz)
	for {
		if err := ctx.Err(); err != nil {
			return "", "", err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", fmt.Errorf("read export %s: %w", archive, err)
		}
		if err := extractEntry(root, h, budget.reader(tr)); err != nil {
			return "", "", fmt.Errorf("read export %s: %w", archive, err)
		}
	}
	dir = temp
	if !exists(filepath.Join(temp, formatFile)) {
		if entries, err := os.ReadDir(temp); err == nil && len(entries) == 1 && entries[0].IsDir() {
			dir = filepath.Join(temp, entries[0].Name())
		}
	}
	return dir, temp, nil
}

// maxExpansion bounds how many times larger than the archive its
// extracted files may be.
const maxExpansion = 200

// errTooLarge stops an extraction that exceeds its byte budget.
var errTooLarge = errors.New("the archive expands to far more than its size: refusing to extract it (a decompression bomb?)")

// byteBudget counts the bytes an extraction may still write.
type byteBudget struct{ left int64 }

func (b *byteBudget) reader(r io.Reader) io.Reader { return budgetReader{r, b} }

type budgetReader struct {
	r io.Reader
	b *byteBudget
}

func (br budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	br.b.left -= int64(n)
	if br.b.left < 0 {
		return n, errTooLarge
	}
	return n, err
}

// extractEntry writes one archive entry under root.
func extractEntry(root *os.Root, h *tar.Header, r io.Reader) error {
	name := pathpkg.Clean(h.Name)
	if !fs.ValidPath(name) {
		return fmt.Errorf("entry %q: not a relative path inside the archive", h.Name)
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return root.MkdirAll(name, 0o755)
	case tar.TypeReg:
		if d := pathpkg.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		w, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, r)
		return errors.Join(err, w.Close())
	default:
		return fmt.Errorf("entry %q: type %q is not a plain file or directory", h.Name, h.Typeflag)
	}
}

// exportSink receives the files of an export and makes them appear at the
// destination all at once, in commit, so that a failed or interrupted
// export never leaves something that looks complete.
type exportSink interface {
	// dir creates a directory (slash-separated name).
	dir(name string) error
	// file writes a file of exactly size bytes read from r.
	file(name string, size int64, r io.Reader) error
	// commit moves the export into place.
	commit() error
	// abort removes what was written, unless commit succeeded.
	abort()
}

// tarSink writes a .tar.gz export to a temporary file beside dst and
// renames it into place.
type tarSink struct {
	dst       string
	f         *os.File
	gz        *gzip.Writer
	tw        *tar.Writer
	committed bool
}

func newTarSink(dst string) (*tarSink, error) {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return nil, err
	}
	gz := gzip.NewWriter(f)
	return &tarSink{dst: dst, f: f, gz: gz, tw: tar.NewWriter(gz)}, nil
}

func (s *tarSink) dir(name string) error {
	return s.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: archiveTime})
}

func (s *tarSink) file(name string, size int64, r io.Reader) error {
	if err := s.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: archiveTime}); err != nil {
		return err
	}
	n, err := io.Copy(s.tw, io.LimitReader(r, size))
	if err == nil && n != size {
		err = fmt.Errorf("%s: read %d bytes, want %d", name, n, size)
	}
	return err
}

func (s *tarSink) commit() error {
	if err := errors.Join(s.tw.Close(), s.gz.Close(), s.f.Sync(), s.f.Close()); err != nil {
		return err
	}
	if err := os.Chmod(s.f.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(s.f.Name(), s.dst); err != nil {
		return err
	}
	s.committed = true
	return syncDir(filepath.Dir(s.dst))
}

func (s *tarSink) abort() {
	if !s.committed {
		s.f.Close()
		os.Remove(s.f.Name())
	}
}

// dirSink writes a directory export to a temporary directory beside dst
// and renames it into place.
type dirSink struct {
	dst, temp string
	committed bool
}

func newDirSink(dst string) (*dirSink, error) {
	temp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &dirSink{dst: dst, temp: temp}, nil
}

func (s *dirSink) dir(name string) error {
	return os.Mkdir(filepath.Join(s.temp, filepath.FromSlash(name)), 0o755)
}

func (s *dirSink) file(name string, size int64, r io.Reader) error {
	f, err := os.OpenFile(filepath.Join(s.temp, filepath.FromSlash(name)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, size))
	if err == nil && n != size {
		err = fmt.Errorf("%s: read %d bytes, want %d", name, n, size)
	}
	return errors.Join(err, f.Sync(), f.Close())
}

func (s *dirSink) commit() error {
	if err := os.Chmod(s.temp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(s.temp, s.dst); err != nil {
		return err
	}
	s.committed = true
	return syncDir(filepath.Dir(s.dst))
}

func (s *dirSink) abort() {
	if !s.committed {
		os.RemoveAll(s.temp)
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
