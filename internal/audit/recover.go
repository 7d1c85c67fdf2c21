package audit

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// TruncatedError is why OpenLog refused a log with fewer records than a
// checkpoint it signed: records that were signed are missing.
type TruncatedError struct {
	// Records is how many records the segments hold.
	Records uint64
	// Signed is the size of the largest signed checkpoint, kept in
	// Checkpoint.
	Signed     uint64
	Checkpoint string
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("the log holds %d records, but checkpoint %s signed %d: records %d to %d are missing; "+
		"restore them, or open with the truncation override (which is recorded in the log)",
		e.Records, e.Checkpoint, e.Signed, e.Records, e.Signed-1)
}

// recover brings the files back to a consistent state after a crash and
// prepares the writer. It returns the Override event to append when an
// operator override is pending.
func (l *Log) recover(allowTruncated bool, wrap func(*os.File) WriteSyncer) (*Override, error) {
	segDir := filepath.Join(l.dir, "segments")
	found, err := recoverSegments(segDir, l.segSize, l.logger)
	if err != nil {
		return nil, err
	}
	n := found.records
	latest, signed, err := latestCheckpoint(l.dir, l.keys.verifier, l.keys.signer.Name())
	if err != nil {
		return nil, err
	}
	if signed && latest.size > n {
		if !allowTruncated {
			return nil, &TruncatedError{Records: n, Signed: latest.size, Checkpoint: latest.path}
		}
		if err := supersede(l.dir, n, l.keys, l.logger); err != nil {
			return nil, err
		}
		if latest, signed, err = latestCheckpoint(l.dir, l.keys.verifier, l.keys.signer.Name()); err != nil {
			return nil, err
		}
	}
	if !signed {
		latest = signedTree{}
	}
	if fi, err := os.Stat(latest.path); err == nil {
		latest.at = fi.ModTime() // for the checkpoint age metric
	}

	hashes, err := recoverHashes(l.dir, l.segSize, n, latest.size, l.logger)
	if err != nil {
		return nil, err
	}
	l.mu.Lock() // ReadHashes reads it from other goroutines once the log runs
	l.hashes = hashFile{hashes}
	l.mu.Unlock()
	if err := l.checkSigned(latest); err != nil {
		hashes.Close()
		return nil, err
	}
	l.w = writer{
		segs:   segmentWriter{dir: segDir, size: l.segSize, wrap: wrap},
		hashes: hashWriter{w: wrap(hashes), file: hashFile{hashes}, count: tlog.StoredHashCount(int64(n))},
		next:   n,
		lastTS: found.lastTS,
	}
	if n%l.segSize != 0 {
		if err := l.w.segs.openLast(n - n%l.segSize); err != nil {
			return nil, err
		}
	}
	l.mu.Lock()
	l.durable, l.signed = n, latest
	l.mu.Unlock()
	return pendingOverride(l.dir, n, l.keys)
}

// checkSigned checks that the stored hashes give the root the latest
// checkpoint signed: the log must extend what it signed.
func (l *Log) checkSigned(latest signedTree) error {
	if latest.size == 0 {
		return nil
	}
	root, err := tlog.TreeHash(int64(latest.size), l.hashes)
	if err != nil {
		return err
	}
	if root != latest.root {
		return fmt.Errorf("the first %d records give root %v, but checkpoint %s signed %v: records were changed (run audit verify to find them)",
			latest.size, root, latest.path, latest.root)
	}
	return nil
}

// segmentsFound is what the segment files hold after recovery.
type segmentsFound struct {
	records uint64
	lastTS  time.Time
}

