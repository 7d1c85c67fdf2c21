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
//     position (a deleted, inserted or swapped record fails here, at its
//     exact position);
//   - the tree is recomputed from the records, and every signed checkpoint
//     (the checkpoint file and each file in checkpoints/) must verify with
//     vkey and have the root of the tree at its size;
//   - the log must hold every record a checkpoint signed (truncation);
//   - opts.Prev, if given, must be consistent with the latest checkpoint.
//
// # Precision of the first bad position
//
// A malformed record is named exactly. A record edited into another
// well-formed one is found through the roots: the smallest checkpoint whose
// root differs bounds it, and the largest one below that matches bounds it
// from below. Within that interval the log directory's hashes file, where
// present, names it exactly: each leaf hash read there is first proved
// against the failing checkpoint's signed root with tlog.CheckRecord, so a
// hashes file edited too costs precision, never correctness. Without
// usable hashes (an export carries none) Position is the start of the
// interval and Reason names the interval. Checkpoints are usually signed
// every second, so the interval is at most one second of records.
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
		p, err := ParseCheckpoint(opts.Prev, vkey)
		if err != nil {
			return Report{}, &VerifyError{Position: -1, Reason: "previous checkpoint: " + err.Error()}
		}
		if p.Size > latest.Size {
			return Report{}, &VerifyError{Position: -1, Reason: fmt.Sprintf(
				"previous checkpoint (size %d) is newer than the latest (size %d): the log was rolled back", p.Size, latest.Size)}
		}
		prev = &p
		if want, err = neededHashes(func(r tlog.HashReader) error { _, err := proveTree(latest.Size, p.Size, r); return err }); err != nil {
			return Report{}, err
		}
	}

	// Read the records, checking each checkpoint as the tree reaches its
	// size, and stop at the first problem.
	t := newTree(want)
	next := 0
	var mismatch *namedCheckpoint
	checkDue := func() error {
		for ; next < len(cks) && cks[next].Size == t.n; next++ {
			root, err := t.root()
			if err != nil {
				return err
			}
			if root != cks[next].Root {
				mismatch = &cks[next]
				return errStop
			}
		}
		return nil
	}
	if err := checkDue(); err != nil && !errors.Is(err, errStop) {
		return Report{}, err
	}
	var n int64
	if mismatch == nil {
		n, err = lg.records(ctx, -1, func(pos int64, line []byte) error {
			if err := checkLine(line, pos); err != nil {
				return err
			}
			if err := t.add(tlog.RecordHash(line)); err != nil {
				return err
			}
			return checkDue()
		})
		if err != nil && !errors.Is(err, errStop) {
			return Report{}, err
		}
	}
	if mismatch != nil {
		var from int64
		if i := slices.IndexFunc(cks, func(c namedCheckpoint) bool { return c.Size == mismatch.Size }); i > 0 {
			from = cks[i-1].Size
		}
		return Report{}, locateMismatch(ctx, lg, from, mismatch.Checkpoint)
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
