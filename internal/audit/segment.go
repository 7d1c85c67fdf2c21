package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// segmentRecords is how many records a segment file holds: a new file is
// started at every multiple of it. Part of the format.
const segmentRecords = 1_000_000

// segmentName returns the file name of the segment whose first record is
// first: 12 digits, so names sort in record order.
func segmentName(first uint64) string { return fmt.Sprintf("%012d.jsonl", first) }

// listSegments returns the first record index of each segment file in dir,
// in order, and checks that they are 0, size, 2·size, … with none missing.
// Files with other names are reported and left alone.
func listSegments(dir string, size uint64, logger *slog.Logger) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list audit segments: %w", err)
	}
	var firsts []uint64
	for _, e := range entries {
		name := e.Name()
		digits, ok := strings.CutSuffix(name, ".jsonl")
		first, err := strconv.ParseUint(digits, 10, 64)
		if !ok || err != nil || e.IsDir() || segmentName(first) != name {
			logger.Warn("audit: ignoring unexpected file among segments", "file", filepath.Join(dir, name))
			continue
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	for i, first := range firsts {
		if want := uint64(i) * size; first != want {
			return nil, fmt.Errorf("audit segments: found %s where %s was expected: a segment is missing",
				segmentName(first), segmentName(want))
		}
	}
	return firsts, nil
}

// errStopScan ends scanLines early without an error.
var errStopScan = errors.New("stop scan")

// scanLines calls fn with each complete line of r (without its newline) and
// the offset just past it. It returns the offset after the last complete
// line and whether bytes follow it: a partial line, or a line longer than
// any the log writes, which is where a scan must stop.
func scanLines(r io.Reader, fn func(line []byte, end int64) error) (end int64, tail bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than br's buffer, being assembled
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, chunk...)
			if len(long) > maxLine {
				return end, true, nil
			}
			continue
		case errors.Is(err, io.EOF):
			return end, len(chunk)+len(long) > 0, nil
		case err != nil:
			return end, false, err
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if len(line)-1 > maxLine {
			return end, true, nil
		}
		next := end + int64(len(line))
		if err := fn(line[:len(line)-1], next); err != nil {
			if errors.Is(err, errStopScan) {
				return end, true, nil
			}
			return end, false, err
		}
		end = next
	}
}

// readRecords calls fn with the line of each record in [from, to), read
// from the segment files in dir. Every line must be well-formed with its
// position: these are records recovery already counted.
func readRecords(dir string, size, from, to uint64, fn func(idx uint64, line []byte) error) error {
	if from >= to {
		return nil
	}
	for first := from - from%size; first < to; first += size {
		if err := readSegment(dir, size, first, from, to, fn); err != nil {
			return err
		}
	}
	return nil
}

func readSegment(dir string, size, first, from, to uint64, fn func(idx uint64, line []byte) error) error {
	path := filepath.Join(dir, segmentName(first))
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read audit segment: %w", err)
	}
	defer f.Close()
	idx := first
	_, _, err = scanLines(f, func(line []byte, _ int64) error {
		if idx >= to || idx >= first+size {
			return errStopScan
		}
		if idx >= from {
			if err := checkLine(line, idx); err != nil {
				return fmt.Errorf("audit segment %s: %w", path, err)
			}
			if err := fn(idx, line); err != nil {
				return err
			}
		}
		idx++
		return nil
	})
	if err == nil && idx < min(to, first+size) {
		err = fmt.Errorf("audit segment %s ends at record %d, want %d", path, idx, min(to, first+size))
	}
	return err
}

// checkLine checks that line is a well-formed record idx.
func checkLine(line []byte, idx uint64) error {
	got, _, err := decodeHeader(line)
	if err != nil {
		return fmt.Errorf("record %d: %w", idx, err)
	}
	if got != idx {
		return fmt.Errorf("record %d: line has idx %d", idx, got)
	}
	return nil
}

// segmentWriter appends batches of lines to the segment files, starting a
// new file at every multiple of size. Only the log's writer uses it.
type segmentWriter struct {
	dir   string
	size  uint64
	wrap  func(*os.File) WriteSyncer
	first uint64      // first record of the open file
	f     WriteSyncer // nil until the first write to a new file
}

// write appends buf, which holds the lines of records [next, next+n), and
// syncs each file it wrote to. splits are the offsets in buf where a new
// segment starts (record indexes that are multiples of size).
func (s *segmentWriter) write(next uint64, buf []byte, splits []int) error {
	start := 0
	for _, end := range append(splits, len(buf)) {
		if end == start {
			continue
		}
		if s.f == nil || next-s.first >= s.size {
			if err := s.rotate(next - next%s.size); err != nil {
				return err
			}
		}
		if _, err := s.f.Write(buf[start:end]); err != nil {
			return fmt.Errorf("write audit segment %s: %w", segmentName(s.first), err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("sync audit segment %s: %w", segmentName(s.first), err)
		}
		next = s.first + s.size // the next chunk starts the next segment
		start = end
	}
	return nil
}

// rotate closes the open segment (already synced) and creates the one
// starting at first. The directory is synced so the new name survives a
// crash along with the records written to it.
func (s *segmentWriter) rotate(first uint64) error {
	if s.f != nil {
		if err := s.f.Close(); err != nil {
			return fmt.Errorf("close audit segment %s: %w", segmentName(s.first), err)
		}
		s.f = nil
	}
	path := filepath.Join(s.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create audit segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.f, s.first = s.wrap(f), first
	return nil
}

// openLast opens the segment starting at first for appending, if it exists.
func (s *segmentWriter) openLast(first uint64) error {
	path := filepath.Join(s.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open audit segment: %w", err)
	}
	s.f, s.first = s.wrap(f), first
	return nil
}

func (s *segmentWriter) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// syncDir makes the directory entries in dir (created or renamed files)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