// recoverSegments counts the records and cuts a torn or invalid tail off
// the last segment: a partial last line (a write cut short by a crash), or
// lines that are not well-formed (blocks of a write that never completed,
// such as zeros; see decodeHeader). Such records were never acknowledged, since Append returns
// only after the sync. Earlier segments were synced whole before the next
// one was started, so only their final newline is checked here; audit
// verify reads them all.
func recoverSegments(dir string, size uint64, logger *slog.Logger) (segmentsFound, error) {
	firsts, err := listSegments(dir, size, logger)
	if err != nil || len(firsts) == 0 {
		return segmentsFound{}, err
	}
	for _, first := range firsts[:len(firsts)-1] {
		if err := checkWholeSegment(filepath.Join(dir, segmentName(first))); err != nil {
			return segmentsFound{}, err
		}
	}
	last := firsts[len(firsts)-1]
	path := filepath.Join(dir, segmentName(last))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return segmentsFound{}, fmt.Errorf("open audit segment: %w", err)
	}
	defer f.Close()
	var (
		count   uint64
		lastTS  time.Time
		invalid error // why the scan stopped before the end, if a line was bad
	)
	end, tail, err := scanLines(f, func(line []byte, _ int64) error {
		idx, ts, err := decodeHeader(line)
		if err != nil {
			invalid = fmt.Errorf("record %d: %w", last+count, err)
			return errStopScan
		}
		// A crash leaves garbage, not a well-formed line with another
		// index: that is tampering or a bug, and cutting would destroy
		// records.
		if idx != last+count || count == size {
			return fmt.Errorf("audit segment %s: line %d has idx %d", path, count, idx)
		}
		count++
		lastTS = ts
		return nil
	})
	if err != nil {
		return segmentsFound{}, err
	}
	if tail && invalid != nil {
		// A crash tears only the last batch, whose lines share one
		// timestamp, and a batch is written only after the one before it
		// was synced. Well-formed records of two batches after a bad line
		// therefore mean the bad line was acknowledged: the segment is
		// damaged, and cutting would destroy records.
		if later, err := batchesAfter(f, end); err != nil {
			return segmentsFound{}, err
		} else if later {
			return segmentsFound{}, fmt.Errorf("audit segment %s: %v, but well-formed records follow it: the segment is damaged, not torn by a crash; restore it from a backup (audit verify names the damage)", path, invalid)
		}
	}
	if tail {
		info, err := f.Stat()
		if err != nil {
			return segmentsFound{}, err
		}
		attrs := []any{"segment", path, "records", last + count, "cut_bytes", info.Size() - end}
		if invalid != nil {
			logger.Error("audit: cutting an invalid tail off the last segment", append(attrs, "reason", invalid.Error())...)
		} else {
			logger.Warn("audit: cutting a torn last line off the last segment", attrs...)
		}
		if err := f.Truncate(end); err != nil {
			return segmentsFound{}, fmt.Errorf("cut audit segment: %w", err)
		}
		if err := f.Sync(); err != nil {
			return segmentsFound{}, fmt.Errorf("cut audit segment: %w", err)
		}
	}
	return segmentsFound{records: last + count, lastTS: lastTS}, nil
}

// checkWholeSegment checks that a segment other than the last ends with a
// complete line.
func checkWholeSegment(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open audit segment: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	var b [1]byte
	if info.Size() > 0 {
		_, err = f.ReadAt(b[:], info.Size()-1)
	}
	if err != nil || b[0] != '\n' {
		return fmt.Errorf("audit segment %s is not the last one but does not end with a complete line", path)
	}
	return nil
}

