package auditverify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"
)

// VerifyOptions are the optional inputs of Verify.
type VerifyOptions struct {
	// Prev is an older signed checkpoint the auditor kept from an earlier
	// verification, or nil. The log must extend the tree it signed: this
	// is what catches a history rewritten and re-signed by someone who
	// holds the signing key.
	Prev []byte
}

// Report summarises a log that verified.
type Report struct {
	// Records is the number of records in the log.
	Records int64
	// CheckpointSize is the size of the latest signed checkpoint: the
	// largest of the checkpoint file and the checkpoints/ files.
	CheckpointSize int64
	// Origin names the log, as its checkpoints do.
	Origin string
	// Uncovered counts the records after the latest checkpoint. They were
	// checked for form only: nothing signed covers them yet.
	Uncovered int64
	// CheckpointsChecked counts the files in checkpoints/ that were
	// checked against the records (the checkpoint file is always checked).
	CheckpointsChecked int
}

// VerifyError says why a log does not verify. Errors of other types mean
// that verification could not be carried out (a file could not be read).
type VerifyError struct {
	// Position is the 0-based position of the first bad record, or the
	// first position it may be at (see Verify), or -1 when no record is
	// to blame (a checkpoint's signature, a previous checkpoint).
	Position int64
	// Reason names what is wrong, for people.
	Reason string
}

func (e *VerifyError) Error() string { return "audit log does not verify: " + e.Reason }

// recordError returns a *VerifyError blaming the record at pos.
func recordError(pos int64, format string, args ...any) error {
	return &VerifyError{Position: pos, Reason: fmt.Sprintf(format, args...)}
}

// Verify checks the audit log at path — a log directory, a gateway data
// directory, an export directory or a .tar.gz export — against vkey, the
// verifier key the auditor trusts, and returns a *VerifyError naming the
// first problem found. It reads every record once, in order:
//
//   - each record must be a well-formed version 1 line whose idx is its
//     position (a deleted, inserted or swapped record fails here);
//   - the tree is recomputed from the records, and every signed checkpoint
//     (the checkpoint file and each file in checkpoints/) must verify with
//     vkey and have the root of the tree at its size;
//   - the log must hold every record a checkpoint signed (truncation);
//   - opts.Prev, if given, must be consistent with the latest checkpoint.
//
// # Precision of the first bad position
//
// A record whose line is wrong for its position is named exactly: a
// deleted record at its position ("record 17: idx is 18"), a swap at the
// first of the pair, a line that is not a v1 event where it is. (A
// well-formed record inserted with the idx of its position is blamed one
// place later, on the record it pushed down.)
//
// A record edited into another well-formed one is found through the
// roots. The smallest checkpoint whose root differs bounds it from above,
// and the largest smaller one, which matched, from below. Within that
// interval the log directory's hashes file, where present, names it
// exactly: each leaf hash read there is first proved against the failing
// checkpoint's signed root with tlog.CheckRecord, so a hashes file that was
// edited too costs precision, never correctness. Without usable hashes (an
// export carries none) Position is the start of the interval and Reason
// names the interval; checkpoints are signed about every second, so that is
// about a second of records.
//
// Records are checked in order and the first failure is returned, so a
// content edit lying after the last matching checkpoint but before a
// malformed line is reported as that line.
func Verify(ctx context.Context, path, vkey string, opts VerifyOptions) (Report, error) {
	lg, err := openLog(ctx, path)
	if err != nil {
		return Report{}, err
	}
	defer lg.Close()

	cks, err := loadCheckpoints(lg, vkey)
	if err != nil {
		return Report{}, err
	}
	latest := cks[len(cks)-1]
	var prev *Checkpoint
	var want []int64
	if opts.Prev != nil {
		p, err := loadPrev(opts.Prev, vkey, latest.Size)
		if err != nil {
			return Report{}, err
		}
		prev = &p
		// Keep, while reading, the hashes the consistency proof will need.
		if want, err = neededHashes(func(r tlog.HashReader) error { _, err := proveTree(latest.Size, p.Size, r); return err }); err != nil {
			return Report{}, err
		}
	}

	t := newTree(want)
	n, bad, err := checkRecords(ctx, lg, t, cks)
	if err != nil {
		return Report{}, err
	}
	if bad >= 0 {
		return Report{}, mismatchError(ctx, lg, cks, bad)
	}
	if n < latest.Size {
		return Report{}, &VerifyError{Position: n, Reason: truncatedReason(n, latest.Size)}
	}
	if prev != nil {
		if err := checkConsistent(*prev, latest.Checkpoint, t); err != nil {
			return Report{}, err
		}
	}
	return Report{
		Records:            n,
		CheckpointSize:     latest.Size,
		Origin:             latest.Origin,
		Uncovered:          n - latest.Size,
		CheckpointsChecked: len(cks) - 1,
	}, nil
}

