package auditverify

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Names in a log directory or an export.
const (
	segmentsDir    = "segments"
	checkpointsDir = "checkpoints"
	latestFile     = "checkpoint"
	verifierFile   = "verifier.key"
	hashesFile     = "hashes"
	formatFile     = "FORMAT"
	// formatLine is the content of FORMAT (with a newline): the version of
	// the export layout, so a later layout is refused rather than misread.
	formatLine = "scopegate-audit-export v1"
)

// maxLine bounds one record line, so a hostile file cannot make the
// verifier allocate without limit. Events are a few hundred bytes.
const maxLine = 16 << 20

// logDir is a log directory or export opened for reading. An archive is
// extracted to a temporary directory, removed by Close.
type logDir struct {
	dir  string
	temp string
}

// openLog opens path: a log directory, a gateway data directory (whose
// log is in audit/), an export directory or a .tar.gz export.
func openLog(ctx context.Context, path string) (*logDir, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	if !st.IsDir() {
		if !isArchiveName(path) {
			return nil, fmt.Errorf("open audit log %s: not a directory or a .tar.gz export", path)
		}
		dir, temp, err := extractArchive(ctx, path)
		if err != nil {
			return nil, err
		}
		l := &logDir{dir: dir, temp: temp}
		if err := l.checkFormat(true); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	}
	l := &logDir{dir: path}
	if !exists(l.path(latestFile)) && !exists(l.path(segmentsDir)) && exists(filepath.Join(path, "audit")) {
		l.dir = filepath.Join(path, "audit")
	}
	if err := l.checkFormat(false); err != nil {
		return nil, err
	}
	return l, nil
}

// Close removes what openLog extracted.
func (l *logDir) Close() error {
	if l.temp == "" {
		return nil
	}
	return os.RemoveAll(l.temp)
}

func (l *logDir) path(name ...string) string {
	return filepath.Join(append([]string{l.dir}, name...)...)
}

// checkFormat refuses an export of a layout version this code does not
// know. A log directory has no FORMAT file; an archive must have one.
func (l *logDir) checkFormat(required bool) error {
	b, err := os.ReadFile(l.path(formatFile))
	if errors.Is(err, fs.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read export format: %w", err)
	}
	if got := strings.TrimSuffix(string(b), "\n"); got != formatLine {
		return fmt.Errorf("unknown export format %q, want %q", got, formatLine)
	}
	return nil
}

// numberedFile is a file whose name is a zero-padded number: a segment
// (named for its first record) or a checkpoint (named for its size).
type numberedFile struct {
	n    int64
	name string // relative to the log directory, for messages
	path string
}

// listNumbered lists dir's files named <number, 12 digits or more><ext>,
// in numeric order. Other names are skipped: they hold no records the tree
// could depend on. A missing dir is empty.
func (l *logDir) listNumbered(dir, ext string) ([]numberedFile, error) {
	entries, err := os.ReadDir(l.path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var files []numberedFile
	for _, e := range entries {
		digits, ok := strings.CutSuffix(e.Name(), ext)
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n < 0 || fmt.Sprintf("%012d", n) != digits {
			return nil, &VerifyError{Position: -1, Reason: fmt.Sprintf("%s/%s: not named <number, 12 digits>%s", dir, e.Name(), ext)}
		}
		files = append(files, numberedFile{n: n, name: dir + "/" + e.Name(), path: l.path(dir, e.Name())})
	}
	slices.SortFunc(files, func(a, b numberedFile) int { return cmp.Compare(a.n, b.n) })
	return files, nil
}

// records calls fn with each record line (without its newline) and its
// position, in order, for the first limit records (all if limit < 0), and
// returns how many it read. fn may keep line only until it returns.
//
// The segments' names give their order only: positions are counted, and
// checkLine compares each record's idx with its position, which is what
// detects a missing or reordered segment. An unterminated line at the end
// of the last segment is a write in progress or one torn by a crash, which
// the writer's recovery cuts off: it is not a record and is not counted.
func (l *logDir) records(ctx context.Context, limit int64, fn func(pos int64, line []byte) error) (int64, error) {
	segs, err := l.listNumbered(segmentsDir, ".jsonl")
	if err != nil {
		return 0, err
	}
	var (
		pos  int64
		br   = bufio.NewReaderSize(nil, 1<<20)
		long []byte
	)
	for i, seg := range segs {
		if limit >= 0 && pos >= limit {
			break
		}
		f, err := os.Open(seg.path)
		if err != nil {
			return pos, fmt.Errorf("open %s: %w", seg.name, err)
		}
		br.Reset(f)
		for limit < 0 || pos < limit {
			if pos&0xfff == 0 {
				if err := ctx.Err(); err != nil {
					f.Close()
					return pos, err
				}
			}
			line, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				// Rare: a line longer than the buffer.
				long = append(long[:0], line...)
				for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxLine {
					line, err = br.ReadSlice('\n')
					long = append(long, line...)
				}
				if len(long) > maxLine {
					f.Close()
					return pos, recordError(pos, "record %d: line longer than %d bytes", pos, maxLine)
				}
				line = long
			}
			if err == io.EOF {
				if len(line) > 0 && i < len(segs)-1 {
					f.Close()
					return pos, recordError(pos, "record %d: %s ends inside a line", pos, seg.name)
				}
				break
			}
			if err != nil {
				f.Close()
				return pos, fmt.Errorf("read %s: %w", seg.name, err)
			}
			if err := fn(pos, line[:len(line)-1]); err != nil {
				f.Close()
				return pos, err
			}
			pos++
		}
		f.Close()
	}
	return pos, nil
}

// readSmallFile reads a small file of the log directory (a checkpoint, the
// verifier key), refusing one larger than any such file can be.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const limit = 1 << 20
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func isArchiveName(path string) bool {
	return strings.HasSuffix(path, ".tar.gz") || strings.HasSuffix(path, ".tgz")
}

// trimKey returns a verifier key file's content without surrounding space.
func trimKey(b []byte) string {
	return string(bytes.TrimSpace(b))
}

// LatestCheckpoint reads the latest checkpoint of the log at path (a log
// directory, data directory or export) and verifies it with vkey: the
// checkpoint to prove inclusion against.
func LatestCheckpoint(path, vkey string) (Checkpoint, error) {
	lg, err := openLog(context.Background(), path)
	if err != nil {
		return Checkpoint{}, err
	}
	defer lg.Close()
	raw, err := readSmallFile(lg.path(latestFile))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read latest checkpoint: %w", err)
	}
	return ParseCheckpoint(raw, vkey)
}
