package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/audit/auditverify"
	"github.com/scopegate/scopegate/internal/store/auditindex"
)

// auditAPI serves the admin API's audit routes from the running log: it
// reads records from the segment files (the log's own durable output) and
// builds proofs with the same offline code an auditor runs.
//
// Queries go through a query index (auditindex) in the log directory,
// opened on first use and brought up to date from the segments before each
// query; the index is derived and never used for proofs. The caller must
// Close the auditAPI once the admin server has stopped.
type auditAPI struct {
	log          *audit.Log
	dir          string
	pseudonymKey []byte
	// poll is how often a stream looks for new records.
	poll time.Duration

	mu    sync.Mutex
	index *auditindex.Index // nil until the first query
}

// auditIndexFile is the query index's file in the log directory.
const auditIndexFile = "index.db"

var _ admin.AuditReader = (*auditAPI)(nil)

func newAuditAPI(s *stack) *auditAPI {
	return &auditAPI{log: s.audit, dir: s.dir.Join("audit"), pseudonymKey: s.privacy().PseudonymKey, poll: 200 * time.Millisecond}
}

// fields are the record fields the reader looks at.
type fields struct {
	Idx int64
}

// scan calls fn with every durable record at or after idx from, in order.
func (a *auditAPI) scan(ctx context.Context, from int64, fn func(line []byte, v fields) error) error {
	var pos scanPos
	return a.scanFrom(ctx, &pos, from, fn)
}

// scanPos is where a scan stopped: a segment and a byte offset in it, so
// the next scan (a stream's next poll) reads only what was written since.
type scanPos struct {
	seg uint64
	off int64
}

// scanFrom is scan starting at pos, which it moves past every line it read.
func (a *auditAPI) scanFrom(ctx context.Context, pos *scanPos, from int64, fn func(line []byte, v fields) error) error {
	segs, err := listSegments(a.dir)
	if err != nil {
		return err
	}
	// Only durable records: a line past the log's size may be a batch
	// still being synced, or one whose sync fails and which is then cut.
	durable := int64(math.MaxInt64)
	if a.log != nil {
		durable = int64(a.log.Size())
	}
	// scanSegment ends on errStopScan without an error; stopped keeps the
	// following segments from being read.
	stopped := false
	for i, seg := range segs {
		if seg.first < pos.seg || (i+1 < len(segs) && int64(segs[i+1].first) <= from) {
			continue // before the position, or wholly before from
		}
		off := int64(0)
		if seg.first == pos.seg {
			off = pos.off
		}
		end, err := scanSegment(seg.path, off, func(line []byte, _ int64) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			idx, _, err := audit.DecodeHeader(line)
			if err != nil {
				return fmt.Errorf("audit record after %d: %w", from, err)
			}
			v := fields{Idx: int64(idx)}
			if v.Idx < from {
				return nil
			}
			if v.Idx >= durable {
				stopped = true
				return errStopScan
			}
			err = fn(line, v)
			stopped = errors.Is(err, errStopScan)
			return err
		})
		if err != nil {
			return err
		}
		*pos = scanPos{seg: seg.first, off: end}
		if stopped {
			return errStopScan
		}
	}
	return nil
}

// openIndex returns the query index, opening it on first use. A failed
// open is tried again by the next query.
func (a *auditAPI) openIndex(ctx context.Context) (*auditindex.Index, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.index == nil {
		ix, err := auditindex.Open(ctx, filepath.Join(a.dir, auditIndexFile))
		if err != nil {
			return nil, err
		}
		a.index = ix
	}
	return a.index, nil
}

// Close closes the query index, if a query opened it.
func (a *auditAPI) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.index == nil {
		return nil
	}
	err := a.index.Close()
	a.index = nil
	return err
}