// recoverHashes opens the hashes file and makes it hold exactly the stored
// hashes of n records. Hashes up to the last checkpoint (signed) were
// synced before it was signed and are kept; those after it may come from
// writes that never completed, so they are recomputed from the records, as
// is anything missing.
func recoverHashes(dir string, segSize, n, signed uint64, logger *slog.Logger) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "hashes"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit hashes: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	from := min(recordsCovered(info.Size()/tlog.HashSize, n), signed)
	keep := tlog.StoredHashCount(int64(from))
	if info.Size() != keep*tlog.HashSize {
		if err := f.Truncate(keep * tlog.HashSize); err != nil {
			f.Close()
			return nil, fmt.Errorf("cut audit hashes: %w", err)
		}
	}
	hw := hashWriter{w: f, file: hashFile{f}, count: keep}
	err = readRecords(filepath.Join(dir, "segments"), segSize, from, n, func(idx uint64, line []byte) error {
		if err := hw.add(int64(idx), line); err != nil {
			return err
		}
		if len(hw.pending) >= 1<<16 {
			return hw.flush()
		}
		return nil
	})
	if err == nil {
		err = hw.flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rebuild audit hashes: %w", err)
	}
	if from < n {
		logger.Info("audit: recomputed stored hashes", "from_record", from, "records", n)
	}
	return f, nil
}

// supersededPrefix starts the name of a directory under checkpoints/ that
// holds the checkpoints an override left behind, followed by the record
// count the log was cut to and a sequence number.
const supersededPrefix = "superseded-"

// supersede moves the checkpoints larger than records (and the latest copy,
// if it is one of them) into a new checkpoints/superseded-<records>-<k>/,
// smallest first, syncing after each move. The order matters after a
// crash: what remains is the largest, so the next open refuses again, and
// the newest superseded directory always holds the largest checkpoint.
func supersede(dir string, records uint64, keys logKeys, logger *slog.Logger) error {
	cpDir := filepath.Join(dir, "checkpoints")
	sizes, err := checkpointSizes(cpDir)
	if err != nil {
		return err
	}
	sizes = slices.DeleteFunc(sizes, func(s uint64) bool { return s <= records })
	slices.Sort(sizes)
	existing, err := supersededDirs(cpDir, records)
	if err != nil {
		return err
	}
	sub := filepath.Join(cpDir, fmt.Sprintf("%s%012d-%d", supersededPrefix, records, len(existing)+1))
	if err := os.Mkdir(sub, 0o700); err != nil {
		return fmt.Errorf("audit override: %w", err)
	}
	move := func(from, to string) error {
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("audit override: %w", err)
		}
		if err := syncDir(sub); err != nil {
			return err
		}
		return syncDir(filepath.Dir(from))
	}
	for _, s := range sizes {
		if err := move(filepath.Join(cpDir, checkpointName(s)), filepath.Join(sub, checkpointName(s))); err != nil {
			return err
		}
	}
	latest, err := readCheckpoint(filepath.Join(dir, latestName), keys.verifier, keys.signer.Name())
	if err == nil && latest.size > records {
		err = move(filepath.Join(dir, latestName), filepath.Join(sub, latestName))
	}
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	logger.Warn("audit: operator override: opened a log cut below its checkpoints",
		"records", records, "moved_checkpoints", len(sizes), "to", sub)
	return nil
}

// supersededDirs returns the superseded directories for a cut to records,
// in the order they were made.
func supersededDirs(cpDir string, records uint64) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(cpDir, fmt.Sprintf("%s%012d-*", supersededPrefix, records)))
	if err != nil {
		return nil, err
	}
	seq := func(path string) int {
		k, _ := strconv.Atoi(path[strings.LastIndexByte(path, '-')+1:])
		return k
	}
	slices.SortFunc(matches, func(a, b string) int { return seq(a) - seq(b) })
	return matches, nil
}