// checkRecords reads the records into t, checking each line and, as the
// tree reaches each checkpoint's size, its root. It stops at the first
// problem: a bad line is returned as a *VerifyError, and a root mismatch
// as the index in cks of the checkpoint that failed (bad is -1 if none).
func checkRecords(ctx context.Context, lg *logDir, t *tree, cks []namedCheckpoint) (n int64, bad int, err error) {
	next := 0
	checkDue := func() error {
		for ; next < len(cks) && cks[next].Size == t.n; next++ {
			root, err := t.root()
			if err != nil {
				return err
			}
			if root != cks[next].Root {
				return errStop
			}
		}
		return nil
	}
	err = checkDue()
	if err == nil {
		n, err = lg.records(ctx, -1, func(pos int64, line []byte) error {
			if err := checkLine(line, pos); err != nil {
				return err
			}
			if err := t.add(tlog.RecordHash(line)); err != nil {
				return err
			}
			return checkDue()
		})
	}
	if errors.Is(err, errStop) {
		return t.n, next, nil
	}
	return n, -1, err
}

// mismatchError returns the *VerifyError for checkpoint cks[bad], whose
// root differs from the records' tree while all smaller checkpoints
// matched.
func mismatchError(ctx context.Context, lg *logDir, cks []namedCheckpoint, bad int) error {
	ck := cks[bad]
	if ck.Size == 0 {
		return &VerifyError{Position: -1, Reason: ck.file + ": a checkpoint of size 0 with a root other than the empty tree's"}
	}
	// The records below the largest smaller checkpoint are known good.
	var from int64
	for _, c := range cks[:bad] {
		if c.Size < ck.Size {
			from = c.Size
		}
	}
	return locateMismatch(ctx, lg, from, ck.Checkpoint)
}

// loadPrev verifies the auditor's previous checkpoint, which cannot be
// newer than the latest one.
func loadPrev(signed []byte, vkey string, latestSize int64) (Checkpoint, error) {
	p, err := ParseCheckpoint(signed, vkey)
	if err != nil {
		return Checkpoint{}, &VerifyError{Position: -1, Reason: "previous checkpoint: " + err.Error()}
	}
	if p.Size > latestSize {
		return Checkpoint{}, &VerifyError{Position: -1, Reason: fmt.Sprintf(
			"previous checkpoint (size %d) is newer than the latest (size %d): the log was rolled back", p.Size, latestSize)}
	}
	return p, nil
}

// errStop ends a walk over the records early; the reason is kept aside.
var errStop = errors.New("stop")

// namedCheckpoint is a checkpoint with the file it came from.
type namedCheckpoint struct {
	Checkpoint
	file string
}

// loadCheckpoints reads and verifies the checkpoint file and every file in
// checkpoints/, and returns them in order of size, the checkpoint file
// last among those of its size (so the latest is the last).
func loadCheckpoints(lg *logDir, vkey string) ([]namedCheckpoint, error) {
	if err := checkVerifierKey(vkey); err != nil {
		return nil, err
	}
	raw, err := readSmallFile(lg.path(latestFile))
	if err != nil {
		return nil, &VerifyError{Position: -1, Reason: fmt.Sprintf("no signed checkpoint to verify against: %v", err)}
	}
	latest, err := ParseCheckpoint(raw, vkey)
	if err != nil {
		return nil, &VerifyError{Position: -1, Reason: err.Error()}
	}
	files, err := lg.listNumbered(checkpointsDir, ".note")
	if err != nil {
		return nil, err
	}
	var cks []namedCheckpoint
	for _, f := range files {
		raw, err := readSmallFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.name, err)
		}
		ck, err := ParseCheckpoint(raw, vkey)
		if err != nil {
			return nil, &VerifyError{Position: -1, Reason: f.name + ": " + err.Error()}
		}
		if ck.Size != f.n {
			return nil, &VerifyError{Position: -1, Reason: fmt.Sprintf("%s: holds a checkpoint of size %d", f.name, ck.Size)}
		}
		cks = append(cks, namedCheckpoint{ck, f.name})
	}
	cks = append(cks, namedCheckpoint{latest, latestFile})
	slices.SortStableFunc(cks, func(a, b namedCheckpoint) int { return cmp.Compare(a.Size, b.Size) })
	return cks, nil
}

// checkConsistent checks that the tree prev signed is a prefix of the one
// latest signed, with a consistency proof built from t, which holds the
// records' tree at latest's size and the hashes the proof needs.
func checkConsistent(prev, latest Checkpoint, t *tree) error {
	p, err := proveTree(latest.Size, prev.Size, t)
	if err != nil {
		return err
	}
	if checkTree(p, latest.Size, latest.Root, prev.Size, prev.Root) != nil {
		return &VerifyError{Position: -1, Reason: fmt.Sprintf(
			"previous checkpoint (size %d) is not consistent with the latest (size %d): history was rewritten", prev.Size, latest.Size)}
	}
	return nil
}

// truncatedReason describes a log of n records missing the records up to
// the signed size.
func truncatedReason(n, size int64) string {
	missing := fmt.Sprintf("records %d–%d are missing", n, size-1)
	if n == size-1 {
		missing = fmt.Sprintf("record %d is missing", n)
	}
	return fmt.Sprintf("log has %d records but checkpoint %d was signed: %s (truncated)", n, size, missing)
}