// Records lists records matching f, from f.After on: the index finds their
// positions, then the lines are read from the segments.
func (a *auditAPI) Records(ctx context.Context, f admin.AuditFilter) (admin.List[json.RawMessage], error) {
	ix, err := a.openIndex(ctx)
	if err != nil {
		return admin.List[json.RawMessage]{}, err
	}
	err = ix.CatchUp(ctx, func(from int64, fn func(line []byte) error) error {
		return a.scan(ctx, from, func(line []byte, _ fields) error { return fn(line) })
	})
	if err != nil {
		return admin.List[json.RawMessage]{}, err
	}
	idxs, next, err := ix.Query(ctx, auditindex.Filter{Key: f.Key, Principal: f.Principal, Event: f.Event,
		Decision: f.Decision, Feature: f.Feature, Since: f.Since, Until: f.Until, After: f.After, Limit: f.Limit})
	if err != nil {
		return admin.List[json.RawMessage]{}, err
	}
	out := admin.List[json.RawMessage]{Items: []json.RawMessage{}}
	if next >= 0 {
		out.Next = fmt.Sprint(next)
	}
	if len(idxs) == 0 {
		return out, nil
	}
	err = a.scan(ctx, idxs[0], func(line []byte, v fields) error {
		if v.Idx != idxs[len(out.Items)] {
			return nil
		}
		out.Items = append(out.Items, json.RawMessage(append([]byte(nil), line...)))
		if len(out.Items) == len(idxs) {
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return admin.List[json.RawMessage]{}, err
	}
	if len(out.Items) != len(idxs) {
		return admin.List[json.RawMessage]{}, fmt.Errorf("the audit index lists record %d, which the log does not hold; delete %s to rebuild it",
			idxs[len(out.Items)], filepath.Join(a.dir, auditIndexFile))
	}
	return out, nil
}

// Record returns record idx.
func (a *auditAPI) Record(ctx context.Context, idx int64) (json.RawMessage, error) {
	var rec json.RawMessage
	err := a.scan(ctx, idx, func(line []byte, v fields) error {
		rec = append(json.RawMessage(nil), line...)
		return errStopScan
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("record %d is past the end of the log: %w", idx, admin.ErrNotFound)
	}
	return rec, nil
}

// latest returns the latest signed checkpoint, verified with the log's own
// key.
func (a *auditAPI) latest() (auditverify.Checkpoint, error) {
	cp, err := auditverify.LatestCheckpoint(a.dir, a.log.VerifierKey())
	if err != nil {
		return auditverify.Checkpoint{}, err
	}
	return cp, nil
}

// InclusionProof proves record idx against the latest checkpoint.
func (a *auditAPI) InclusionProof(ctx context.Context, idx int64) (string, error) {
	cp, err := a.latest()
	if err != nil {
		return "", fmt.Errorf("no signed checkpoint yet: %w", admin.ErrNotFound)
	}
	if idx >= cp.Size {
		return "", fmt.Errorf("record %d is not covered by checkpoint %d yet: %w", idx, cp.Size, admin.ErrNotFound)
	}
	p, err := auditverify.ProveInclusion(a.dir, idx, cp)
	if err != nil {
		return "", err
	}
	text, err := p.MarshalText()
	return string(text), err
}

// Checkpoint returns the latest signed checkpoint.
func (a *auditAPI) Checkpoint(context.Context) ([]byte, error) {
	b, err := a.log.Checkpoint()
	if errors.Is(err, audit.ErrNoCheckpoint) {
		return nil, fmt.Errorf("no signed checkpoint yet: %w", admin.ErrNotFound)
	}
	return b, err
}

// ConsistencyProof proves that the tree of size newSize extends the tree
// of size oldSize.
func (a *auditAPI) ConsistencyProof(_ context.Context, oldSize, newSize int64) (string, error) {
	cp, err := a.latest()
	if err != nil {
		return "", fmt.Errorf("no signed checkpoint yet: %w", admin.ErrNotFound)
	}
	if newSize > cp.Size {
		return "", fmt.Errorf("size %d is past the latest checkpoint %d: %w", newSize, cp.Size, admin.ErrNotFound)
	}
	p, err := auditverify.ProveConsistency(a.dir, oldSize, newSize)
	if err != nil {
		return "", err
	}
	text, err := p.MarshalText()
	return string(text), err
}

// Subscribe sends every record written from now on, until ctx is done.
// The goroutine it starts belongs to the subscriber's request.
func (a *auditAPI) Subscribe(ctx context.Context) (<-chan json.RawMessage, error) {
	ch := make(chan json.RawMessage, 64)
	next := int64(a.log.Size())
	var pos scanPos // each poll reads only what was written since the last
	go func() {
		defer close(ch)
		t := time.NewTicker(a.poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := a.scanFrom(ctx, &pos, next, func(line []byte, v fields) error {
				select {
				case ch <- append(json.RawMessage(nil), line...):
					next = v.Idx + 1
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil && !errors.Is(err, errStopScan) {
				return
			}
		}
	}()
	return ch, nil
}

// Pseudonym returns the pseudonym data-plane events record for principal.
func (a *auditAPI) Pseudonym(principal string) (string, bool) {
	if len(a.pseudonymKey) == 0 {
		return "", false
	}
	return audit.Pseudonym(a.pseudonymKey, principal), true
}