// pendingOverride returns the Override event to append when the log has
// exactly records records and a superseded directory for that count
// exists: the override moved checkpoints aside but its event is not in the
// log yet (it is the first record after the cut). This makes the override
// recorded even if a crash interrupts it.
func pendingOverride(dir string, records uint64, keys logKeys) (*Override, error) {
	cpDir := filepath.Join(dir, "checkpoints")
	dirs, err := supersededDirs(cpDir, records)
	if err != nil || len(dirs) == 0 {
		return nil, err
	}
	sub := dirs[len(dirs)-1]
	sizes, err := checkpointSizes(sub)
	if err != nil {
		return nil, err
	}
	var largest signedTree
	paths := []string{filepath.Join(sub, latestName)}
	for _, s := range sizes {
		paths = append(paths, filepath.Join(sub, checkpointName(s)))
	}
	for _, p := range paths {
		t, err := readCheckpoint(p, keys.verifier, keys.signer.Name())
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if t.size > largest.size {
			largest = t
		}
	}
	rel, err := filepath.Rel(dir, sub)
	if err != nil {
		return nil, err
	}
	return &Override{
		Reason:     ReasonTruncated,
		SignedSize: largest.size,
		SignedRoot: base64.StdEncoding.EncodeToString(largest.root[:]),
		Records:    records,
		Superseded: filepath.ToSlash(rel),
	}, nil
}

// appendOverride writes the override event as the first record after the
// cut and signs a checkpoint over it, before OpenLog returns.
func (l *Log) appendOverride(o Override) error {
	body, err := encodeBody(o)
	if err != nil {
		return err
	}
	r := &appendReq{body: body, done: make(chan struct{})}
	l.writeBatch([]*appendReq{r})
	if r.err != nil {
		return r.err
	}
	return l.sign()
}

// cutTo removes every record from position keep on, with the stored hashes
// past them: what a failed batch may have left on disk. Its lines may have
// been written, and may even read back from the page cache, but their sync
// failed, so they were never acknowledged and must not become records.
func cutTo(dir string, segSize, keep uint64, logger *slog.Logger) error {
	segDir := filepath.Join(dir, "segments")
	firsts, err := listSegments(segDir, segSize, logger)
	if err != nil {
		return err
	}
	for i := len(firsts) - 1; i >= 0; i-- {
		first := firsts[i]
		path := filepath.Join(segDir, segmentName(first))
		if first >= keep && !(first == 0 && keep == 0) {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("cut audit segment: %w", err)
			}
			continue
		}
		if err := cutSegment(path, keep-first); err != nil {
			return err
		}
		break
	}
	f, err := os.OpenFile(filepath.Join(dir, "hashes"), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cut audit hashes: %w", err)
	}
	defer f.Close()
	want := tlog.StoredHashCount(int64(keep)) * tlog.HashSize
	if info, err := f.Stat(); err == nil && info.Size() > want {
		if err := f.Truncate(want); err != nil {
			return fmt.Errorf("cut audit hashes: %w", err)
		}
	}
	return f.Sync()
}

// cutSegment keeps the first n lines of the segment at path.
func cutSegment(path string, n uint64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cut audit segment: %w", err)
	}
	defer f.Close()
	var kept uint64
	var at int64
	if n > 0 {
		if _, _, err := scanLines(f, func(_ []byte, end int64) error {
			kept++
			at = end
			if kept == n {
				return errStopScan
			}
			return nil
		}); err != nil {
			return fmt.Errorf("cut audit segment: %w", err)
		}
	}
	if kept != n {
		return fmt.Errorf("cut audit segment %s: it holds %d of the %d acknowledged records", path, kept, n)
	}
	if err := f.Truncate(at); err != nil {
		return fmt.Errorf("cut audit segment: %w", err)
	}
	return f.Sync()
}

// batchesAfter reports whether well-formed records of more than one batch
// (two distinct timestamps) follow the line that starts at offset at.
func batchesAfter(f *os.File, at int64) (bool, error) {
	info, err := f.Stat()
	if err != nil {
		return false, err
	}
	var seen []time.Time
	first := true
	_, _, err = scanLines(io.NewSectionReader(f, at, info.Size()-at), func(line []byte, _ int64) error {
		if first { // the bad line itself
			first = false
			return nil
		}
		if _, ts, err := decodeHeader(line); err == nil {
			if len(seen) == 0 || !ts.Equal(seen[0]) {
				seen = append(seen, ts)
			}
			if len(seen) > 1 {
				return errStopScan
			}
		}
		return nil
	})
	return len(seen) > 1, err
}
