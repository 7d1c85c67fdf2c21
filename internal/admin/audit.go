package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// AuditReader reads the audit log for the /admin/v1/audit/ routes. The
// audit log implements it (wired in cmd), so that what the API serves comes
// from the same records and the same proofs an auditor verifies.
//
// Records are the log's lines exactly, without their newline: one JSON
// object each, with "idx" its position. Proofs and checkpoints are the text
// forms of package auditverify and the signed note of the log, passed
// through unchanged so that a client can verify them offline.
//
// Every method must be safe for concurrent use. A record or size that the
// log does not hold (yet) is an error wrapping [ErrNotFound]; its message
// is shown to the client, so it must hold nothing but positions and sizes.
// Any other error is answered 500, its text logged only.
type AuditReader interface {
	// Records lists the records matching f, in log order, from position
	// f.After on, at most f.Limit of them (1 to 500; the handler always
	// sets it). Next of the answer is the decimal idx to pass as After for
	// the following page, or empty when the log holds no later record.
	Records(ctx context.Context, f AuditFilter) (List[json.RawMessage], error)
	// Record returns record idx; ErrNotFound when idx is past the end of
	// the log.
	Record(ctx context.Context, idx int64) (json.RawMessage, error)
	// InclusionProof returns the proof, in auditverify's text form, that
	// record idx is in the tree of the latest signed checkpoint;
	// ErrNotFound when no signed checkpoint covers idx yet (or idx is past
	// the end).
	InclusionProof(ctx context.Context, idx int64) (string, error)
	// Checkpoint returns the latest signed checkpoint, a signed note;
	// ErrNotFound when none has been signed yet.
	Checkpoint(ctx context.Context) ([]byte, error)
	// ConsistencyProof returns the proof, in auditverify's text form, that
	// the tree of size newSize extends that of size oldSize. The handler
	// ensures 0 ≤ oldSize ≤ newSize; ErrNotFound when newSize is larger than
	// the latest signed checkpoint.
	ConsistencyProof(ctx context.Context, oldSize, newSize int64) (string, error)
	// Subscribe returns the records written from now on, in log order, as
	// they become durable. The channel is closed when ctx is done or the
	// log closes. A subscriber that does not keep up may be dropped (its
	// channel closed) rather than slow the log down.
	Subscribe(ctx context.Context) (<-chan json.RawMessage, error)
	// Pseudonym returns the pseudonym the log records principal as, and
	// false when pseudonyms are off (principals are recorded as they are).
	Pseudonym(principal string) (string, bool)
}

// AuditFilter selects records for [AuditReader.Records]. Empty and zero
// fields select everything; the others must all match.
type AuditFilter struct {
	// Key is the key id, Principal the principal as recorded (a pseudonym
	// when pseudonyms are on), Event the event type ("authz", "usage",
	// "key.create", …) and Decision "allow" or "deny".
	Key, Principal, Event, Decision string
	// Feature selects authz records of one feature.
	Feature string
	// Since and Until bound the record time: Since ≤ ts < Until.
	Since, Until time.Time
	// After is the cursor: the position to list from, as Next of the
	// previous page gave it; 0 lists from the start.
	After int64
	// Limit is the page size, 1 to maxAuditPage.
	Limit int
}

// ErrNotFound is what an [AuditReader] wraps when the log does not hold
// what was asked for: a record past the end, a proof or checkpoint that is
// not signed yet. It is answered 404 with the error's message.
var ErrNotFound = errors.New("not found")

// maxAuditPage is the largest page of records, as for the other lists.
const maxAuditPage = apikey.MaxPageSize

// AuditEvent is the answer of GET /admin/v1/audit/events/{idx}: the record
// as the log holds it and the inclusion proof, in auditverify's text form,
// against the latest signed checkpoint. Proof is empty while no checkpoint
// covers the record yet (one is signed about every second).
type AuditEvent struct {
	Record json.RawMessage `json:"record"`
	Proof  string          `json:"proof"`
}

// PseudonymResult is the answer of GET /admin/v1/audit/pseudonym.
type PseudonymResult struct {
	Principal string `json:"principal"`
	Pseudonym string `json:"pseudonym"`
}

// auditAccess checks that the caller may read the audit log, which spans
// every tenant and so is for the admin role only, and that this server
// has one. The role comes first, so a keys:team caller learns nothing about
// how the server was built.
func auditAccess(ctx context.Context, reader AuditReader) error {
	a, err := actorFrom(ctx)
	if err != nil {
		return err
	}
	if !a.IsAdmin() {
		return apikey.ErrForbidden
	}
	if reader == nil {
		return errNotImplemented
	}
	return nil
}

