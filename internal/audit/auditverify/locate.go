package auditverify

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

// locateMismatch returns the *VerifyError for a log whose records below
// from are known good (a smaller checkpoint matched them) but whose tree at
// ck.Size does not have ck's root: some record in [from, ck.Size) is not
// the one that was signed. It names that record as precisely as the hashes
// file allows (see Verify).
func locateMismatch(ctx context.Context, lg *logDir, from int64, ck Checkpoint) error {
	pos, exact, err := firstBadRecord(ctx, lg, from, ck)
	if err != nil {
		return err
	}
	if exact || pos == ck.Size-1 {
		return recordError(pos, "record %d does not match the checkpoint (tree root differs at size %d)", pos, ck.Size)
	}
	reason := fmt.Sprintf("a record in %d–%d does not match the checkpoint (tree root differs at size %d", pos, ck.Size-1, ck.Size)
	if pos > 0 {
		reason += fmt.Sprintf("; records 0–%d match", pos-1)
	}
	return &VerifyError{Position: pos, Reason: reason + ")"}
}

// firstBadRecord walks the records in [from, ck.Size) and compares each
// one's leaf hash with the leaf hash the hashes file holds for it, once
// that is proved against ck's signed root. The first proved leaf that
// differs is the first bad record (exact). The first leaf that cannot be
// proved ends the search: the bad record is at or after it. Records
// before from are not rechecked.
func firstBadRecord(ctx context.Context, lg *logDir, from int64, ck Checkpoint) (pos int64, exact bool, err error) {
	hints, err := os.Open(lg.path(hashesFile))
	if err != nil {
		// No hints (an export has none): the interval is all there is.
		return from, false, nil
	}
	defer hints.Close()
	r := hashFile{hints}
	pos = from
	_, err = lg.records(ctx, ck.Size, func(i int64, line []byte) error {
		if i < from {
			return nil
		}
		signed, ok := r.provenLeaf(i, ck)
		if !ok {
			return errStop
		}
		if tlog.RecordHash(line) != signed {
			exact = true
			return errStop
		}
		pos = i + 1
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, false, err
	}
	if pos >= ck.Size {
		// Every leaf matched what was signed, so a record before from must
		// differ after all (a smaller checkpoint matched by chance is not
		// possible; be safe rather than wrong).
		return from, false, nil
	}
	return pos, exact, nil
}

// hashFile reads tlog stored hashes from the writer's hashes file: hash i
// at offset 32*i. Nothing read from it is believed until proved.
type hashFile struct{ f *os.File }

func (h hashFile) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if _, err := h.f.ReadAt(out[i][:], x*tlog.HashSize); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// provenLeaf returns the leaf hash of record i that ck signed, read from
// the file and proved by an inclusion proof read from the same file, or
// false if the file cannot prove it.
func (h hashFile) provenLeaf(i int64, ck Checkpoint) (tlog.Hash, bool) {
	leaf, err := h.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
	if err != nil {
		return tlog.Hash{}, false
	}
	p, err := tlog.ProveRecord(ck.Size, i, h)
	if err != nil || tlog.CheckRecord(p, ck.Size, ck.Root, i, leaf[0]) != nil {
		return tlog.Hash{}, false
	}
	return leaf[0], true
}
