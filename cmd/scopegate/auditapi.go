package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/audit/auditverify"
)

// auditAPI serves the admin API's audit routes from the running log: it
// reads records from the segment files (the log's own durable output) and
// builds proofs with the same offline code an auditor runs.
//
// Queries scan the segments; a query index is the next step for large
// logs (see docs/audit.md).
type auditAPI struct {
	log          *audit.Log
	dir          string
	pseudonymKey []byte
	// poll is how often a stream looks for new records.
	poll time.Duration
}

var _ admin.AuditReader = (*auditAPI)(nil)

func newAuditAPI(s *stack) *auditAPI {
	return &auditAPI{log: s.audit, dir: s.dir.Join("audit"), pseudonymKey: s.privacy().PseudonymKey, poll: 200 * time.Millisecond}
}

// fields are the record fields a filter looks at.
type fields struct {
	Event     string `json:"event"`
	TS        string `json:"ts"`
	Idx       int64  `json:"idx"`
	Key       string `json:"key"`
	Principal string `json:"principal"`
	Target    string `json:"target"`
	Decision  string `json:"decision"`
}

func matches(f admin.AuditFilter, v fields) bool {
	if f.Event != "" && v.Event != f.Event || f.Decision != "" && v.Decision != f.Decision ||
		f.Principal != "" && v.Principal != f.Principal || f.Key != "" && v.Key != f.Key && v.Target != f.Key {
		return false
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		ts, err := time.Parse(time.RFC3339Nano, v.TS)
		if err != nil || ts.Before(f.Since) || (!f.Until.IsZero() && !ts.Before(f.Until)) {
			return false
		}
	}
	return true
}

// scan calls fn with every record at or after idx from, in order.
func (a *auditAPI) scan(ctx context.Context, from int64, fn func(line []byte, v fields) error) error {
	segs, err := listSegments(a.dir)
	if err != nil {
		return err
	}
	for i, seg := range segs {
		if i+1 < len(segs) && int64(segs[i+1].first) <= from {
			continue // the whole segment is before from
		}
		_, err := scanSegment(seg.path, 0, func(line []byte, _ int64) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var v fields
			if err := json.Unmarshal(line, &v); err != nil {
				return fmt.Errorf("audit record after %d is not JSON: %w", from, err)
			}
			if v.Idx < from {
				return nil
			}
			return fn(line, v)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Records lists records matching f, from f.After on.
func (a *auditAPI) Records(ctx context.Context, f admin.AuditFilter) (admin.List[json.RawMessage], error) {
	out := admin.List[json.RawMessage]{Items: []json.RawMessage{}}
	err := a.scan(ctx, f.After, func(line []byte, v fields) error {
		if !matches(f, v) {
			return nil
		}
		if len(out.Items) == f.Limit {
			out.Next = fmt.Sprint(v.Idx)
			return errStopScan
		}
		out.Items = append(out.Items, json.RawMessage(append([]byte(nil), line...)))
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return admin.List[json.RawMessage]{}, err
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
			err := a.scan(ctx, next, func(line []byte, v fields) error {
				select {
				case ch <- append(json.RawMessage(nil), line...):
					next = v.Idx + 1
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil {
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