// handleAuditEvents serves GET /admin/v1/audit/events: a page of records
// matching the query.
func handleAuditEvents(logger *slog.Logger, reader AuditReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auditAccess(r.Context(), reader); err != nil {
			writeError(w, r, logger, err)
			return
		}
		f, err := parseAuditFilter(r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		page, err := reader.Records(r.Context(), f)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if page.Items == nil {
			page.Items = []json.RawMessage{}
		}
		encode(w, r, logger, http.StatusOK, page)
	})
}

// handleAuditEvent serves GET /admin/v1/audit/events/{idx}: one record and
// its inclusion proof.
func handleAuditEvent(logger *slog.Logger, reader AuditReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auditAccess(r.Context(), reader); err != nil {
			writeError(w, r, logger, err)
			return
		}
		idx, err := parsePosition("idx", r.PathValue("idx"))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		rec, err := reader.Record(r.Context(), idx)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		// The record exists, so ErrNotFound here means only that no
		// checkpoint covers it yet: the record is still worth answering.
		proof, err := reader.InclusionProof(r.Context(), idx)
		if err != nil && !errors.Is(err, ErrNotFound) {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, AuditEvent{Record: rec, Proof: proof})
	})
}

// handleAuditCheckpoint serves GET /admin/v1/audit/checkpoint: the latest
// signed checkpoint as the signed note text.
func handleAuditCheckpoint(logger *slog.Logger, reader AuditReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auditAccess(r.Context(), reader); err != nil {
			writeError(w, r, logger, err)
			return
		}
		if _, err := strictQuery(r); err != nil {
			writeError(w, r, logger, err)
			return
		}
		note, err := reader.Checkpoint(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeText(w, note)
	})
}

// The query parameters of the consistency and pseudonym routes.
const (
	paramOld = "old"
	paramNew = "new"
)

// handleAuditConsistency serves GET /admin/v1/audit/consistency?old=N&new=M:
// the proof that the tree of size M extends that of size N, as text.
func handleAuditConsistency(logger *slog.Logger, reader AuditReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auditAccess(r.Context(), reader); err != nil {
			writeError(w, r, logger, err)
			return
		}
		oldSize, newSize, err := parseSizes(r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		proof, err := reader.ConsistencyProof(r.Context(), oldSize, newSize)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeText(w, []byte(proof))
	})
}

// parseSizes reads the two tree sizes of a consistency request.
func parseSizes(r *http.Request) (oldSize, newSize int64, err error) {
	values, err := strictQuery(r, paramOld, paramNew)
	if err != nil {
		return 0, 0, err
	}
	for _, name := range []string{paramOld, paramNew} {
		if values.Get(name) == "" {
			return 0, 0, badRequest(name, "required: a tree size, as in a checkpoint")
		}
	}
	if oldSize, err = parseSize(paramOld, values.Get(paramOld)); err != nil {
		return 0, 0, err
	}
	if newSize, err = parseSize(paramNew, values.Get(paramNew)); err != nil {
		return 0, 0, err
	}
	if oldSize > newSize {
		return 0, 0, badRequest(paramOld, "larger than new; a tree can only grow")
	}
	return oldSize, newSize, nil
}

func parseSize(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest(name, "must be a tree size: a whole number, 0 or more")
	}
	return n, nil
}

// handleAuditPseudonym serves GET /admin/v1/audit/pseudonym?principal=ID:
// the pseudonym the log records a principal as, so investigators can
// search for a known principal when the log records only pseudonyms.
func handleAuditPseudonym(logger *slog.Logger, reader AuditReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auditAccess(r.Context(), reader); err != nil {
			writeError(w, r, logger, err)
			return
		}
		values, err := strictQuery(r, paramPrincipal)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		id := values.Get(paramPrincipal)
		switch {
		case id == "":
			writeError(w, r, logger, badRequest(paramPrincipal, "required: the principal id to look up"))
			return
		case !apikey.ValidPrincipalID(apikey.PrincipalID(id)):
			writeError(w, r, logger, badRequest(paramPrincipal, "is not a valid principal id"))
			return
		}
		p, ok := reader.Pseudonym(id)
		if !ok {
			writeError(w, r, logger, errPseudonymsOff)
			return
		}
		encode(w, r, logger, http.StatusOK, PseudonymResult{Principal: id, Pseudonym: p})
	})
}

// errPseudonymsOff answers a pseudonym lookup on a log that records
// principals as they are.
var errPseudonymsOff = fmt.Errorf("pseudonyms are off; the log records principals as they are, so search by the principal id: %w", ErrNotFound)

// writeText answers b, a text document such as a signed note or a proof,
// with 200.
func writeText(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
